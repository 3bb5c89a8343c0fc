package btrfs

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/imgprep/imgprep/pkg/fs"
)

// Options says which subvolume an FS presents as its root, as mount(8)'s
// btrfs options do. With neither set, it is the default subvolume.
type Options struct {
	// Subvol is a path below the top level ("root", "/@/home"), as in
	// subvol=.
	Subvol string
	// SubvolID is a subvolume id, as in subvolid=; with Subvol as well,
	// both must name the same subvolume.
	SubvolID uint64
	// Name names the filesystem in errors ("btrfs on partition 3").
	Name string
}

// FS is a read-only view of one subvolume of a btrfs filesystem, as the
// kernel presents it mounted with Options. Nested subvolumes are crossed
// as directories. It implements fs.FS. It is not safe for concurrent use.
type FS struct {
	v    *Volume
	top  *subvol
	name string
}

var _ fs.FS = (*FS)(nil)

// Open opens the btrfs filesystem on r, a device of size bytes, at its
// default subvolume.
func Open(r io.ReaderAt, size int64) (*FS, error) {
	return OpenOptions(r, size, Options{})
}

// OpenOptions opens the btrfs filesystem on r at the subvolume opts
// names.
func OpenOptions(r io.ReaderAt, size int64, opts Options) (*FS, error) {
	v, err := OpenVolume(r, size)
	if err != nil {
		return nil, err
	}
	return v.View(opts)
}

// View returns the FS presenting the subvolume opts names.
func (v *Volume) View(opts Options) (*FS, error) {
	name := opts.Name
	if name == "" {
		name = "btrfs"
	}
	id := opts.SubvolID
	if opts.Subvol != "" {
		top, err := v.openSubvol(fsTreeObjectID)
		if err != nil {
			return nil, err
		}
		f := &FS{v: v, top: top, name: name}
		n, err := f.resolve(opts.Subvol, true)
		if err != nil {
			return nil, fmt.Errorf("%s: subvol=%s: %w", name, opts.Subvol, err)
		}
		if n.sv == nil || n.ino != n.sv.rootDir {
			return nil, fmt.Errorf("%s: subvol=%s: %w: not a subvolume", name, opts.Subvol, ErrNoSubvolume)
		}
		if id != 0 && id != n.sv.id {
			return nil, fmt.Errorf("%s: subvol=%s is subvolume %d, not subvolid=%d: %w", name, opts.Subvol, n.sv.id, id, ErrNoSubvolume)
		}
		id = n.sv.id
	}
	if id == 0 {
		var err error
		if id, err = v.defaultSubvol(); err != nil {
			return nil, err
		}
	}
	s, err := v.openSubvol(id)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &FS{v: v, top: s, name: name}, nil
}

// Volume returns the filesystem the view belongs to.
func (f *FS) Volume() *Volume { return f.v }

// SubvolumeID returns the id of the subvolume presented as the root.
func (f *FS) SubvolumeID() uint64 { return f.top.id }

// Type returns "btrfs".
func (f *FS) Type() string { return "btrfs" }

// Info describes the filesystem. It is never writable.
func (f *FS) Info() fs.Info {
	sb := &f.v.sb
	label := string(sb.Label[:])
	if i := strings.IndexByte(label, 0); i >= 0 {
		label = label[:i]
	}
	free := int64(sb.TotalBytes) - int64(sb.BytesUsed)
	if free < 0 {
		free = 0
	}
	return fs.Info{
		Type: "btrfs", UUID: formatUUID(sb.FSID), Label: label,
		BlockSize: int(sb.SectorSize), Size: int64(sb.TotalBytes), FreeBytes: free,
		Writable: false, WhyReadOnly: "imgprep cannot write btrfs yet", Note: f.v.note,
	}
}

