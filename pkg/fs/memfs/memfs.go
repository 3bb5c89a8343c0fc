package memfs

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/imgprep/imgprep/pkg/fs"
)

// maxNameLen is the longest file name, as ext4's EXT4_NAME_LEN.
const maxNameLen = 255

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

	mu      sync.Mutex
	root    *node
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
	return f
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
	if n.isDir() {
		n.nlink = 2
		n.children = map[string]*node{}
	}
	return n
}

// PathError is the error of one operation on one path.
type PathError struct {
	Op   string
	Path string
	Err  error
}

func (e *PathError) Error() string { return "memfs: " + e.Op + " " + e.Path + ": " + e.Err.Error() }
func (e *PathError) Unwrap() error { return e.Err }

func perr(op, path string, err error) error { return &PathError{Op: op, Path: path, Err: err} }

// resolved is the outcome of resolving a path: the directory holding the
// final component, its name, and the node (nil when the final component
// does not exist). For "/" dir is nil and name is "".
type resolved struct {
	dir  *node
	name string
	n    *node
}

// resolve walks path from the root. Intermediate symlinks are always
// followed; the final one only with follow. A missing final component is
// not an error (res.n == nil); a missing intermediate one is.
func (f *FS) resolve(path string, follow bool) (resolved, error) {
	if !strings.HasPrefix(path, "/") {
		return resolved{}, fs.ErrInvalid
	}
	comps := splitPath(path)
	for _, c := range comps {
		if len(c) > maxNameLen {
			return resolved{}, fs.ErrNameTooLong
		}
	}
	stack := []*node{f.root} // directories from the root to the current one
	hops := 0
	for len(comps) > 0 {
		c := comps[0]
		comps = comps[1:]
		last := len(comps) == 0
		cur := stack[len(stack)-1]
		switch c {
		case ".":
			if last {
				return f.dirResult(stack), nil
			}
			continue
		case "..":
			if len(stack) > 1 {
				stack = stack[:len(stack)-1]
			}
			if last {
				return f.dirResult(stack), nil
			}
			continue
		}
		if !cur.isDir() {
			return resolved{}, fs.ErrNotDir
		}
		child := cur.children[c]
		if child == nil {
			if last {
				return resolved{dir: cur, name: c}, nil
			}
			return resolved{}, fs.ErrNotExist
		}
		if child.isSymlink() && (!last || follow) {
			hops++
			if hops > fs.MaxSymlinkHops {
				return resolved{}, fs.ErrLoop
			}
			if child.target == "" {
				return resolved{}, fs.ErrNotExist
			}
			if strings.HasPrefix(child.target, "/") {
				stack = stack[:1]
			}
			comps = append(splitPath(child.target), comps...)
			if len(comps) == 0 { // target "/"
				return f.dirResult(stack), nil
			}
			continue
		}
		if last {
			return resolved{dir: cur, name: c, n: child}, nil
		}
		if !child.isDir() {
			return resolved{}, fs.ErrNotDir
		}
		stack = append(stack, child)
	}
	return f.dirResult(stack), nil
}

// dirResult is the result for a path ending at the top of stack (through
// "/", "." or ".."): the directory itself, with no name in a parent.
func (f *FS) dirResult(stack []*node) resolved {
	return resolved{n: stack[len(stack)-1]}
}

func splitPath(p string) []string {
	var out []string
	for _, c := range strings.Split(p, "/") {
		if c != "" {
			out = append(out, c)
		}
	}
	return out
}

// get resolves path to an existing node.
func (f *FS) get(op, path string, follow bool) (*node, error) {
	r, err := f.resolve(path, follow)
	if err != nil {
		return nil, perr(op, path, err)
	}
	if r.n == nil {
		return nil, perr(op, path, fs.ErrNotExist)
	}
	return r.n, nil
}

func (f *FS) writable(op, path string) error {
	if f.ReadOnly {
		return perr(op, path, fs.ErrReadOnly)
	}
	return nil
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
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.get("where", path, false); err != nil {
		return "", err
	}
	if f.Name != "" {
		return f.Name, nil
	}
	return "memfs", nil
}

