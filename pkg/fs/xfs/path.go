package xfs

import (
	"fmt"

	"github.com/imgprep/imgprep/pkg/fs"
)

// engine is the inode-level fs.Engine over an FS; the FS's embedded
// fs.Tree resolves paths with it.
type engine struct{ f *FS }

var (
	_ fs.Engine        = engine{}
	_ fs.CycleReporter = engine{}
	_ fs.FS            = (*FS)(nil)
)

// Root returns the root directory's inode number.
func (e engine) Root() fs.Ino { return fs.Ino(e.f.sb.RootIno) }

// Lookup finds name in directory dir by its hash.
func (e engine) Lookup(dir fs.Ino, name string) (fs.Ino, fs.Attr, error) {
	in, err := e.f.readInode(uint64(dir))
	if err != nil {
		return 0, fs.Attr{}, err
	}
	de, err := e.f.lookup(in, name)
	if err != nil {
		return 0, fs.Attr{}, err
	}
	child, err := e.f.readInode(de.ino)
	if err != nil {
		return 0, fs.Attr{}, err
	}
	return fs.Ino(de.ino), e.f.attr(child), nil
}

// Stat describes inode ino.
func (e engine) Stat(ino fs.Ino) (fs.Attr, error) {
	in, err := e.f.readInode(uint64(ino))
	if err != nil {
		return fs.Attr{}, err
	}
	return e.f.attr(in), nil
}

// Readlink returns the target of symlink ino.
func (e engine) Readlink(ino fs.Ino) (string, error) {
	in, err := e.f.readInode(uint64(ino))
	if err != nil {
		return "", err
	}
	return e.f.readlink(in)
}

// ReadDir calls fn for every entry of directory dir but "." and "..",
// one directory block at a time.
func (e engine) ReadDir(dir fs.Ino, fn func(fs.DirEntry) bool) error {
	in, err := e.f.readInode(uint64(dir))
	if err != nil {
		return err
	}
	return e.f.eachEntry(in, func(d dirent) bool {
		if d.name == "." || d.name == ".." {
			return true
		}
		return fn(fs.DirEntry{Name: d.name, Ino: d.ino, Type: ftypeOf(d.ftype)})
	})
}

// OpenFile opens regular file ino.
func (e engine) OpenFile(ino fs.Ino) (fs.File, error) {
	in, err := e.f.readInode(uint64(ino))
	if err != nil {
		return nil, err
	}
	return e.f.openInode(in)
}

// Xattrs returns every extended attribute of inode ino.
func (e engine) Xattrs(ino fs.Ino) (map[string][]byte, error) {
	in, err := e.f.readInode(uint64(ino))
	if err != nil {
		return nil, err
	}
	return e.f.xattrs(in)
}

// DirCycle reports a directory entry leading back above itself as
// corruption.
func (e engine) DirCycle(dir fs.Ino, name string, child fs.Ino) error {
	off, _ := e.f.inodeOffset(uint64(child))
	return e.f.corruptAt(off, fmt.Sprintf("inode %d", child),
		"directory cycle: entry %q of directory inode %d leads back above it", name, dir)
}
