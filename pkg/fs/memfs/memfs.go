package memfs

import (
	"fmt"
	"sync"
	"time"

	"github.com/imgprep/imgprep/pkg/fs"
)

type node struct {
	ino      uint64
	mode     uint32
	nlink    uint32
	uid, gid uint32
	rdev     uint32
	atime    time.Time
	mtime    time.Time
	ctime    time.Time
	crtime   time.Time
	data     []byte           // regular file content
	target   string           // symlink target
	children map[string]*node // directory entries
	xattrs   map[string][]byte
}

func (n *node) isDir() bool     { return n.mode&fs.ModeTypeMask == fs.ModeDir }
func (n *node) isSymlink() bool { return n.mode&fs.ModeTypeMask == fs.ModeSymlink }
func (n *node) isRegular() bool { return n.mode&fs.ModeTypeMask == fs.ModeRegular }

func (n *node) attr() fs.Attr {
	size := int64(len(n.data))
	switch {
	case n.isSymlink():
		size = int64(len(n.target))
	case n.isDir():
		size = 4096
	}
	return fs.Attr{
		Ino: n.ino, Mode: n.mode, Nlink: n.nlink, UID: n.uid, GID: n.gid,
		Size: size, Rdev: n.rdev,
		Atime: n.atime, Mtime: n.mtime, Ctime: n.ctime, Crtime: n.crtime,
	}
}

// FS is an in-memory filesystem. The zero value is not usable; call New.
// Its methods are safe for concurrent use.
type FS struct {
	// ReadOnly makes every change fail with fs.ErrReadOnly.
	ReadOnly bool
	// Name is what Where reports ("memfs" unless set).
	Name string
	// FSType is what Type and Info report ("memfs" unless set).
	FSType string
	// Clock gives the time stamped on changes; time.Now when nil.
	Clock func() time.Time

	// Tree resolves paths (fs.ReadTree, fs.WriteTree) over the engine.
	fs.Tree

	mu      sync.Mutex
	root    *node
	inodes  map[fs.Ino]*node // every linked inode, by number
	nextIno uint64
}

var _ fs.WritableFS = (*FS)(nil)

// New returns an empty filesystem: a root directory owned by root, mode
// 0755, inode 2 like ext4's root.
func New() *FS {
	f := &FS{nextIno: 11}
	now := f.now()
	f.root = &node{ino: 2, mode: fs.ModeDir | 0o755, nlink: 2, children: map[string]*node{},
		atime: now, mtime: now, ctime: now, crtime: now}
	f.inodes = map[fs.Ino]*node{2: f.root}
	f.init()
	return f
}

// init points the Tree at the engine.
func (f *FS) init() {
	f.Tree = fs.NewTree(engine{f}, "memfs")
	f.Check = func(string, *fs.Resolved) error {
		if f.ReadOnly {
			return fs.ErrReadOnly
		}
		return nil
	}
}

func (f *FS) now() time.Time {
	if f.Clock != nil {
		return f.Clock()
	}
	return time.Now()
}

func (f *FS) newNode(mode uint32, owner fs.Owner) *node {
	now := f.now()
	n := &node{ino: f.nextIno, mode: mode, nlink: 1, uid: owner.UID, gid: owner.GID,
		atime: now, mtime: now, ctime: now, crtime: now}
	f.nextIno++
	f.inodes[fs.Ino(n.ino)] = n
	if n.isDir() {
		n.nlink = 2
		n.children = map[string]*node{}
	}
	return n
}

// Type implements fs.FS.
func (f *FS) Type() string {
	if f.FSType != "" {
		return f.FSType
	}
	return "memfs"
}

// Info implements fs.FS.
func (f *FS) Info() fs.Info {
	info := fs.Info{Type: f.Type(), BlockSize: 4096, Size: 1 << 30, FreeBytes: 1 << 29, Writable: !f.ReadOnly}
	if f.ReadOnly {
		info.WhyReadOnly = "read-only memfs"
	}
	return info
}

// Where names this filesystem, so that an FS can stand in for an
// ops.Guest. It does not follow a final symlink; the path must exist.
func (f *FS) Where(path string) (string, error) {
	r, err := f.Tree.Resolve("where", path, false)
	if err != nil {
		return "", err
	}
	if !r.Exists() {
		return "", &fs.PathError{FS: "memfs", Op: "where", Path: path, Err: fs.ErrNotExist}
	}
	if f.Name != "" {
		return f.Name, nil
	}
	return "memfs", nil
}

// Sync implements fs.WritableFS; there is nothing to write.
func (f *FS) Sync() error { return nil }

// String describes the filesystem for test failures.
func (f *FS) String() string { return fmt.Sprintf("memfs(%s)", f.Type()) }
