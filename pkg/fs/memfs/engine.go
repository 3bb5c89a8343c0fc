package memfs

import (
	"bytes"
	"fmt"
	"sort"

	"github.com/imgprep/imgprep/pkg/fs"
)

// engine is the fs.WriteEngine of an FS: its inode-level steps, each made
// under the FS's lock.
type engine struct{ *FS }

var (
	_ fs.WriteEngine = engine{}
	_ fs.Mknoder     = engine{}
	_ fs.Linker      = engine{}
)

// node returns inode ino; the caller holds f.mu.
func (f *FS) node(ino fs.Ino) (*node, error) {
	n := f.inodes[ino]
	if n == nil {
		return nil, fmt.Errorf("%w: inode %d", fs.ErrNotExist, ino)
	}
	return n, nil
}

// dirNode returns directory ino; the caller holds f.mu.
func (f *FS) dirNode(ino fs.Ino) (*node, error) {
	n, err := f.node(ino)
	if err == nil && !n.isDir() {
		err = fs.ErrNotDir
	}
	return n, err
}

func (e engine) Root() fs.Ino { return fs.Ino(e.root.ino) }

func (e engine) Lookup(dir fs.Ino, name string) (fs.Ino, fs.Attr, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	d, err := e.dirNode(dir)
	if err != nil {
		return 0, fs.Attr{}, err
	}
	c := d.children[name]
	if c == nil {
		return 0, fs.Attr{}, fs.ErrNotExist
	}
	return fs.Ino(c.ino), c.attr(), nil
}

func (e engine) Stat(ino fs.Ino) (fs.Attr, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	n, err := e.node(ino)
	if err != nil {
		return fs.Attr{}, err
	}
	return n.attr(), nil
}

func (e engine) Readlink(ino fs.Ino) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	n, err := e.node(ino)
	if err != nil {
		return "", err
	}
	if !n.isSymlink() {
		return "", fs.ErrNotSymlink
	}
	return n.target, nil
}

// ReadDir lists entries sorted by name (from a snapshot of the names, so
// that fn may call back into the filesystem).
func (e engine) ReadDir(dir fs.Ino, fn func(fs.DirEntry) bool) error {
	e.mu.Lock()
	d, err := e.dirNode(dir)
	if err != nil {
		e.mu.Unlock()
		return err
	}
	out := make([]fs.DirEntry, 0, len(d.children))
	for name, c := range d.children {
		out = append(out, fs.DirEntry{Name: name, Ino: c.ino, Type: fs.TypeOfMode(c.mode)})
	}
	e.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	for _, de := range out {
		if !fn(de) {
			break
		}
	}
	return nil
}

type file struct {
	*bytes.Reader
}

func (file) Close() error { return nil }

// OpenFile reads a snapshot of the content taken at open.
func (e engine) OpenFile(ino fs.Ino) (fs.File, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	n, err := e.node(ino)
	if err != nil {
		return nil, err
	}
	if n.isDir() {
		return nil, fs.ErrIsDir
	}
	if !n.isRegular() {
		return nil, fs.ErrInvalid
	}
	return file{bytes.NewReader(bytes.Clone(n.data))}, nil
}

func (e engine) Xattrs(ino fs.Ino) (map[string][]byte, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	n, err := e.node(ino)
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
	} else {
		n.nlink--
		n.ctime = now
	}
	if n.nlink == 0 {
		delete(f.inodes, fs.Ino(n.ino))
	}
}

// entry returns directory dir and its entry name (nil when missing).
func (f *FS) entry(dir fs.Ino, name string) (*node, *node, error) {
	d, err := f.dirNode(dir)
	if err != nil {
		return nil, nil, err
	}
	return d, d.children[name], nil
}

func (e engine) Remove(dir fs.Ino, name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	d, n, err := e.entry(dir, name)
	if err != nil {
		return err
	}
	if n == nil {
		return fs.ErrNotExist
	}
	if n.isDir() && len(n.children) > 0 {
		return fs.ErrNotEmpty
	}
	e.unlink(d, name, n)
	return nil
}

func (e engine) RemoveAll(dir fs.Ino, name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	d, n, err := e.entry(dir, name)
	if err != nil || n == nil {
		return err
	}
	e.removeTree(n)
	e.unlink(d, name, n)
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

func (e engine) Truncate(ino fs.Ino, size int64) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if size < 0 || size > 1<<32 {
		return fs.ErrInvalid
	}
	n, err := e.node(ino)
	if err != nil {
		return err
	}
	if n.isDir() {
		return fs.ErrIsDir
	}
	if !n.isRegular() {
		return fs.ErrInvalid
	}
	if int64(len(n.data)) >= size {
		n.data = n.data[:size:size]
	} else {
		n.data = append(n.data, make([]byte, size-int64(len(n.data)))...)
	}
	now := e.now()
	n.mtime, n.ctime = now, now
	return nil
}

