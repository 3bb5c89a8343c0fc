package memfs

import (
	"bytes"
	"fmt"
	"path"

	"github.com/imgprep/imgprep/pkg/fs"
)

// The builder methods below set up a filesystem for a test. They create
// missing parent directories (mode 0755, root-owned), ignore ReadOnly, and
// panic when the path cannot be created: a test's setup is wrong then.
// Each returns f so that calls chain.

func (f *FS) must(op, p string, err error) {
	if err != nil {
		panic(fmt.Sprintf("memfs builder: %s %s: %v", op, p, err))
	}
}

// mkdirAll creates p and its missing parents, following symlinks in
// existing components. The caller holds f.mu.
func (f *FS) mkdirAll(p string) error {
	if p == "/" {
		return nil
	}
	r, err := f.resolve(p, true)
	if err == fs.ErrNotExist {
		if err := f.mkdirAll(path.Dir(p)); err != nil {
			return err
		}
		r, err = f.resolve(p, true)
	}
	if err != nil {
		return err
	}
	if r.n != nil {
		if !r.n.isDir() {
			return fs.ErrNotDir
		}
		return nil
	}
	if r.dir == nil {
		return fs.ErrInvalid
	}
	n := f.newNode(fs.ModeDir|0o755, fs.Owner{})
	r.dir.children[r.name] = n
	r.dir.nlink++
	return nil
}

// addNode creates (or, for a regular file, replaces the content of) the
// node at p, bypassing ReadOnly.
func (f *FS) addNode(op, p string, mode uint32) *node {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.must(op, p, f.mkdirAll(path.Dir(p)))
	r, err := f.resolve(p, false)
	f.must(op, p, err)
	if r.n != nil {
		if r.n.mode&fs.ModeTypeMask == mode&fs.ModeTypeMask && !r.n.isSymlink() {
			r.n.mode = mode
			return r.n
		}
		f.must(op, p, fs.ErrExist)
	}
	f.must(op, p, nilIf(r.dir == nil, fs.ErrInvalid))
	n := f.newNode(mode, fs.Owner{})
	r.dir.children[r.name] = n
	if n.isDir() {
		r.dir.nlink++
	}
	return n
}

func nilIf(cond bool, err error) error {
	if cond {
		return err
	}
	return nil
}

// AddFile creates the regular file p holding content with permissions
// perm, owned by root. An existing regular file gets the new content and
// mode.
func (f *FS) AddFile(p, content string, perm uint32) *FS {
	n := f.addNode("addfile", p, fs.ModeRegular|perm&fs.ModePermMask)
	f.mu.Lock()
	n.data = []byte(content)
	f.mu.Unlock()
	return f
}

// AddDir creates directory p (and its parents) with permissions perm.
func (f *FS) AddDir(p string, perm uint32) *FS {
	f.addNode("adddir", p, fs.ModeDir|perm&fs.ModePermMask)
	return f
}

// AddSymlink creates the symlink p pointing to target.
func (f *FS) AddSymlink(p, target string) *FS {
	n := f.addNode("addsymlink", p, fs.ModeSymlink|0o777)
	f.mu.Lock()
	n.target = target
	f.mu.Unlock()
	return f
}

// AddHardLink makes newPath another name of the existing oldPath.
func (f *FS) AddHardLink(oldPath, newPath string) *FS {
	ro := f.ReadOnly
	f.ReadOnly = false
	defer func() { f.ReadOnly = ro }()
	f.mu.Lock()
	f.must("addhardlink", newPath, f.mkdirAll(path.Dir(newPath)))
	f.mu.Unlock()
	f.must("addhardlink", newPath, f.Link(oldPath, newPath))
	return f
}

// SetOwner sets the owner of p, without following a final symlink.
func (f *FS) SetOwner(p string, owner fs.Owner) *FS {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.get("setowner", p, false)
	f.must("setowner", p, err)
	n.uid, n.gid = owner.UID, owner.GID
	return f
}

// SetXattr sets the extended attribute name of p, without following a
// final symlink.
func (f *FS) SetXattr(p, name string, value []byte) *FS {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.get("setxattr", p, false)
	f.must("setxattr", p, err)
	if n.xattrs == nil {
		n.xattrs = map[string][]byte{}
	}
	n.xattrs[name] = bytes.Clone(value)
	return f
}

// Clone returns a deep copy of f: same inode numbers, hard links kept,
// settings (ReadOnly, Name, FSType, Clock) copied.
func (f *FS) Clone() *FS {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := &FS{ReadOnly: f.ReadOnly, Name: f.Name, FSType: f.FSType, Clock: f.Clock, nextIno: f.nextIno}
	copies := map[*node]*node{}
	var cp func(n *node) *node
	cp = func(n *node) *node {
		if m, ok := copies[n]; ok {
			return m
		}
		m := *n
		m.data = bytes.Clone(n.data)
		if n.xattrs != nil {
			m.xattrs = make(map[string][]byte, len(n.xattrs))
			for k, v := range n.xattrs {
				m.xattrs[k] = bytes.Clone(v)
			}
		}
		copies[n] = &m
		if n.children != nil {
			m.children = make(map[string]*node, len(n.children))
			for name, ch := range n.children {
				m.children[name] = cp(ch)
			}
		}
		return &m
	}
	c.root = cp(f.root)
	return c
}
