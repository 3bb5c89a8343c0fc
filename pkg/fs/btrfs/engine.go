package btrfs

import (
	"fmt"

	"github.com/imgprep/imgprep/pkg/fs"
)

// engine is the inode-level fs.Engine over an FS; the FS's embedded
// fs.Tree resolves paths with it. Its inode handles carry the (subvolume,
// inode) pair of each step: the subvolume's index in the view's table in
// the top 16 bits and the inode number in the low 48, so that the
// walker's ".." leaves a nested subvolume for the directory holding it,
// as the kernel's dentries do.
type engine struct{ f *FS }

var (
	_ fs.Engine        = engine{}
	_ fs.CycleReporter = engine{}
	_ fs.FS            = (*FS)(nil)
)

const (
	handleInoBits  = 48
	handlePlaceIdx = 1<<16 - 1 // the placeholder of an unlinked subvolume
)

// handle returns the engine handle of n.
func (f *FS) handle(n *inode) (fs.Ino, error) {
	if n.sv == nil {
		return fs.Ino(handlePlaceIdx<<handleInoBits | emptySubvolDirID), nil
	}
	if n.ino >= 1<<handleInoBits {
		return 0, fmt.Errorf("%w: inode number %d of subvolume %d", ErrUnsupported, n.ino, n.sv.id)
	}
	i, ok := f.svIdx[n.sv.id]
	if !ok {
		if len(f.svIDs) >= handlePlaceIdx {
			return 0, fmt.Errorf("%w: more than %d subvolumes reached", ErrUnsupported, handlePlaceIdx)
		}
		i = len(f.svIDs)
		f.svIDs = append(f.svIDs, n.sv.id)
		f.svIdx[n.sv.id] = i
	}
	return fs.Ino(uint64(i)<<handleInoBits | n.ino), nil
}

// node reads the inode a handle names.
func (f *FS) node(h fs.Ino) (*inode, error) {
	i, ino := int(h>>handleInoBits), uint64(h)&(1<<handleInoBits-1)
	if i == handlePlaceIdx {
		return emptySubvolDir(), nil
	}
	if i >= len(f.svIDs) {
		return nil, fmt.Errorf("%w: handle %#x", fs.ErrInvalid, uint64(h))
	}
	s, err := f.v.openSubvol(f.svIDs[i])
	if err != nil {
		return nil, err
	}
	it, err := f.v.inode(s, ino)
	if err != nil {
		return nil, err
	}
	return &inode{sv: s, ino: ino, item: it}, nil
}

// Root returns the view's top directory.
func (e engine) Root() fs.Ino {
	return fs.Ino(e.f.top.rootDir) // index 0 is the view's subvolume
}

// Lookup finds name in directory dir by its DIR_ITEM (name hash),
// crossing into a nested subvolume.
func (e engine) Lookup(dir fs.Ino, name string) (fs.Ino, fs.Attr, error) {
	d, err := e.f.node(dir)
	if err != nil {
		return 0, fs.Attr{}, err
	}
	if !d.isDir() {
		return 0, fs.Attr{}, fs.ErrNotDir
	}
	if d.sv == nil {
		return 0, fs.Attr{}, fs.ErrNotExist
	}
	de, ok, err := e.f.v.lookup(d.sv, d.ino, name)
	if err != nil {
		return 0, fs.Attr{}, err
	}
	if !ok {
		return 0, fs.Attr{}, fs.ErrNotExist
	}
	child, err := e.f.step(d, de)
	if err != nil {
		return 0, fs.Attr{}, err
	}
	h, err := e.f.handle(child)
	if err != nil {
		return 0, fs.Attr{}, err
	}
	return h, attr(child.ino, child.item), nil
}

// Stat describes the inode h names.
func (e engine) Stat(h fs.Ino) (fs.Attr, error) {
	n, err := e.f.node(h)
	if err != nil {
		return fs.Attr{}, err
	}
	return attr(n.ino, n.item), nil
}

// Readlink returns the target of a symlink.
func (e engine) Readlink(h fs.Ino) (string, error) {
	n, err := e.f.node(h)
	if err != nil {
		return "", err
	}
	if !n.isLink() {
		return "", fs.ErrNotSymlink
	}
	return e.f.readlink(n)
}

// ReadDir calls fn for every entry of a directory in DIR_INDEX order, as
// the kernel's readdir, one leaf at a time. A nested subvolume's entry
// carries its subvolume id as inode number, as readdir reports it.
func (e engine) ReadDir(dir fs.Ino, fn func(fs.DirEntry) bool) error {
	d, err := e.f.node(dir)
	if err != nil {
		return err
	}
	if !d.isDir() {
		return fs.ErrNotDir
	}
	if d.sv == nil {
		return nil
	}
	return e.f.v.eachDirIndex(d.sv, d.ino, func(de dirEnt) bool {
		return fn(fs.DirEntry{Name: de.name, Ino: de.loc.ObjectID, Type: fileType(de.typ)})
	})
}

// OpenFile opens a regular file.
func (e engine) OpenFile(h fs.Ino) (fs.File, error) {
	n, err := e.f.node(h)
	if err != nil {
		return nil, err
	}
	if n.isDir() {
		return nil, fs.ErrIsDir
	}
	if n.item.Mode&fs.ModeTypeMask != fs.ModeRegular {
		return nil, fmt.Errorf("%w: not a regular file", fs.ErrInvalid)
	}
	return e.f.openInode(n)
}

// Xattrs returns every XATTR_ITEM of the inode.
func (e engine) Xattrs(h fs.Ino) (map[string][]byte, error) {
	n, err := e.f.node(h)
	if err != nil {
		return nil, err
	}
	if n.sv == nil {
		return map[string][]byte{}, nil
	}
	return e.f.v.xattrs(n.sv, n.ino)
}

// DirCycle reports a directory entry leading back above itself as
// corruption.
func (e engine) DirCycle(dir fs.Ino, name string, child fs.Ino) error {
	return corrupt(fmt.Sprintf("directory %d", uint64(dir)&(1<<handleInoBits-1)), -1, -1,
		"entry %q leads back to directory %d above it", name, uint64(child)&(1<<handleInoBits-1))
}
