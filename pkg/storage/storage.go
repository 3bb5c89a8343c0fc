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

// Sparse is a File that can tell where its holes are and make new ones:
// *OSFile on a regular file. Data and holes follow lseek(2) SEEK_DATA and
// SEEK_HOLE; PunchHole frees a range, which then reads as zeros.
type Sparse interface {
	SeekData(off int64) (int64, error)
	SeekHole(off int64) (int64, error)
	PunchHole(off, n int64) error
}

// Dir is the directory-level access the transaction layer needs for its
// rollback journal: creating, opening and removing a file by path, and
// making a directory's entries durable. OSDir is the real one; a
// fault-injecting test double wraps it so that these steps count as
// operations a simulated power loss can interrupt.
type Dir interface {
	// Create makes a new, empty file at path, failing if one exists,
	// and opens it for reading and writing.
	Create(path string) (File, error)
	// Open opens the existing file at path for reading and writing. A
	// missing file gives an error satisfying errors.Is(err, fs.ErrNotExist).
	Open(path string) (File, error)
	// Remove deletes the file at path. A missing file gives an error
	// satisfying errors.Is(err, fs.ErrNotExist).
	Remove(path string) error
	// SyncDir makes the entries of the directory holding path durable,
	// as fsync(2) on the directory.
	SyncDir(path string) error
}
