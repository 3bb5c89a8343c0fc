package clone

import "github.com/imgprep/imgprep/pkg/image"

// Template protection lives in pkg/image, below pkg/sysprep, so that
// sysprep.Run protects a template by default; these names keep clone's
// API.

// TemplateError names the linked clones that use an image.
type TemplateError = image.TemplateError

// Index finds linked clones (image.CloneIndex).
type Index = image.CloneIndex

// NewIndex returns an empty Index.
func NewIndex() *Index { return image.NewCloneIndex() }

// BackingName returns the backing file name recorded in the header of
// the qcow2 image at path (image.BackingName).
func BackingName(path string) (name string, ok bool) { return image.BackingName(path) }
