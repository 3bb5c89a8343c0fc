package memfs

import (
	"bytes"
	"errors"
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
// existing components.
func (f *FS) mkdirAll(p string) error {
	if p == "/" {
		return nil
	}
	r, err := f.W.Resolve(p, true)
	if errors.Is(err, fs.ErrNotExist) {
		if err := f.mkdirAll(path.Dir(p)); err != nil {
			return err
		}
		r, err = f.W.Resolve(p, true)
	}
	if err != nil {
		return err
	}
	if r.Exists() {
		if r.Attr.Type() != fs.TypeDir {
			return fs.ErrNotDir
		}
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	_, err = f.create(r.Dir.Ino, r.Name, fs.ModeDir|0o755, fs.Owner{})
	return err
}

// addNode creates (or, for a regular file, replaces the content of) the
// node at p, bypassing ReadOnly, and calls set on it under the lock.
func (f *FS) addNode(op, p string, mode uint32, set func(n *node)) *FS {
	f.must(op, p, f.mkdirAll(path.Dir(p)))
	r, err := f.W.Resolve(p, false)
	f.must(op, p, err)
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Exists() {
		n := f.inodes[r.Node.Ino]
		if n.mode&fs.ModeTypeMask == mode&fs.ModeTypeMask && !n.isSymlink() {
			n.mode = mode
			set(n)
			return f
		}
		f.must(op, p, fs.ErrExist)
	}
	f.must(op, p, nilIf(r.Name == "", fs.ErrInvalid))
	n, err := f.create(r.Dir.Ino, r.Name, mode, fs.Owner{})
	f.must(op, p, err)
	set(n)
	return f
}

// existing returns the node at p, not following a final symlink, and
// returns with f.mu held.
func (f *FS) existing(op, p string) *node {
	r, err := f.W.Resolve(p, false)
	f.must(op, p, err)
	f.must(op, p, nilIf(!r.Exists(), fs.ErrNotExist))
	f.mu.Lock()
	return f.inodes[r.Node.Ino]
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
	return f.addNode("addfile", p, fs.ModeRegular|perm&fs.ModePermMask, func(n *node) { n.data = []byte(content) })
}

// AddDir creates directory p (and its parents) with permissions perm.
func (f *FS) AddDir(p string, perm uint32) *FS {
	return f.addNode("adddir", p, fs.ModeDir|perm&fs.ModePermMask, func(*node) {})
}

// AddSymlink creates the symlink p pointing to target.
func (f *FS) AddSymlink(p, target string) *FS {
	return f.addNode("addsymlink", p, fs.ModeSymlink|0o777, func(n *node) { n.target = target })
}

// AddHardLink makes newPath another name of the existing oldPath.
func (f *FS) AddHardLink(oldPath, newPath string) *FS {
	ro := f.ReadOnly
	f.ReadOnly = false
	defer func() { f.ReadOnly = ro }()
	f.must("addhardlink", newPath, f.mkdirAll(path.Dir(newPath)))
	f.must("addhardlink", newPath, f.Link(oldPath, newPath))
	return f
}

// SetOwner sets the owner of p, without following a final symlink.
func (f *FS) SetOwner(p string, owner fs.Owner) *FS {
	n := f.existing("setowner", p)
	defer f.mu.Unlock()
	n.uid, n.gid = owner.UID, owner.GID
	return f
}

// SetXattr sets the extended attribute name of p, without following a
// final symlink.
func (f *FS) SetXattr(p, name string, value []byte) *FS {
	n := f.existing("setxattr", p)
	defer f.mu.Unlock()
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
	c.inodes = make(map[fs.Ino]*node, len(f.inodes))
	for orig, m := range copies {
		if orig.nlink > 0 || orig == f.root {
			c.inodes[fs.Ino(m.ino)] = m
		}
	}
	c.init()
	return c
}
