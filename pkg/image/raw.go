package image

import (
	"fmt"
	"io"

	"github.com/imgprep/imgprep/pkg/storage"
)

// rawDisk is a raw image: the file's bytes are the virtual disk, whose
// size is the file's size at open. It never grows.
type rawDisk struct {
	f        storage.File
	size     int64
	readOnly bool
}

func (r *rawDisk) ReadAt(p []byte, off int64) (int, error) {
	return readClamped(r.f, r.size, p, off)
}

func (r *rawDisk) WriteAt(p []byte, off int64) (int, error) {
	if r.readOnly {
		return 0, ErrReadOnly
	}
	if off < 0 || off > r.size || int64(len(p)) > r.size-off {
		return 0, fmt.Errorf("%w: write of %d bytes at %d, the disk has %d bytes", ErrOutOfRange, len(p), off, r.size)
	}
	return r.f.WriteAt(p, off)
}

func (r *rawDisk) Size() int64  { return r.size }
func (r *rawDisk) Flush() error { return nil }
func (r *rawDisk) Close() error { return nil }

// readClamped reads from r as from a disk of size bytes: io.EOF at and
// past the end, a short read with io.EOF across it.
func readClamped(r io.ReaderAt, size int64, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("%w: read at negative offset %d", ErrOutOfRange, off)
	}
	if off >= size {
		return 0, io.EOF
	}
	want := len(p)
	if rest := size - off; int64(want) > rest {
		p = p[:rest]
	}
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		err = nil
		if n < want {
			err = io.EOF
		}
	}
	return n, err
}
