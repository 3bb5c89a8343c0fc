package image

import (
	"errors"
	"fmt"
)

// Sentinel errors, wrapped with the image's name and the reason; test
// them with errors.Is.
var (
	ErrUnknownFormat = errors.New("image: unknown image format")
	ErrReadOnly      = errors.New("image: image is opened read-only")
	ErrDryRun        = errors.New("image: dry run, nothing may be committed")
	ErrOutOfRange    = errors.New("image: access beyond the virtual disk")
	ErrFinished      = errors.New("image: handle already committed, discarded or closed")
	ErrJournalLeft   = errors.New("image: an interrupted imgprep run left a journal")

	ErrBackingOutsideTree   = errors.New("image: backing file lies outside the allowed directory trees")
	ErrBackingProtocol      = errors.New("image: backing file names a protocol, not a local file")
	ErrBackingFormatUnknown = errors.New("image: backing file format is not recorded or not supported")
	ErrBackingLoop          = errors.New("image: backing chain loops")
	ErrBackingTooDeep       = errors.New("image: backing chain is too deep")
	ErrBackingNotRegular    = errors.New("image: backing file is not a regular file")
)

// BackingError reports a backing file refused by the host-safety policy
// or failing to open.
type BackingError struct {
	Image   string // the image naming the backing file
	Backing string // the name as the image records it
	Err     error  // a sentinel above, possibly wrapping a detail
}

func (e *BackingError) Error() string {
	return fmt.Sprintf("image: %s: backing file %q: %v", e.Image, e.Backing, trimPrefix(e.Err.Error()))
}

func (e *BackingError) Unwrap() error { return e.Err }

// trimPrefix drops a leading "image: " so that messages name the package
// once.
func trimPrefix(s string) string {
	const p = "image: "
	if len(s) >= len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}