func formatUUID(u [16]byte) string {
	if u == [16]byte{} {
		return ""
	}
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// inode is one (subvolume, inode) step of a path.
type inode struct {
	sv   *subvol
	ino  uint64
	item InodeItem
}

func (n *inode) mode() uint32 { return n.item.Mode }
func (n *inode) isDir() bool  { return n.item.Mode&fs.ModeTypeMask == fs.ModeDir }
func (n *inode) isLink() bool { return n.item.Mode&fs.ModeTypeMask == fs.ModeSymlink }

// emptySubvolDir is what the kernel shows for a subvolume entry whose
// subvolume is not linked there (a snapshot of a directory holding a
// nested subvolume): an empty directory, inode 2, mode 0755.
func emptySubvolDir(parent *inode) *inode {
	it := InodeItem{Mode: fs.ModeDir | 0o755, Nlink: 1, Atime: parent.item.Atime, Mtime: parent.item.Mtime, Ctime: parent.item.Ctime}
	return &inode{sv: nil, ino: emptySubvolDirID, item: it}
}

// step resolves one directory entry of dir to its inode, crossing into a
// subvolume when the entry's location is a ROOT_ITEM.
func (f *FS) step(dir *inode, e dirEnt) (*inode, error) {
	switch e.loc.Type {
	case typeInodeItem:
		it, err := f.v.inode(dir.sv, e.loc.ObjectID)
		if err != nil {
			return nil, err
		}
		return &inode{sv: dir.sv, ino: e.loc.ObjectID, item: it}, nil
	case typeRootItem:
		ref, ok, err := f.v.rootRef(dir.sv.id, e.loc.ObjectID)
		if err != nil {
			return nil, err
		}
		if !ok || ref.dir != dir.ino || ref.name != e.name {
			return emptySubvolDir(dir), nil
		}
		s, err := f.v.openSubvol(e.loc.ObjectID)
		if err != nil {
			return nil, err
		}
		it, err := f.v.inode(s, s.rootDir)
		if err != nil {
			return nil, err
		}
		return &inode{sv: s, ino: s.rootDir, item: it}, nil
	}
	return nil, corrupt(fmt.Sprintf("dir item %q in directory %d of subvolume %d", e.name, dir.ino, dir.sv.id), -1, -1, "location key type %d", e.loc.Type)
}

func (f *FS) rootInode() (*inode, error) {
	it, err := f.v.inode(f.top, f.top.rootDir)
	if err != nil {
		return nil, err
	}
	return &inode{sv: f.top, ino: f.top.rootDir, item: it}, nil
}

// resolve walks path p from the view's root as the kernel would with it
// mounted at "/": intermediate symlinks are followed (absolute targets
// from this root), ".." stops at the root and climbs out of a nested
// subvolume into the directory holding it, and more than
// fs.MaxSymlinkHops symlinks fail with fs.ErrLoop. follow says whether a
// final symlink is followed. A directory entry leading back to a
// directory already on the way down is a *FormatError.
func (f *FS) resolve(p string, follow bool) (*inode, error) {
	root, err := f.rootInode()
	if err != nil {
		return nil, err
	}
	down := []*inode{root}
	queue := splitPath(p)
	hops := 0
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		cur := down[len(down)-1]
		switch name {
		case ".":
			continue
		case "..":
			if len(down) > 1 {
				down = down[:len(down)-1]
			}
			continue
		}
		if !cur.isDir() {
			return nil, fs.ErrNotDir
		}
		if len(name) > maxNameLen {
			return nil, fs.ErrNameTooLong
		}
		if cur.sv == nil { // an empty placeholder directory
			return nil, fs.ErrNotExist
		}
		e, ok, err := f.v.lookup(cur.sv, cur.ino, name)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fs.ErrNotExist
		}
		child, err := f.step(cur, e)
		if err != nil {
			return nil, err
		}
		if child.isLink() && (len(queue) > 0 || follow) {
			hops++
			if hops > fs.MaxSymlinkHops {
				return nil, fs.ErrLoop
			}
			target, err := f.readlink(child)
			if err != nil {
				return nil, err
			}
			if target == "" {
				return nil, fs.ErrNotExist
			}
			if strings.HasPrefix(target, "/") {
				down = down[:1]
			}
			queue = append(splitPath(target), queue...)
			continue
		}
		if child.isDir() {
			for _, d := range down {
				if d.sv == child.sv && d.ino == child.ino && child.sv != nil {
					return nil, corrupt(fmt.Sprintf("directory %d of subvolume %d", cur.ino, cur.sv.id), -1, -1, "entry %q leads back to directory %d", name, child.ino)
				}
			}
		}
		down = append(down, child)
	}
	return down[len(down)-1], nil
}

func splitPath(p string) []string {
	parts := strings.Split(p, "/")
	out := parts[:0]
	for _, c := range parts {
		if c != "" {
			out = append(out, c)
		}
	}
	return out
}

// maxSymlinkLen is PATH_MAX - 1: the longest target the kernel stores.
const maxSymlinkLen = 4095

func (f *FS) readlink(n *inode) (string, error) {
	if n.item.Size > maxSymlinkLen {
		return "", corrupt(fmt.Sprintf("symlink %d of subvolume %d", n.ino, n.sv.id), -1, -1, "target of %d bytes", n.item.Size)
	}
	fl, err := f.openInode(n)
	if err != nil {
		return "", err
	}
	b := make([]byte, fl.size)
	if _, err := fl.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return string(b), nil
}