func (e engine) WriteFile(dir fs.Ino, name string, data []byte, opts fs.WriteOptions) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	d, n, err := e.entry(dir, name)
	if err != nil {
		return err
	}
	if n == nil {
		n = e.newNode(fs.ModeRegular|opts.Perm&fs.ModePermMask, opts.Owner)
		d.children[name] = n
		now := e.now()
		d.mtime, d.ctime = now, now
	} else if n.isDir() {
		return fs.ErrIsDir
	} else if !n.isRegular() {
		return fs.ErrInvalid
	}
	n.data = bytes.Clone(data)
	now := e.now()
	n.mtime, n.ctime = now, now
	if !opts.Times.Mtime.IsZero() {
		n.mtime = opts.Times.Mtime
	}
	if !opts.Times.Atime.IsZero() {
		n.atime = opts.Times.Atime
	}
	return nil
}

// create adds a new node name to dir, which must not hold it yet.
func (f *FS) create(dir fs.Ino, name string, mode uint32, owner fs.Owner) (*node, error) {
	d, n, err := f.entry(dir, name)
	if err != nil {
		return nil, err
	}
	if n != nil {
		return nil, fs.ErrExist
	}
	n = f.newNode(mode, owner)
	d.children[name] = n
	if n.isDir() {
		d.nlink++
	}
	now := f.now()
	d.mtime, d.ctime = now, now
	return n, nil
}

func (e engine) Mkdir(dir fs.Ino, name string, perm uint32, owner fs.Owner) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, err := e.create(dir, name, fs.ModeDir|perm&fs.ModePermMask, owner)
	return err
}

func (e engine) Symlink(dir fs.Ino, name, target string, owner fs.Owner) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if target == "" || len(target) > 4095 {
		return fs.ErrInvalid
	}
	n, err := e.create(dir, name, fs.ModeSymlink|0o777, owner)
	if err != nil {
		return err
	}
	n.target = target
	return nil
}

func (e engine) Mknod(dir fs.Ino, name string, mode uint32, rdev uint32, owner fs.Owner) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch mode & fs.ModeTypeMask {
	case fs.ModeChar, fs.ModeBlock, fs.ModeFIFO, fs.ModeSocket:
	default:
		return fs.ErrInvalid
	}
	n, err := e.create(dir, name, mode, owner)
	if err != nil {
		return err
	}
	n.rdev = rdev
	return nil
}

func (e engine) Link(ino fs.Ino, dir fs.Ino, name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	old, err := e.node(ino)
	if err != nil {
		return err
	}
	if old.isDir() {
		return fs.ErrIsDir
	}
	d, n, err := e.entry(dir, name)
	if err != nil {
		return err
	}
	if n != nil {
		return fs.ErrExist
	}
	d.children[name] = old
	old.nlink++
	now := e.now()
	old.ctime, d.mtime, d.ctime = now, now, now
	return nil
}

func (e engine) Setattr(ino fs.Ino, c fs.AttrChange) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	n, err := e.node(ino)
	if err != nil {
		return err
	}
	if c.Set&fs.SetPerm != 0 {
		n.mode = n.mode&fs.ModeTypeMask | c.Perm&fs.ModePermMask
	}
	if c.Set&fs.SetOwner != 0 {
		n.uid, n.gid = c.Owner.UID, c.Owner.GID
	}
	if c.Set&fs.SetTimes != 0 {
		if !c.Times.Atime.IsZero() {
			n.atime = c.Times.Atime
		}
		if !c.Times.Mtime.IsZero() {
			n.mtime = c.Times.Mtime
		}
	}
	n.ctime = e.now()
	return nil
}

func (e engine) Rename(dir fs.Ino, name string, newDir fs.Ino, newName string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	sd, sn, err := e.entry(dir, name)
	if err != nil {
		return err
	}
	if sn == nil {
		return fs.ErrNotExist
	}
	dd, dn, err := e.entry(newDir, newName)
	if err != nil {
		return err
	}
	if dn == sn {
		return nil
	}
	if sn.isDir() && (dd == sn || e.contains(sn, dd)) {
		return fs.ErrInvalid
	}
	if dn != nil {
		switch {
		case dn.isDir() && !sn.isDir():
			return fs.ErrIsDir
		case !dn.isDir() && sn.isDir():
			return fs.ErrNotDir
		case dn.isDir() && len(dn.children) > 0:
			return fs.ErrNotEmpty
		}
		e.unlink(dd, newName, dn)
	}
	delete(sd.children, name)
	dd.children[newName] = sn
	if sn.isDir() {
		sd.nlink--
		dd.nlink++
	}
	now := e.now()
	sd.mtime, sd.ctime, dd.mtime, dd.ctime, sn.ctime = now, now, now, now, now
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
