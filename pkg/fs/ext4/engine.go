package ext4

import (
	"fmt"

	"github.com/imgprep/imgprep/pkg/fs"
)

// engine is the fs.WriteEngine of an FS: its inode-level steps. The FS's
// fs.Tree resolves paths with them. Inode numbers are ext4's.
type engine struct{ *FS }

var (
	_ fs.WriteEngine   = engine{}
	_ fs.Mknoder       = engine{}
	_ fs.Linker        = engine{}
	_ fs.CycleReporter = engine{}
	_ fs.FileReader    = engine{}
)

// inodeOf reads inode ino, refusing a number the filesystem cannot hold.
func (f *FS) inodeOf(ino fs.Ino) (*inode, error) {
	if ino > 1<<32-1 || !f.validIno(uint32(ino)) {
		return nil, fmt.Errorf("%w: inode %d", fs.ErrInvalid, ino)
	}
	return f.readInode(uint32(ino))
}

// dirInode reads directory ino.
func (f *FS) dirInode(ino fs.Ino) (*inode, error) {
	in, err := f.inodeOf(ino)
	if err == nil && !in.isDir() {
		err = fs.ErrNotDir
	}
	return in, err
}

func (e engine) Root() fs.Ino { return rootIno }

// Lookup reads directory dir, unless the Lookup just before returned it
// (the walker's previous step), and the inode name leads to.
func (e engine) Lookup(dir fs.Ino, name string) (fs.Ino, fs.Attr, error) {
	d := e.lastDir
	e.lastDir = nil
	if d == nil || fs.Ino(d.ino) != dir {
		var err error
		if d, err = e.dirInode(dir); err != nil {
			return 0, fs.Attr{}, err
		}
	}
	if len(name) > maxNameLen {
		return 0, fs.Attr{}, fs.ErrNameTooLong
	}
	de, _, err := e.lookup(d, name)
	if err != nil {
		return 0, fs.Attr{}, err
	}
	child, err := e.readInode(de.ino)
	if err != nil {
		return 0, fs.Attr{}, err
	}
	if child.isDir() {
		e.lastDir = child
	}
	return fs.Ino(child.ino), e.attr(child), nil
}

func (e engine) Stat(ino fs.Ino) (fs.Attr, error) {
	in, err := e.inodeOf(ino)
	if err != nil {
		return fs.Attr{}, err
	}
	return e.attr(in), nil
}

func (e engine) Readlink(ino fs.Ino) (string, error) {
	in, err := e.inodeOf(ino)
	if err != nil {
		return "", err
	}
	if !in.isLink() {
		return "", fs.ErrNotSymlink
	}
	return e.readlink(in)
}

// ReadDir lists entries in on-disk order, one directory block at a time.
// Without the filetype feature (or for an entry of unknown type) the type
// comes from the child's inode.
func (e engine) ReadDir(dir fs.Ino, fn func(fs.DirEntry) bool) error {
	d, err := e.dirInode(dir)
	if err != nil {
		return err
	}
	var ferr error
	err = e.forEachDirent(d, func(de *dirent, _ dirLoc) bool {
		if de.name == "." || de.name == ".." {
			return false
		}
		ent := fs.DirEntry{Name: de.name, Ino: uint64(de.ino), Type: ftToType(de.ftype)}
		if !e.filetype || ent.Type == fs.TypeUnknown {
			child, err := e.readInode(de.ino)
			if err != nil {
				ferr = err
				return true
			}
			ent.Type = fs.TypeOfMode(child.mode())
		}
		return !fn(ent)
	})
	if err == nil {
		err = ferr
	}
	return err
}

// OpenFile opens regular file ino, which may be sparse.
func (e engine) OpenFile(ino fs.Ino) (fs.File, error) {
	in, err := e.inodeOf(ino)
	if err != nil {
		return nil, err
	}
	if err := checkRegular(in); err != nil {
		return nil, err
	}
	return e.newFile(in)
}

// ReadFile reads the whole of regular file ino. A file claiming more
// bytes than the filesystem holds is refused rather than allocated.
func (e engine) ReadFile(ino fs.Ino) ([]byte, error) {
	in, err := e.inodeOf(ino)
	if err != nil {
		return nil, err
	}
	if err := checkRegular(in); err != nil {
		return nil, err
	}
	return e.readAll(in)
}

// Xattrs returns every extended attribute of ino; POSIX ACLs in the VFS
// (version 2) format.
func (e engine) Xattrs(ino fs.Ino) (map[string][]byte, error) {
	in, err := e.inodeOf(ino)
	if err != nil {
		return nil, err
	}
	return e.xattrs(in)
}

// DirCycle describes a directory entry leading back to a directory above
// it (ext directories have no hard links): corruption.
func (e engine) DirCycle(dir fs.Ino, name string, child fs.Ino) error {
	return corrupt(e.inodeOffset(uint32(child)), fmt.Sprintf("inode %d", child),
		"directory cycle: entry %q of directory inode %d leads back to directory inode %d, above it", name, dir, child)
}

// The writes check, before anything else, that the filesystem may be
// written (OpenWritable, no refusal).

func (e engine) WriteFile(dir fs.Ino, name string, data []byte, opts fs.WriteOptions) error {
	if err := e.checkWrite(); err != nil {
		return err
	}
	return e.writeFile(dir, name, data, opts)
}

func (e engine) Mkdir(dir fs.Ino, name string, perm uint32, owner fs.Owner) error {
	if err := e.checkWrite(); err != nil {
		return err
	}
	return e.mkdir(dir, name, perm, owner)
}

func (e engine) Symlink(dir fs.Ino, name, target string, owner fs.Owner) error {
	if err := e.checkWrite(); err != nil {
		return err
	}
	return e.symlink(dir, name, target, owner)
}

func (e engine) Mknod(dir fs.Ino, name string, mode uint32, rdev uint32, owner fs.Owner) error {
	if err := e.checkWrite(); err != nil {
		return err
	}
	return e.mknod(dir, name, mode, rdev, owner)
}

func (e engine) Link(ino fs.Ino, dir fs.Ino, name string) error {
	if err := e.checkWrite(); err != nil {
		return err
	}
	return e.link(ino, dir, name)
}

func (e engine) Remove(dir fs.Ino, name string) error {
	if err := e.checkWrite(); err != nil {
		return err
	}
	return e.remove(dir, name, false)
}

func (e engine) RemoveAll(dir fs.Ino, name string) error {
	if err := e.checkWrite(); err != nil {
		return err
	}
	return e.remove(dir, name, true)
}

func (e engine) Rename(dir fs.Ino, name string, newDir fs.Ino, newName string) error {
	if err := e.checkWrite(); err != nil {
		return err
	}
	return e.rename(dir, name, newDir, newName)
}

func (e engine) Setattr(ino fs.Ino, c fs.AttrChange) error {
	if err := e.checkWrite(); err != nil {
		return err
	}
	return e.setattr(ino, c)
}

func (e engine) Truncate(ino fs.Ino, size int64) error {
	if err := e.checkWrite(); err != nil {
		return err
	}
	return e.truncate(ino, size)
}