func (f *FS) openInode(n *inode) (*file, error) {
	size := n.item.Size
	if size > uint64(1)<<62 {
		return nil, corrupt(fmt.Sprintf("inode %d of subvolume %d", n.ino, n.sv.id), -1, -1, "size %d", size)
	}
	exts, err := f.v.extents(n.sv, n.ino, size)
	if err != nil {
		return nil, err
	}
	return &file{v: f.v, s: n.sv, ino: n.ino, size: int64(size), exts: exts, nodatasum: n.item.Flags&inodeNoDataSum != 0, cached: -1}, nil
}

func (f *FS) pathErr(op, p string, err error) error {
	return fmt.Errorf("%s: %s %s: %w", f.name, op, p, err)
}

// Lstat describes the file at p without following a final symlink.
func (f *FS) Lstat(p string) (fs.Attr, error) {
	n, err := f.resolve(p, false)
	if err != nil {
		return fs.Attr{}, f.pathErr("lstat", p, err)
	}
	return attr(n.ino, n.item), nil
}

// Stat describes the file at p, following a final symlink.
func (f *FS) Stat(p string) (fs.Attr, error) {
	n, err := f.resolve(p, true)
	if err != nil {
		return fs.Attr{}, f.pathErr("stat", p, err)
	}
	return attr(n.ino, n.item), nil
}

// ReadDir lists the directory at p in DIR_INDEX order, without "." and
// "..". A nested subvolume is listed as a directory with its subvolume
// id as inode number, as the kernel's readdir reports it.
func (f *FS) ReadDir(p string) ([]fs.DirEntry, error) {
	n, err := f.resolve(p, true)
	if err == nil && !n.isDir() {
		err = fs.ErrNotDir
	}
	if err != nil {
		return nil, f.pathErr("readdir", p, err)
	}
	if n.sv == nil {
		return nil, nil
	}
	ents, err := f.v.readDir(n.sv, n.ino)
	if err != nil {
		return nil, f.pathErr("readdir", p, err)
	}
	out := make([]fs.DirEntry, 0, len(ents))
	for _, e := range ents {
		out = append(out, fs.DirEntry{Name: e.name, Ino: e.loc.ObjectID, Type: fileType(e.typ)})
	}
	return out, nil
}

// Open opens the regular file at p.
func (f *FS) Open(p string) (fs.File, error) {
	n, err := f.resolve(p, true)
	if err == nil && n.isDir() {
		err = fs.ErrIsDir
	} else if err == nil && n.item.Mode&fs.ModeTypeMask != fs.ModeRegular {
		err = fmt.Errorf("%w: not a regular file", fs.ErrInvalid)
	}
	var fl *file
	if err == nil {
		fl, err = f.openInode(n)
	}
	if err != nil {
		return nil, f.pathErr("open", p, err)
	}
	return fl, nil
}

// maxReadFile bounds ReadFile; larger files are read through Open.
const maxReadFile = 1 << 30

// ReadFile reads the whole regular file at p.
func (f *FS) ReadFile(p string) ([]byte, error) {
	fl, err := f.Open(p)
	if err != nil {
		return nil, err
	}
	if fl.Size() > maxReadFile || fl.Size() > f.v.size*64 {
		return nil, f.pathErr("read", p, fmt.Errorf("%w: file of %d bytes", fs.ErrInvalid, fl.Size()))
	}
	b := make([]byte, fl.Size())
	if _, err := fl.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, f.pathErr("read", p, err)
	}
	return b, nil
}

// Readlink returns the target of the symlink at p.
func (f *FS) Readlink(p string) (string, error) {
	n, err := f.resolve(p, false)
	if err == nil && !n.isLink() {
		err = fs.ErrNotSymlink
	}
	var t string
	if err == nil {
		t, err = f.readlink(n)
	}
	if err != nil {
		return "", f.pathErr("readlink", p, err)
	}
	return t, nil
}

// Xattrs returns every extended attribute of the file at p, without
// following a final symlink.
func (f *FS) Xattrs(p string) (map[string][]byte, error) {
	n, err := f.resolve(p, false)
	if err != nil {
		return nil, f.pathErr("xattrs", p, err)
	}
	if n.sv == nil {
		return map[string][]byte{}, nil
	}
	m, err := f.v.xattrs(n.sv, n.ino)
	if err != nil {
		return nil, f.pathErr("xattrs", p, err)
	}
	return m, nil
}
