package storage

import (
	"errors"

	"golang.org/x/sys/unix"
)

// SeekData returns the offset of the first byte at or after off that is
// data (not in a hole), as lseek(2) SEEK_DATA; past the last data it
// returns the file's size. The file's position is not used by any other
// method (they are pread/pwrite), so this is safe alongside them. A
// filesystem without SEEK_DATA fails it (EINVAL or EOPNOTSUPP wrapped in
// a *PathError); callers then take the whole file for data.
func (o *OSFile) SeekData(off int64) (int64, error) {
	return o.seek(off, unix.SEEK_DATA)
}

// SeekHole returns the offset of the first hole at or after off, as
// lseek(2) SEEK_HOLE (the file's size counts as a hole).
func (o *OSFile) SeekHole(off int64) (int64, error) {
	return o.seek(off, unix.SEEK_HOLE)
}

func (o *OSFile) seek(off int64, whence int) (int64, error) {
	if o.closed.Load() {
		return 0, &PathError{Op: "seek", Name: o.name, Err: ErrClosed}
	}
	size, err := o.Size()
	if err != nil {
		return 0, err
	}
	if off >= size {
		return size, nil
	}
	pos, err := o.f.Seek(off, whence)
	switch {
	case errors.Is(err, unix.ENXIO):
		// SEEK_DATA past the last data.
		return size, nil
	case err != nil:
		return 0, &PathError{Op: "seek", Name: o.name, Err: err}
	}
	return pos, nil
}

// PunchHole deallocates n bytes at off, keeping the file's size, as
// fallocate(2) FALLOC_FL_PUNCH_HOLE: the range then reads as zeros and
// takes no space. A filesystem without hole punching fails it.
func (o *OSFile) PunchHole(off, n int64) error {
	if err := o.writable("punch"); err != nil {
		return err
	}
	if err := unix.Fallocate(int(o.f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n); err != nil {
		return &PathError{Op: "punch", Name: o.name, Err: err}
	}
	return nil
}
