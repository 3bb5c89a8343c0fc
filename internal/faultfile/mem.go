package faultfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync"

	"github.com/imgprep/imgprep/pkg/storage"
)

// Errors returned by Mem.
var (
	ErrNegativeOffset = errors.New("faultfile: negative offset")
	ErrNegativeSize   = errors.New("faultfile: negative size")
	ErrTooLarge       = errors.New("faultfile: in-memory file would exceed its limit")
)

// MaxMemSize bounds the length of a Mem, so that a bad offset in a test
// cannot ask for all of the machine's memory.
const MaxMemSize = 1 << 32

// Mem is an in-memory storage.File. The zero value is an empty file. It is
// safe for concurrent use. Close does nothing, so a test can still read a
// Mem after the code under test closed it.
type Mem struct {
	mu   sync.RWMutex
	data []byte
}

var _ storage.File = (*Mem)(nil)

// NewMem returns a Mem holding a copy of data.
func NewMem(data []byte) *Mem {
	return &Mem{data: append([]byte(nil), data...)}
}

// Bytes returns a copy of the file's contents.
func (m *Mem) Bytes() []byte {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return append([]byte(nil), m.data...)
}

// ReadAt reads as os.File.ReadAt does: io.EOF when p reaches past the end.
func (m *Mem) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, ErrNegativeOffset
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if off >= int64(len(m.data)) {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	n := copy(p, m.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// WriteAt writes p at off, extending the file (with zeros in any gap).
func (m *Mem) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, ErrNegativeOffset
	}
	end := off + int64(len(p))
	if end > MaxMemSize || end < off {
		return 0, fmt.Errorf("%w: write of %d bytes at offset %d", ErrTooLarge, len(p), off)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if end > int64(len(m.data)) {
		m.grow(end)
	}
	copy(m.data[off:], p)
	return len(p), nil
}

// grow extends data to n bytes of which the new ones are zero. The caller
// holds the lock.
func (m *Mem) grow(n int64) {
	if n <= int64(cap(m.data)) {
		old := len(m.data)
		m.data = m.data[:n]
		clear(m.data[old:])
		return
	}
	nd := make([]byte, n, max(n, 2*int64(cap(m.data))))
	copy(nd, m.data)
	m.data = nd
}

// Size returns the length.
func (m *Mem) Size() (int64, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return int64(len(m.data)), nil
}

// Truncate sets the length; growing fills with zeros.
func (m *Mem) Truncate(size int64) error {
	if size < 0 {
		return ErrNegativeSize
	}
	if size > MaxMemSize {
		return fmt.Errorf("%w: truncate to %d bytes", ErrTooLarge, size)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if size <= int64(len(m.data)) {
		m.data = m.data[:size]
		return nil
	}
	m.grow(size)
	return nil
}

// Sync does nothing: memory is as durable as a Mem gets.
func (m *Mem) Sync() error { return nil }

// Close does nothing; the Mem stays readable.
func (m *Mem) Close() error { return nil }

// MemDir is an in-memory storage.Dir: a flat map from path to Mem. Open
// returns the same Mem every time, so what one opener writes the next one
// reads. It is safe for concurrent use.
type MemDir struct {
	mu    sync.Mutex
	files map[string]*Mem
}

var _ storage.Dir = (*MemDir)(nil)

// NewMemDir returns an empty MemDir.
func NewMemDir() *MemDir { return &MemDir{files: map[string]*Mem{}} }

// Create makes a new empty Mem at path; fs.ErrExist if one is there.
func (d *MemDir) Create(path string) (storage.File, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.files[path]; ok {
		return nil, &fs.PathError{Op: "create", Path: path, Err: fs.ErrExist}
	}
	m := &Mem{}
	d.files[path] = m
	return m, nil
}

// Open returns the Mem at path; fs.ErrNotExist if there is none.
func (d *MemDir) Open(path string) (storage.File, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	m, ok := d.files[path]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: path, Err: fs.ErrNotExist}
	}
	return m, nil
}

// Remove deletes path; fs.ErrNotExist if there is nothing there.
func (d *MemDir) Remove(path string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.files[path]; !ok {
		return &fs.PathError{Op: "remove", Path: path, Err: fs.ErrNotExist}
	}
	delete(d.files, path)
	return nil
}

// SyncDir does nothing.
func (d *MemDir) SyncDir(string) error { return nil }

// File returns the Mem at path, for a test to inspect or to set up.
func (d *MemDir) File(path string) (*Mem, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	m, ok := d.files[path]
	return m, ok
}

// Put places m at path, replacing what was there.
func (d *MemDir) Put(path string, m *Mem) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.files[path] = m
}

// Names returns the paths present, in no particular order.
func (d *MemDir) Names() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	names := make([]string, 0, len(d.files))
	for n := range d.files {
		names = append(names, n)
	}
	return names
}