// Sync implements fs.WritableFS; there is nothing to write.
func (f *FS) Sync() error { return nil }

// Lstat implements fs.ReadTree.
func (f *FS) Lstat(path string) (fs.Attr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.get("lstat", path, false)
	if err != nil {
		return fs.Attr{}, err
	}
	return n.attr(), nil
}

// Stat implements fs.ReadTree.
func (f *FS) Stat(path string) (fs.Attr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.get("stat", path, true)
	if err != nil {
		return fs.Attr{}, err
	}
	return n.attr(), nil
}

// ReadDir implements fs.ReadTree; entries are sorted by name.
func (f *FS) ReadDir(path string) ([]fs.DirEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.get("readdir", path, true)
	if err != nil {
		return nil, err
	}
	if !n.isDir() {
		return nil, perr("readdir", path, fs.ErrNotDir)
	}
	out := make([]fs.DirEntry, 0, len(n.children))
	for name, c := range n.children {
		out = append(out, fs.DirEntry{Name: name, Ino: c.ino, Type: fs.TypeOfMode(c.mode)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

type file struct {
	*bytes.Reader
}

func (file) Close() error { return nil }

// Open implements fs.ReadTree. The file reads a snapshot of the content
// taken at Open.
func (f *FS) Open(path string) (fs.File, error) {
	data, err := f.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return file{bytes.NewReader(data)}, nil
}

// ReadFile implements fs.ReadTree.
func (f *FS) ReadFile(path string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.get("read", path, true)
	if err != nil {
		return nil, err
	}
	if n.isDir() {
		return nil, perr("read", path, fs.ErrIsDir)
	}
	if !n.isRegular() {
		return nil, perr("read", path, fs.ErrInvalid)
	}
	return bytes.Clone(n.data), nil
}

// Readlink implements fs.ReadTree.
func (f *FS) Readlink(path string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.get("readlink", path, false)
	if err != nil {
		return "", err
	}
	if !n.isSymlink() {
		return "", perr("readlink", path, fs.ErrNotSymlink)
	}
	return n.target, nil
}

// Xattrs implements fs.ReadTree.
func (f *FS) Xattrs(path string) (map[string][]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.get("xattrs", path, false)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(n.xattrs))
	for k, v := range n.xattrs {
		out[k] = bytes.Clone(v)
	}
	return out, nil
}

// unlink drops the entry name from dir, adjusting link counts.
func (f *FS) unlink(dir *node, name string, n *node) {
	delete(dir.children, name)
	now := f.now()
	dir.mtime, dir.ctime = now, now
	if n.isDir() {
		dir.nlink--
		n.nlink = 0
		return
	}
	n.nlink--
	n.ctime = now
}

// Remove implements fs.WriteTree.
func (f *FS) Remove(path string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.writable("remove", path); err != nil {
		return err
	}
	r, err := f.resolve(path, false)
	if err != nil {
		return perr("remove", path, err)
	}
	if r.n == nil {
		return perr("remove", path, fs.ErrNotExist)
	}
	if r.dir == nil {
		return perr("remove", path, fs.ErrInvalid)
	}
	if r.n.isDir() && len(r.n.children) > 0 {
		return perr("remove", path, fs.ErrNotEmpty)
	}
	f.unlink(r.dir, r.name, r.n)
	return nil
}

// RemoveAll implements fs.WriteTree.
func (f *FS) RemoveAll(path string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.writable("removeall", path); err != nil {
		return err
	}
	r, err := f.resolve(path, false)
	if err != nil {
		if err == fs.ErrNotExist {
			return nil
		}
		return perr("removeall", path, err)
	}
	if r.n == nil {
		return nil
	}
	if r.dir == nil {
		return perr("removeall", path, fs.ErrInvalid)
	}
	f.removeTree(r.n)
	f.unlink(r.dir, r.name, r.n)
	return nil
}

// removeTree empties directory n, depth first, with an explicit stack.
func (f *FS) removeTree(top *node) {
	todo := []*node{top}
	for len(todo) > 0 {
		d := todo[len(todo)-1]
		if !d.isDir() || len(d.children) == 0 {
			todo = todo[:len(todo)-1]
			continue
		}
		for name, c := range d.children {
			if c.isDir() && len(c.children) > 0 {
				todo = append(todo, c)
				break
			}
			f.unlink(d, name, c)
		}
	}
}

// Truncate implements fs.WriteTree.
func (f *FS) Truncate(path string, size int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.writable("truncate", path); err != nil {
		return err
	}
	if size < 0 || size > 1<<32 {
		return perr("truncate", path, fs.ErrInvalid)
	}
	n, err := f.get("truncate", path, true)
	if err != nil {
		return err
	}
	if n.isDir() {
		return perr("truncate", path, fs.ErrIsDir)
	}
	if !n.isRegular() {
		return perr("truncate", path, fs.ErrInvalid)
	}
	if int64(len(n.data)) >= size {
		n.data = n.data[:size:size]
	} else {
		n.data = append(n.data, make([]byte, size-int64(len(n.data)))...)
	}
	now := f.now()
	n.mtime, n.ctime = now, now
	return nil
}

// WriteFile implements fs.WriteTree. A final symlink is followed, and a
// dangling one creates its target, as open(2) with O_CREAT.
func (f *FS) WriteFile(path string, data []byte, opts fs.WriteOptions) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.writable("write", path); err != nil {
		return err
	}
	r, err := f.resolve(path, true)
	if err != nil {
		return perr("write", path, err)
	}
	n := r.n
	if n == nil {
		n = f.newNode(fs.ModeRegular|opts.Perm&fs.ModePermMask, opts.Owner)
		r.dir.children[r.name] = n
		now := f.now()
		r.dir.mtime, r.dir.ctime = now, now
	} else if n.isDir() {
		return perr("write", path, fs.ErrIsDir)
	} else if !n.isRegular() {
		return perr("write", path, fs.ErrInvalid)
	}
	n.data = bytes.Clone(data)
	now := f.now()
	n.mtime, n.ctime = now, now
	if !opts.Times.Mtime.IsZero() {
		n.mtime = opts.Times.Mtime
	}
	if !opts.Times.Atime.IsZero() {
		n.atime = opts.Times.Atime
	}
	return nil
}

// create adds a new node at path, which must not exist; the final
// component is not followed.
func (f *FS) create(op, path string, mode uint32, owner fs.Owner) (*node, error) {
	if err := f.writable(op, path); err != nil {
		return nil, err
	}
	r, err := f.resolve(path, false)
	if err != nil {
		return nil, perr(op, path, err)
	}
	if r.n != nil {
		return nil, perr(op, path, fs.ErrExist)
	}
	n := f.newNode(mode, owner)
	r.dir.children[r.name] = n
	if n.isDir() {
		r.dir.nlink++
	}
	now := f.now()
	r.dir.mtime, r.dir.ctime = now, now
	return n, nil
}

// Mkdir implements fs.WriteTree.
func (f *FS) Mkdir(path string, perm uint32, owner fs.Owner) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, err := f.create("mkdir", path, fs.ModeDir|perm&fs.ModePermMask, owner)
	return err
}

// Symlink implements fs.WriteTree.
func (f *FS) Symlink(target, path string, owner fs.Owner) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if target == "" || len(target) > 4095 {
		return perr("symlink", path, fs.ErrInvalid)
	}
	n, err := f.create("symlink", path, fs.ModeSymlink|0o777, owner)
	if err != nil {
		return err
	}
	n.target = target
	return nil
}

