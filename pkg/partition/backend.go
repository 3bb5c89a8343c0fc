package partition

import (
	"errors"
	"io"
	"io/fs"
	"time"
)

// diskFile adapts an io.ReaderAt of known size to the backend.File that
// go-diskfs reads partition tables from. Reads never go past size, and the
// byte range [maskOff, maskOff+maskLen) reads as zeros: Read uses it to
// hide a damaged primary GPT header so that go-diskfs takes the backup.
type diskFile struct {
	r       io.ReaderAt
	size    int64
	pos     int64
	maskOff int64
	maskLen int64
}

var errDiskFileWhence = errors.New("partition: invalid seek whence")

func (d *diskFile) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, ErrOutsideDisk
	}
	if off >= d.size {
		return 0, io.EOF
	}
	want := len(p)
	if rest := d.size - off; int64(want) > rest {
		p = p[:rest]
	}
	n, err := d.r.ReadAt(p, off)
	if n == len(p) {
		err = nil
	}
	if d.maskLen > 0 {
		lo, hi := max(off, d.maskOff), min(off+int64(n), d.maskOff+d.maskLen)
		for i := lo; i < hi; i++ {
			p[i-off] = 0
		}
	}
	if err == nil && n < want {
		err = io.EOF
	}
	return n, err
}

func (d *diskFile) Read(p []byte) (int, error) {
	n, err := d.ReadAt(p, d.pos)
	d.pos += int64(n)
	return n, err
}

func (d *diskFile) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += d.pos
	case io.SeekEnd:
		offset += d.size
	default:
		return 0, errDiskFileWhence
	}
	if offset < 0 {
		return 0, errDiskFileWhence
	}
	d.pos = offset
	return offset, nil
}

func (d *diskFile) Close() error { return nil }

func (d *diskFile) Stat() (fs.FileInfo, error) { return diskInfo{d.size}, nil }

type diskInfo struct{ size int64 }

func (i diskInfo) Name() string       { return "disk" }
func (i diskInfo) Size() int64        { return i.size }
func (i diskInfo) Mode() fs.FileMode  { return 0o400 }
func (i diskInfo) ModTime() time.Time { return time.Time{} }
func (i diskInfo) IsDir() bool        { return false }
func (i diskInfo) Sys() any           { return nil }
