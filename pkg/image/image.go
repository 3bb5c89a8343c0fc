// Package image opens a VM disk image file in any supported format and
// presents its virtual disk as an Image. The format is detected by content
// (the qcow2 magic means qcow2, anything else is raw) unless the caller
// forces it; once a file is treated as raw its content is never probed
// again.
package image

import "io"

// Image is a virtual disk: a fixed-size array of bytes that can be read
// and, when opened for writing, written. Raw and qcow2 images both satisfy
// it.
type Image interface {
	io.ReaderAt
	io.WriterAt
	// Size is the virtual disk size in bytes.
	Size() int64
	// Flush makes every completed write durable in the image file.
	Flush() error
	Close() error
}