// Mknod implements fs.WriteTree.
func (f *FS) Mknod(path string, mode uint32, rdev uint32, owner fs.Owner) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch mode & fs.ModeTypeMask {
	case fs.ModeChar, fs.ModeBlock, fs.ModeFIFO, fs.ModeSocket:
	default:
		return perr("mknod", path, fs.ErrInvalid)
	}
	n, err := f.create("mknod", path, mode, owner)
	if err != nil {
		return err
	}
	n.rdev = rdev
	return nil
}

// Link implements fs.WriteTree. Neither path's final component is
// followed.
func (f *FS) Link(oldPath, newPath string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.writable("link", newPath); err != nil {
		return err
	}
	old, err := f.get("link", oldPath, false)
	if err != nil {
		return err
	}
	if old.isDir() {
		return perr("link", oldPath, fs.ErrIsDir)
	}
	r, err := f.resolve(newPath, false)
	if err != nil {
		return perr("link", newPath, err)
	}
	if r.n != nil {
		return perr("link", newPath, fs.ErrExist)
	}
	r.dir.children[r.name] = old
	old.nlink++
	now := f.now()
	old.ctime, r.dir.mtime, r.dir.ctime = now, now, now
	return nil
}

// Chmod implements fs.WriteTree.
func (f *FS) Chmod(path string, perm uint32) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.writable("chmod", path); err != nil {
		return err
	}
	n, err := f.get("chmod", path, true)
	if err != nil {
		return err
	}
	n.mode = n.mode&fs.ModeTypeMask | perm&fs.ModePermMask
	n.ctime = f.now()
	return nil
}

