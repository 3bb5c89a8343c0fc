package vfat

import (
	"github.com/imgprep/imgprep/pkg/fs"
)

// engine is the fs.WriteEngine of an FS: its inode-level steps. An inode
// number is the byte offset of the file's short directory entry (Linux's
// i_pos); the root directory, which has none, is 1. FAT has no symlinks,
// hard links, special files, owners or permissions, and this package
// creates and renames nothing: those changes fail with an error wrapping
// fs.ErrInvalid, changing nothing.
type engine struct{ *FS }

var _ fs.WriteEngine = engine{}

func (e engine) Root() fs.Ino { return 1 }

func (e engine) Lookup(dir fs.Ino, name string) (fs.Ino, fs.Attr, error) {
	_, n, err := e.child(dir, name)
	if err != nil {
		return 0, fs.Attr{}, err
	}
	return fs.Ino(n.off), e.attr(n), nil
}

func (e engine) Stat(ino fs.Ino) (fs.Attr, error) {
	n, err := e.entry(int64(ino))
	if err != nil {
		return fs.Attr{}, err
	}
	return e.attr(n), nil
}

func (e engine) Readlink(ino fs.Ino) (string, error) {
	if _, err := e.entry(int64(ino)); err != nil {
		return "", err
	}
	return "", fs.ErrNotSymlink
}

// ReadDir lists a directory in on-disk order. A FAT directory is at most
// 2 MiB (65536 entries), read whole.
func (e engine) ReadDir(dir fs.Ino, fn func(fs.DirEntry) bool) error {
	d, err := e.dirNode(dir)
	if err != nil {
		return err
	}
	ents, err := e.list(d)
	if err != nil {
		return err
	}
	for _, n := range ents {
		t := fs.TypeRegular
		if n.isDir() {
			t = fs.TypeDir
		}
		if !fn(fs.DirEntry{Name: n.name, Ino: uint64(n.off), Type: t}) {
			break
		}
	}
	return nil
}

func (e engine) OpenFile(ino fs.Ino) (fs.File, error) {
	n, err := e.entry(int64(ino))
	if err != nil {
		return nil, err
	}
	return e.open(n)
}

// Xattrs returns no attributes: FAT has none.
func (e engine) Xattrs(ino fs.Ino) (map[string][]byte, error) {
	if _, err := e.entry(int64(ino)); err != nil {
		return nil, err
	}
	return map[string][]byte{}, nil
}

func (e engine) WriteFile(dir fs.Ino, name string, data []byte, opts fs.WriteOptions) error {
	if err := e.writable(); err != nil {
		return err
	}
	return e.writeFile(dir, name, data, opts)
}

func (e engine) Remove(dir fs.Ino, name string) error {
	if err := e.writable(); err != nil {
		return err
	}
	return e.removeEntry(dir, name, false)
}

func (e engine) RemoveAll(dir fs.Ino, name string) error {
	if err := e.writable(); err != nil {
		return err
	}
	return e.removeEntry(dir, name, true)
}

func (e engine) Truncate(ino fs.Ino, size int64) error {
	if err := e.writable(); err != nil {
		return err
	}
	n, err := e.entry(int64(ino))
	if err != nil {
		return err
	}
	return e.truncate(n, size)
}

func (e engine) Setattr(ino fs.Ino, c fs.AttrChange) error {
	if err := e.writable(); err != nil {
		return err
	}
	n, err := e.entry(int64(ino))
	if err != nil {
		return err
	}
	return e.setattr(n, c)
}

func (e engine) Mkdir(fs.Ino, string, uint32, fs.Owner) error { return e.unsupported() }

func (e engine) Symlink(fs.Ino, string, string, fs.Owner) error { return e.unsupported() }

func (e engine) Rename(fs.Ino, string, fs.Ino, string) error { return e.unsupported() }

func (e engine) unsupported() error {
	if err := e.writable(); err != nil {
		return err
	}
	return errNotSupported
}
