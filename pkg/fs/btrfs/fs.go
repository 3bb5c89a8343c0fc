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
	// Tree resolves paths (fs.ReadTree) over the inode-level engine.
	fs.Tree

	v    *Volume
	top  *subvol
	name string
	// handles numbers the subvolumes this view has reached, for the
	// engine's inode handles (engine.go).
	svIDs []uint64
	svIdx map[uint64]int
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
		f := newFS(v, top, name)
		r, err := f.Tree.Resolve("subvol="+opts.Subvol, "/"+opts.Subvol, true)
		if err == nil && !r.Exists() {
			err = fmt.Errorf("subvol=%s: %w", opts.Subvol, fs.ErrNotExist)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", err, ErrNoSubvolume)
		}
		n, err := f.node(r.Node.Ino)
		if err != nil {
			return nil, err
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
	return newFS(v, s, name), nil
}

// newFS returns the view of subvolume top.
func newFS(v *Volume, top *subvol, name string) *FS {
	f := &FS{v: v, top: top, name: name, svIdx: map[uint64]int{}}
	f.svIdx[top.id] = 0
	f.svIDs = []uint64{top.id}
	f.Tree = fs.NewTree(engine{f}, name)
	f.Check = func(string, *fs.Resolved) error { return fmt.Errorf("%w: %w", ErrReadOnly, fs.ErrReadOnly) }
	return f
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

func (n *inode) isDir() bool  { return n.item.Mode&fs.ModeTypeMask == fs.ModeDir }
func (n *inode) isLink() bool { return n.item.Mode&fs.ModeTypeMask == fs.ModeSymlink }

// emptySubvolDir is what the kernel shows for a subvolume entry whose
// subvolume is not linked there (a snapshot of a directory holding a
// nested subvolume): an empty directory, inode 2, mode 0755.
// The kernel stamps it with the current time; here its times are zero.
func emptySubvolDir() *inode {
	it := InodeItem{Mode: fs.ModeDir | 0o755, Nlink: 1}
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
			return emptySubvolDir(), nil
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
	if size > f.v.sb.TotalBytes<<8 || size > uint64(f.v.size)<<8 {
		return nil, corrupt(fmt.Sprintf("inode %d of subvolume %d", n.ino, n.sv.id), -1, -1, "size %d", size)
	}
	exts, err := f.v.extents(n.sv, n.ino, size)
	if err != nil {
		return nil, err
	}
	return &file{v: f.v, s: n.sv, ino: n.ino, size: int64(size), exts: exts, nodatasum: n.item.Flags&inodeNoDataSum != 0, cached: -1}, nil
}

// DataCopies returns the byte offsets on the device of every copy of the
// byte at offset off of regular file p (one per DUP or RAID1 copy), for
// tests and diagnostics. It fails for a hole, an inline or compressed
// extent.
func (f *FS) DataCopies(p string, off int64) ([]int64, error) {
	r, err := f.Tree.Resolve("datacopies", p, true)
	if err != nil {
		return nil, err
	}
	if !r.Exists() {
		return nil, fs.ErrNotExist
	}
	n, err := f.node(r.Node.Ino)
	if err != nil {
		return nil, err
	}
	fl, err := f.openInode(n)
	if err != nil {
		return nil, err
	}
	for _, e := range fl.exts {
		if uint64(off) < e.pos || uint64(off) >= e.pos+e.length {
			continue
		}
		if e.typ != extentRegular || e.comp != compressNone || e.item.DiskBytenr == 0 {
			return nil, fmt.Errorf("%w: offset %d is not in a plain data extent", fs.ErrInvalid, off)
		}
		return f.v.mapLogical(e.item.DiskBytenr+e.item.Offset+uint64(off)-e.pos, 1, "data")
	}
	return nil, fmt.Errorf("%w: offset %d is in a hole", fs.ErrInvalid, off)
}
