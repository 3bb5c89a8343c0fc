package clone

import (
	"errors"

	"github.com/imgprep/imgprep/pkg/image"
)

// Sentinel errors, wrapped with the clone or image they concern; test
// them with errors.Is.
var (
	ErrMode       = errors.New("clone: unknown clone mode (want linked or full)")
	ErrFormat     = errors.New("clone: unsupported output format")
	ErrDestExists = errors.New("clone: destination already exists")
	// ErrTemplateBusy: another process (a running VM) has the template
	// open for writing; a clone of it would catch it mid-write.
	ErrTemplateBusy = errors.New("clone: the template is open for writing by another process")
	// ErrTemplateInUse: the image is the backing file of linked clones,
	// and writing it would corrupt every one of them.
	// It is image.ErrTemplateInUse.
	ErrTemplateInUse = image.ErrTemplateInUse

	ErrHostname   = errors.New("clone: invalid host name")
	ErrMachineID  = errors.New("clone: invalid machine ID (want 32 lower-case hexadecimal characters, not all zeros)")
	ErrPattern    = errors.New("clone: pattern must contain {n}")
	ErrNotRegular = errors.New("clone: not a regular file")
)
