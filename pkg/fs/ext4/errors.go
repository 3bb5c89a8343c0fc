package ext4

import (
	"errors"
	"fmt"
)

// Sentinel errors. Errors returned by this package wrap them with %w and
// context; test them with errors.Is.
var (
	// ErrNotExt is returned by Open when the superblock magic is wrong.
	ErrNotExt = errors.New("ext4: not an ext2/3/4 filesystem")
	// ErrCorrupt is wrapped by every *CorruptError.
	ErrCorrupt = errors.New("ext4: corrupt filesystem")
	// ErrChecksum is wrapped (with ErrCorrupt) when a metadata checksum
	// does not match.
	ErrChecksum = errors.New("ext4: checksum mismatch")
	// ErrUnknownFeature: the superblock has a feature bit this package
	// does not know. Unknown incompat bits prevent reading, unknown
	// ro_compat bits prevent writing.
	ErrUnknownFeature = errors.New("ext4: unknown feature")
	// ErrUnsupportedFeature: a known feature this package cannot handle
	// for the requested access; the error names the feature.
	ErrUnsupportedFeature = errors.New("ext4: unsupported feature")
	// ErrNeedsRecovery: the journal holds transactions not yet replayed.
	ErrNeedsRecovery = errors.New("ext4: needs journal recovery")
	// ErrErrorState: the kernel marked the filesystem as having errors.
	ErrErrorState = errors.New("ext4: filesystem has errors")
	// ErrNotClean: the superblock's state lacks "cleanly unmounted": the
	// filesystem is mounted (the kernel clears the flag at mount when
	// there is no journal) or was not unmounted cleanly.
	ErrNotClean = errors.New("ext4: filesystem was not cleanly unmounted")
	// ErrOrphansPresent: inodes are on the orphan list or in the orphan
	// file, waiting for the kernel to finish deleting them.
	ErrOrphansPresent = errors.New("ext4: orphan inodes present")
	// ErrReadOnly: a write method was called on a filesystem opened with
	// Open, or one OpenWritable refused. It also satisfies
	// errors.Is(err, fs.ErrReadOnly).
	ErrReadOnly = errors.New("ext4: filesystem opened read-only")
)

// CorruptError reports a structure on disk that breaks the format's rules.
// It unwraps to ErrCorrupt (and to ErrChecksum for a checksum mismatch).
type CorruptError struct {
	// Offset is the byte offset of the bad structure from the start of
	// the filesystem, -1 if unknown.
	Offset int64
	// Structure names it: "superblock", "group descriptor 3", "inode 12",
	// "extent node", "directory block".
	Structure string
	// Reason says what is wrong with it.
	Reason string
	// Checksum is true when the problem is a checksum mismatch.
	Checksum bool
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("ext4: corrupt %s at byte %d: %s", e.Structure, e.Offset, e.Reason)
}

// Unwrap returns ErrCorrupt, plus ErrChecksum for a checksum mismatch.
func (e *CorruptError) Unwrap() []error {
	if e.Checksum {
		return []error{ErrCorrupt, ErrChecksum}
	}
	return []error{ErrCorrupt}
}

func corrupt(off int64, structure, format string, args ...any) error {
	return &CorruptError{Offset: off, Structure: structure, Reason: fmt.Sprintf(format, args...)}
}

func badChecksum(off int64, structure string, got, want uint32) error {
	return &CorruptError{Offset: off, Structure: structure, Checksum: true,
		Reason: fmt.Sprintf("checksum 0x%08x, computed 0x%08x", got, want)}
}

// RefusalError is the refusal to write a filesystem that is unsafe to
// write, or opened read-only. It reads as one line, "refusing to write:
// ext4 on partition 2 needs journal recovery", and unwraps to the
// sentinels saying why (ErrNeedsRecovery, ErrOrphansPresent, ...,
// fs.ErrReadOnly for a write method on a read-only FS) and the cause.
type RefusalError struct {
	// Name is the filesystem's name (Options.Name).
	Name string
	// Reason completes the sentence: "needs journal recovery".
	Reason string
	// Err are the sentinels and causes it unwraps to.
	Err []error
}

func (e *RefusalError) Error() string { return "refusing to write: " + e.Name + " " + e.Reason }

// Unwrap returns the sentinels and causes.
func (e *RefusalError) Unwrap() []error { return e.Err }

func refusal(reason string, errs ...error) *RefusalError {
	return &RefusalError{Reason: reason, Err: errs}
}
