// Package storage is imgprep's bottom layer: the host file that holds an
// image. Everything above it (the transaction layer, the image formats)
// reads and writes through the File interface, so that a transaction, a
// fault-injecting test double or an in-memory file can stand in for the
// real one.
package storage

import "io"

// File is random-access storage of a known, changeable length.
type File interface {
	io.ReaderAt
	io.WriterAt
	// Size returns the current length in bytes.
	Size() (int64, error)
	// Truncate sets the length, as ftruncate(2).
	Truncate(size int64) error
	// Sync makes every completed write durable, as fsync(2).
	Sync() error
	Close() error
}
