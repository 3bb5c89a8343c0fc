package image

import (
	"errors"

	"github.com/imgprep/imgprep/pkg/storage"
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

	ErrBackingOutsideTree   = errors.New("image: outside the directory trees allowed for backing files")
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

// Error says only why: the qcow2 image that records the name reports it
// as `backing file "NAME": ...`, and the caller names the image.
func (e *BackingError) Error() string { return trimPrefix(e.Err.Error()) }

func (e *BackingError) Unwrap() error { return e.Err }

// Error is an error of Open: Image names the image once, Err says why
// without naming it again.
type Error struct {
	Image string // the path given to Open
	Err   error
}

func (e *Error) Error() string {
	if pe, ok := e.Err.(*storage.PathError); ok && pe.Name == e.Image {
		return e.Image + ": " + pe.Reason()
	}
	if iu, ok := e.Err.(*storage.InUseError); ok && iu.Name == e.Image {
		return e.Image + ": " + iu.Reason()
	}
	return e.Image + ": " + trimPrefix(e.Err.Error())
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// trimPrefix drops a leading "image: " so that messages name the package
// once.
func trimPrefix(s string) string {
	const p = "image: "
	if len(s) >= len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}
