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
