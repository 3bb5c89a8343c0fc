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

// Lstat implements fs.ReadTree.
func (f *FS) Lstat(p string) (fs.Attr, error) {
	n, err := f.lookup("lstat", p)
	if err != nil {
		return fs.Attr{}, err
	}
	return f.attr(n), nil
}

// Stat implements fs.ReadTree; FAT has no symlinks, so it is Lstat.
func (f *FS) Stat(p string) (fs.Attr, error) {
	n, err := f.lookup("stat", p)
	if err != nil {
		return fs.Attr{}, err
	}
	return f.attr(n), nil
}

// ReadDir implements fs.ReadTree.
func (f *FS) ReadDir(p string) ([]fs.DirEntry, error) {
	n, err := f.lookup("readdir", p)
	if err != nil {
		return nil, err
	}
	if !n.isDir() {
		return nil, perr("readdir", p, fs.ErrNotDir)
	}
	ents, err := f.list(n)
	if err != nil {
		return nil, perr("readdir", p, err)
	}
	out := make([]fs.DirEntry, 0, len(ents))
	for _, e := range ents {
		t := fs.TypeRegular
		if e.isDir() {
			t = fs.TypeDir
		}
		out = append(out, fs.DirEntry{Name: e.name, Ino: uint64(e.off), Type: t})
	}
	return out, nil
}

// file is an open regular file: its clusters, bounded by its size.
type file struct {
	f        *FS
	clusters []uint32
	size     int64
	pos      int64
}

// Open implements fs.ReadTree.
func (f *FS) Open(p string) (fs.File, error) {
	n, err := f.lookup("open", p)
	if err != nil {
		return nil, err
	}
	if n.isDir() {
		return nil, perr("open", p, fs.ErrIsDir)
	}
	fl := &file{f: f, size: n.size}
	if n.size == 0 {
		return fl, nil
	}
	need := (n.size + f.clusterSize - 1) / f.clusterSize
	if need > int64(f.clusterCount) {
		return nil, perr("open", p, corrupt(n.off+28, "DIR_FileSize", ErrCorrupt, "%d bytes, the filesystem has %d clusters", n.size, f.clusterCount))
	}
	fl.clusters, err = f.chain(n.cluster, need)
	if err != nil {
		return nil, perr("open", p, err)
	}
	if int64(len(fl.clusters)) < need {
		return nil, perr("open", p, corrupt(n.off+28, "DIR_FileSize", ErrCorrupt, "%d bytes in a chain of %d clusters", n.size, len(fl.clusters)))
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

// ReadFile implements fs.ReadTree.
func (f *FS) ReadFile(p string) ([]byte, error) {
	fl, err := f.Open(p)
	if err != nil {
		return nil, err
	}
	b := make([]byte, fl.Size())
	if _, err := fl.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, perr("read", p, err)
	}
	return b, nil
}

// Readlink implements fs.ReadTree: FAT has no symlinks.
func (f *FS) Readlink(p string) (string, error) {
	if _, err := f.lookup("readlink", p); err != nil {
		return "", err
	}
	return "", perr("readlink", p, fs.ErrNotSymlink)
}

// Xattrs implements fs.ReadTree: FAT has no extended attributes.
func (f *FS) Xattrs(p string) (map[string][]byte, error) {
	if _, err := f.lookup("xattrs", p); err != nil {
		return nil, err
	}
	return map[string][]byte{}, nil
}
