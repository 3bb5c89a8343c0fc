package memfile

import (
	"errors"
	"io"
	"sync"
)

// File is a growable byte slice behind the storage.File interface.
type File struct {
	mu     sync.Mutex
	data   []byte
	closed bool
	Syncs  int // number of Sync calls
	Writes int // number of WriteAt calls
}

// New returns a file holding a copy of data.
func New(data []byte) *File { return &File{data: append([]byte(nil), data...)} }

// Bytes returns a copy of the contents.
func (f *File) Bytes() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]byte(nil), f.data...)
}

func (f *File) ReadAt(p []byte, off int64) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if off < 0 {
		return 0, errors.New("memfile: negative offset")
	}
	if off >= int64(len(f.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *File) WriteAt(p []byte, off int64) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if off < 0 {
		return 0, errors.New("memfile: negative offset")
	}
	f.Writes++
	if end := off + int64(len(p)); end > int64(len(f.data)) {
		if end > int64(cap(f.data)) {
			nd := make([]byte, end, max(end, 2*int64(cap(f.data))))
			copy(nd, f.data)
			f.data = nd
		} else {
			f.data = f.data[:end]
		}
	}
	return copy(f.data[off:], p), nil
}

func (f *File) Size() (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return int64(len(f.data)), nil
}

func (f *File) Truncate(size int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if size < 0 {
		return errors.New("memfile: negative size")
	}
	if size <= int64(len(f.data)) {
		clear(f.data[size:])
		f.data = f.data[:size]
		return nil
	}
	nd := make([]byte, size)
	copy(nd, f.data)
	f.data = nd
	return nil
}

func (f *File) Sync() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Syncs++
	return nil
}

func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}
