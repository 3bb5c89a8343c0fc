package vfat

import (
	"errors"
	"fmt"
	"io"

	"github.com/imgprep/imgprep/pkg/fs"
)

// Compile-time check: *FS is a pkg/fs filesystem.
var _ fs.FS = (*FS)(nil)

func (f *FS) attr(n *node) fs.Attr {
	a := fs.Attr{Ino: uint64(n.off), Nlink: 1, Size: n.size, Atime: n.atime, Mtime: n.mtime, Ctime: n.mtime, Crtime: n.crtime}
	// Linux's defaults with umask 022: rwxr-xr-x, minus write for
	// ATTR_RO files.
	a.Mode = fs.ModeRegular | 0o755
	if n.isDir() {
		a.Mode, a.Nlink = fs.ModeDir|0o755, 2
	} else if n.attr&AttrReadOnly != 0 {
		a.Mode = fs.ModeRegular | 0o555
	}
	return a
}

// file is an open regular file: its clusters, bounded by its size.
type file struct {
	f        *FS
	clusters []uint32
	size     int64
	pos      int64
}

// open opens the file of node n.
func (f *FS) open(n *node) (*file, error) {
	if n.isDir() {
		return nil, fs.ErrIsDir
	}
	fl := &file{f: f, size: n.size}
	if n.size == 0 {
		return fl, nil
	}
	need := (n.size + f.clusterSize - 1) / f.clusterSize
	if need > int64(f.clusterCount) {
		return nil, corrupt(n.off+28, "DIR_FileSize", ErrCorrupt, "%d bytes, the filesystem has %d clusters", n.size, f.clusterCount)
	}
	var err error
	fl.clusters, err = f.chain(n.cluster, need)
	if err != nil {
		return nil, err
	}
	if int64(len(fl.clusters)) < need {
		return nil, corrupt(n.off+28, "DIR_FileSize", ErrCorrupt, "%d bytes in a chain of %d clusters", n.size, len(fl.clusters))
	}
	return fl, nil
}

func (fl *file) Size() int64  { return fl.size }
func (fl *file) Close() error { return nil }

func (fl *file) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fs.ErrInvalid
	}
	n := 0
	for n < len(p) {
		pos := off + int64(n)
		if pos >= fl.size {
			return n, io.EOF
		}
		ci, within := pos/fl.f.clusterSize, pos%fl.f.clusterSize
		chunk := min(int64(len(p)-n), fl.f.clusterSize-within, fl.size-pos)
		got, err := fl.f.r.ReadAt(p[n:n+int(chunk)], fl.f.clusterOffset(fl.clusters[ci])+within)
		n += got
		if err != nil && !(errors.Is(err, io.EOF) && int64(got) == chunk) {
			return n, fmt.Errorf("vfat: reading cluster %d: %w", fl.clusters[ci], err)
		}
	}
	return n, nil
}

func (fl *file) Read(p []byte) (int, error) {
	n, err := fl.ReadAt(p, fl.pos)
	fl.pos += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// readAll reads the whole file of node n.
func (f *FS) readAll(n *node) ([]byte, error) {
	fl, err := f.open(n)
	if err != nil {
		return nil, err
	}
	b := make([]byte, fl.Size())
	if _, err := fl.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return b, nil
}
