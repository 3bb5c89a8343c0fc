package storage

import "errors"

// Errors, matched with errors.Is. The errors returned carry the image's
// name and the reason (see InUseError and PathError).
var (
	// ErrInUse means another process (QEMU, qemu-nbd, qemu-img, another
	// imgprep) holds the image's locks in a way that forbids our access.
	ErrInUse = errors.New("storage: image is in use")
	// ErrReadOnly means the image cannot be written: the host file or
	// its filesystem is read-only, or it was opened without Write.
	ErrReadOnly = errors.New("storage: image is read-only")
	// ErrNotRegular means the path is neither a regular file nor a block
	// device.
	ErrNotRegular = errors.New("storage: not a regular file or block device")
	// ErrLockUnsupported means the host filesystem refuses OFD locks, so
	// writing cannot be made safe against a concurrent QEMU.
	ErrLockUnsupported = errors.New("storage: host filesystem does not support image locks")
	// ErrForceShareWrite means OpenOptions asked for both Write and
	// ForceShare: only a reader may ignore another process's locks.
	ErrForceShareWrite = errors.New("storage: force-share opens are read-only")
	// ErrClosed means the file was used after Close.
	ErrClosed = errors.New("storage: file already closed")
)

// PathError records an error and the file it concerns, for errors other
// than ErrInUse: "storage: open disk.img for writing: image is read-only:
// permission denied".
type PathError struct {
	Op   string // "open", "create", "lock", ...
	Name string // the image's name as given in OpenOptions.Name, or its path
	Err  error  // a sentinel above, possibly wrapping the system error
}

func (e *PathError) Error() string {
	return "storage: " + e.Op + " " + e.Name + ": " + trimPrefix(e.Err.Error())
}
func (e *PathError) Unwrap() error { return e.Err }

// Reason is Error without the package and the file's name, for a caller
// that names the file itself: "open for writing: image is read-only:
// permission denied"; a plain open's failure is just its cause ("no such
// file or directory").
func (e *PathError) Reason() string {
	if e.Op == "open" {
		return trimPrefix(e.Err.Error())
	}
	return e.Op + ": " + trimPrefix(e.Err.Error())
}

// trimPrefix drops a leading "storage: " so that messages name the
// package once.
func trimPrefix(s string) string {
	const p = "storage: "
	if len(s) >= len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}

// wrapped joins a sentinel with the system error that caused it, so that
// errors.Is matches both.
type wrapped struct {
	sentinel error
	cause    error
}

func (w *wrapped) Error() string   { return w.sentinel.Error() + ": " + w.cause.Error() }
func (w *wrapped) Unwrap() []error { return []error{w.sentinel, w.cause} }
