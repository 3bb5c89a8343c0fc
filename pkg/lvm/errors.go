package lvm

import (
	"errors"
	"fmt"
)

// Sentinel errors, wrapped with detail (see FormatError); test them with
// errors.Is.
var (
	ErrNoLabel       = errors.New("lvm: no LVM2 label")
	ErrBadLabel      = errors.New("lvm: invalid LVM2 label")
	ErrBadMDA        = errors.New("lvm: invalid metadata area")
	ErrChecksum      = errors.New("lvm: checksum mismatch")
	ErrNoMetadata    = errors.New("lvm: no valid metadata")
	ErrSyntax        = errors.New("lvm: metadata syntax error")
	ErrLimit         = errors.New("lvm: metadata exceeds a limit")
	ErrBadMetadata   = errors.New("lvm: invalid volume group metadata")
	ErrMissingPV     = errors.New("lvm: physical volume missing")
	ErrDuplicatePV   = errors.New("lvm: physical volume found twice")
	ErrUnsupported   = errors.New("lvm: unsupported logical volume")
	ErrOutsideVolume = errors.New("lvm: access outside the logical volume")
	ErrNoSpace       = errors.New("lvm: metadata area too small")
)

// FormatError reports a bad on-disk structure and where it is.
type FormatError struct {
	Offset int64  // byte offset of the structure on the PV device
	What   string // "label", "metadata area header", "metadata text"
	Err    error  // a sentinel, possibly wrapping a detail
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("%s at byte %d: %v", e.What, e.Offset, e.Err)
}

func (e *FormatError) Unwrap() error { return e.Err }

func formatErr(off int64, what string, sentinel error, format string, args ...any) error {
	return &FormatError{Offset: off, What: what, Err: fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)}
}