// Chown implements fs.WriteTree.
func (f *FS) Chown(path string, owner fs.Owner) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.writable("chown", path); err != nil {
		return err
	}
	n, err := f.get("chown", path, true)
	if err != nil {
		return err
	}
	n.uid, n.gid = owner.UID, owner.GID
	n.ctime = f.now()
	return nil
}

// Utimes implements fs.WriteTree.
func (f *FS) Utimes(path string, t fs.Times) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.writable("utimes", path); err != nil {
		return err
	}
	n, err := f.get("utimes", path, true)
	if err != nil {
		return err
	}
	if !t.Atime.IsZero() {
		n.atime = t.Atime
	}
	if !t.Mtime.IsZero() {
		n.mtime = t.Mtime
	}
	n.ctime = f.now()
	return nil
}

// Rename implements fs.WriteTree.
func (f *FS) Rename(oldPath, newPath string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.writable("rename", oldPath); err != nil {
		return err
	}
	src, err := f.resolve(oldPath, false)
	if err != nil {
		return perr("rename", oldPath, err)
	}
	if src.n == nil {
		return perr("rename", oldPath, fs.ErrNotExist)
	}
	if src.dir == nil {
		return perr("rename", oldPath, fs.ErrInvalid)
	}
	dst, err := f.resolve(newPath, false)
	if err != nil {
		return perr("rename", newPath, err)
	}
	if dst.dir == nil {
		return perr("rename", newPath, fs.ErrInvalid)
	}
	if dst.n == src.n {
		return nil
	}
	if src.n.isDir() && (dst.dir == src.n || f.contains(src.n, dst.dir)) {
		return perr("rename", newPath, fs.ErrInvalid)
	}
	if dst.n != nil {
		switch {
		case dst.n.isDir() && !src.n.isDir():
			return perr("rename", newPath, fs.ErrIsDir)
		case !dst.n.isDir() && src.n.isDir():
			return perr("rename", newPath, fs.ErrNotDir)
		case dst.n.isDir() && len(dst.n.children) > 0:
			return perr("rename", newPath, fs.ErrNotEmpty)
		}
		f.unlink(dst.dir, dst.name, dst.n)
	}
	delete(src.dir.children, src.name)
	dst.dir.children[dst.name] = src.n
	if src.n.isDir() {
		src.dir.nlink--
		dst.dir.nlink++
	}
	now := f.now()
	src.dir.mtime, src.dir.ctime, dst.dir.mtime, dst.dir.ctime, src.n.ctime = now, now, now, now, now
	return nil
}

// contains reports whether directory d is below directory top.
func (f *FS) contains(top, d *node) bool {
	todo := []*node{top}
	for len(todo) > 0 {
		cur := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		for _, c := range cur.children {
			if c == d {
				return true
			}
			if c.isDir() {
				todo = append(todo, c)
			}
		}
	}
	return false
}

// String describes the filesystem for test failures.
func (f *FS) String() string { return fmt.Sprintf("memfs(%s)", f.Type()) }
