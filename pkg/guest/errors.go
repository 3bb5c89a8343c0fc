package guest

import (
	"errors"
	"fmt"

	"github.com/imgprep/imgprep/pkg/fs"
)

// Sentinel errors; test them with errors.Is.
var (
	// ErrUnsupportedFS: a path lies on a filesystem imgprep has no engine
	// for (xfs, btrfs, vfat, ...). It is wrapped by an *UnsupportedError
	// that reads "xfs mounted at /var: imgprep cannot read or write xfs".
	ErrUnsupportedFS = errors.New("guest: unsupported filesystem")
	// ErrUnresolvedMount: a path lies under a mount point whose fstab
	// source names no filesystem on this disk.
	ErrUnresolvedMount = errors.New("guest: fstab source names no filesystem on this disk")
	// ErrNoGuest: no filesystem on the disk holds a guest root (/etc/fstab
	// and an os-release).
	ErrNoGuest = errors.New("guest: no guest root found")
	// ErrMountPoint: removing or renaming a mount point, or a directory
	// holding one, which the guest's kernel would refuse with EBUSY.
	ErrMountPoint = errors.New("guest: mount point in use")
	// ErrRelativePath: guest paths are absolute.
	ErrRelativePath = fs.ErrRelativePath
	// ErrTooLarge: a configuration file is larger than any real one.
	ErrTooLarge = errors.New("guest: file too large")
)

// UnsupportedError reports a path on a filesystem without an engine.
type UnsupportedError struct {
	Type  string // "xfs"
	Point string // where the guest mounts it: "/var"
	Why   string // "imgprep cannot read or write xfs"
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("%s mounted at %s: %s", e.Type, e.Point, e.Why)
}

// Unwrap returns ErrUnsupportedFS.
func (e *UnsupportedError) Unwrap() error { return ErrUnsupportedFS }

// UnresolvedError reports a path under a mount point whose fstab source
// names no filesystem on the disks. It matches ErrUnresolvedMount.
type UnresolvedError struct {
	Unresolved
}

func (e *UnresolvedError) Error() string {
	return fmt.Sprintf("%s (fstab source %s): %s: %v", e.Point, e.Spec, e.Reason, ErrUnresolvedMount)
}

// Unwrap returns ErrUnresolvedMount.
func (e *UnresolvedError) Unwrap() error { return ErrUnresolvedMount }

// ReadOnlyError reports a change to a path on a filesystem imgprep opened
// read-only. It matches fs.ErrReadOnly and, for an engine's refusal, the
// refusal's sentinels (ext4.ErrOrphansPresent, ext4.ErrNeedsRecovery, ...).
type ReadOnlyError struct {
	Path  string // the guest path
	FS    string // "ext4 on partition 2"
	Point string // where the guest mounts it
	// Reason is the engine's refusal, completing "ext4 on partition 2
	// ...": "has orphan inodes"; empty for another cause, said in Why.
	Reason string
	Why    string
	Cause  error
}

func (e *ReadOnlyError) Error() string {
	if e.Reason != "" {
		return e.FS + " mounted at " + e.Point + " " + e.Reason + ": imgprep does not write it"
	}
	return e.FS + " mounted at " + e.Point + " is read-only (" + e.Why + ")"
}

// Unwrap returns fs.ErrReadOnly and the engine's refusal.
func (e *ReadOnlyError) Unwrap() []error {
	if e.Cause == nil {
		return []error{fs.ErrReadOnly}
	}
	return []error{fs.ErrReadOnly, e.Cause}
}

// PathError is the error of one guest operation on one guest path (FS
// "guest").
type PathError = fs.PathError

// ProbeError reports a filesystem signature whose header is malformed, with
// the byte offset of the header on the disk.
type ProbeError struct {
	Offset int64  // byte offset of the structure on the disk
	What   string // "xfs superblock"
	Err    error
}

func (e *ProbeError) Error() string {
	return fmt.Sprintf("guest: %s at byte %d: %v", e.What, e.Offset, e.Err)
}

// Unwrap returns the underlying error.
func (e *ProbeError) Unwrap() error { return e.Err }
