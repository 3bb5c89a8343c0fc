package fs

import (
	"errors"
	"fmt"
	"io"
	"path"
)

// Tree is the path-level WriteTree over a Walker: every method resolves
// its path(s) once with the Walker, then makes one call to the engine
// holding the result. It follows a final symlink exactly where the rules
// of this package say. An engine's FS type embeds a Tree over itself to
// implement ReadTree and WriteTree; pkg/guest uses one over the guest's
// mounts.
type Tree struct {
	W Walker
	// Name is the filesystem (or guest) named in every PathError.
	Name string
	// Check, when set, is called before every change with the operation
	// and each resolved path it changes, and can refuse the change (a
	// read-only filesystem, a mount point).
	Check func(op string, r *Resolved) error
}

// NewTree returns the Tree of a single engine named name.
func NewTree(e Engine, name string) Tree {
	return Tree{W: Walker{Root: e}, Name: name}
}

// Engine returns the root engine.
func (t *Tree) Engine() Engine { return t.W.Root }

func (t *Tree) err(op, p string, err error) error {
	if err == nil {
		return nil
	}
	return &PathError{FS: t.Name, Op: op, Path: p, Err: err}
}

// Resolve resolves p with the tree's Walker and wraps a failure in a
// PathError for op.
func (t *Tree) Resolve(op, p string, follow bool) (Resolved, error) {
	r, err := t.W.Resolve(p, follow)
	return r, t.err(op, p, err)
}

// existing resolves p to an existing file.
func (t *Tree) existing(op, p string, follow bool) (Resolved, error) {
	r, err := t.Resolve(op, p, follow || HasTrailingSlash(p))
	if err == nil && !r.Exists() {
		err = t.err(op, p, ErrNotExist)
	}
	return r, err
}

// change resolves p for a change: the Check hook has passed it.
func (t *Tree) change(op, p string, follow bool) (Resolved, error) {
	r, err := t.Resolve(op, p, follow)
	if err != nil {
		return r, err
	}
	return r, t.check(op, p, &r)
}

func (t *Tree) check(op, p string, r *Resolved) error {
	if t.Check != nil {
		if err := t.Check(op, r); err != nil {
			return t.err(op, p, err)
		}
	}
	return nil
}

// entry is change for a path naming an entry of a directory (not "/", not
// ending in "." or "..").
func (t *Tree) entry(op, p string) (Resolved, WriteEngine, error) {
	r, err := t.Resolve(op, p, false)
	if err != nil {
		return r, nil, err
	}
	noEntry := t.err(op, p, fmt.Errorf("%w: %s names no directory entry", ErrInvalid, p))
	if base := path.Base(p); r.Name == "" && (base == "." || base == "..") {
		return r, nil, noEntry
	}
	if err := t.check(op, p, &r); err != nil {
		return r, nil, err
	}
	if r.Name == "" {
		return r, nil, noEntry
	}
	we, ok := r.Dir.E.(WriteEngine)
	if !ok {
		return r, nil, t.err(op, p, ErrReadOnly)
	}
	return r, we, nil
}

// node is change for an existing file.
func (t *Tree) node(op, p string, follow bool) (Resolved, WriteEngine, error) {
	r, err := t.change(op, p, follow)
	if err != nil {
		return r, nil, err
	}
	if !r.Exists() {
		return r, nil, t.err(op, p, ErrNotExist)
	}
	we, ok := r.Node.E.(WriteEngine)
	if !ok {
		return r, nil, t.err(op, p, ErrReadOnly)
	}
	return r, we, nil
}

// Lstat returns the attributes of p without following a final symlink.
func (t *Tree) Lstat(p string) (Attr, error) {
	r, err := t.existing("lstat", p, false)
	return r.Attr, err
}

// Stat returns the attributes of p, following a final symlink.
func (t *Tree) Stat(p string) (Attr, error) {
	r, err := t.existing("stat", p, true)
	return r.Attr, err
}

// ReadDir lists directory p, without "." and "..", in the engine's order.
func (t *Tree) ReadDir(p string) ([]DirEntry, error) {
	var out []DirEntry
	err := t.ReadDirFunc(p, func(e DirEntry) bool {
		out = append(out, e)
		return true
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ReadDirFunc calls fn for each entry of directory p until fn returns
// false, holding no more of the directory in memory than the engine does.
func (t *Tree) ReadDirFunc(p string, fn func(DirEntry) bool) error {
	r, err := t.existing("readdir", p, true)
	if err != nil {
		return err
	}
	if r.Attr.Type() != TypeDir {
		return t.err("readdir", p, ErrNotDir)
	}
	return t.err("readdir", p, r.Node.E.ReadDir(r.Node.Ino, fn))
}

func regular(a Attr) error {
	switch a.Type() {
	case TypeRegular:
		return nil
	case TypeDir:
		return ErrIsDir
	}
	return fmt.Errorf("%w: not a regular file", ErrInvalid)
}

// Open opens regular file p.
func (t *Tree) Open(p string) (File, error) {
	r, err := t.existing("open", p, true)
	if err != nil {
		return nil, err
	}
	if err := regular(r.Attr); err != nil {
		return nil, t.err("open", p, err)
	}
	f, err := r.Node.E.OpenFile(r.Node.Ino)
	return f, t.err("open", p, err)
}

// ReadFile reads the whole regular file p.
func (t *Tree) ReadFile(p string) ([]byte, error) {
	r, err := t.existing("read", p, true)
	if err != nil {
		return nil, err
	}
	if err := regular(r.Attr); err != nil {
		return nil, t.err("read", p, err)
	}
	b, err := ReadAll(r.Node)
	return b, t.err("read", p, err)
}

// ReadAll reads the whole of regular file l.
func ReadAll(l Loc) ([]byte, error) {
	if fr, ok := l.E.(FileReader); ok {
		return fr.ReadFile(l.Ino)
	}
	f, err := l.E.OpenFile(l.Ino)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, f.Size())
	if _, err := f.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return b, nil
}

// Readlink returns the target of symlink p.
func (t *Tree) Readlink(p string) (string, error) {
	r, err := t.existing("readlink", p, false)
	if err != nil {
		return "", err
	}
	if r.Attr.Type() != TypeSymlink {
		return "", t.err("readlink", p, ErrNotSymlink)
	}
	s, err := r.Node.E.Readlink(r.Node.Ino)
	return s, t.err("readlink", p, err)
}

// Xattrs returns the extended attributes of p, not following a final
// symlink.
func (t *Tree) Xattrs(p string) (map[string][]byte, error) {
	r, err := t.existing("xattrs", p, false)
	if err != nil {
		return nil, err
	}
	x, err := r.Node.E.Xattrs(r.Node.Ino)
	return x, t.err("xattrs", p, err)
}

// Remove removes the file, symlink or empty directory p; a final symlink
// is removed, never followed.
func (t *Tree) Remove(p string) error {
	r, we, err := t.entry("remove", p)
	if err != nil {
		return err
	}
	if !r.Exists() {
		return t.err("remove", p, ErrNotExist)
	}
	return t.err("remove", p, we.Remove(r.Dir.Ino, r.Name))
}

// RemoveAll removes p and everything below it; a final symlink is removed,
// never followed. A missing p is not an error.
func (t *Tree) RemoveAll(p string) error {
	r, we, err := t.entry("removeall", p)
	if errors.Is(err, ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !r.Exists() {
		return nil
	}
	return t.err("removeall", p, we.RemoveAll(r.Dir.Ino, r.Name))
}

// Truncate sets the size of regular file p.
func (t *Tree) Truncate(p string, size int64) error {
	r, we, err := t.node("truncate", p, true)
	if err != nil {
		return err
	}
	if err := regular(r.Attr); err != nil {
		return t.err("truncate", p, err)
	}
	return t.err("truncate", p, we.Truncate(r.Node.Ino, size))
}

// WriteFile creates or overwrites regular file p, following a final
// symlink (a dangling one creates its target) as open(2) with O_CREAT.
func (t *Tree) WriteFile(p string, data []byte, opts WriteOptions) error {
	r, err := t.change("write", p, true)
	if err != nil {
		return err
	}
	if r.Exists() {
		if err := regular(r.Attr); err != nil {
			return t.err("write", p, err)
		}
	}
	if r.Name == "" {
		return t.err("write", p, ErrIsDir)
	}
	we, ok := r.Dir.E.(WriteEngine)
	if !ok {
		return t.err("write", p, ErrReadOnly)
	}
	return t.err("write", p, we.WriteFile(r.Dir.Ino, r.Name, data, opts))
}

// create is entry for a path that must not exist yet.
func (t *Tree) create(op, p string) (Resolved, WriteEngine, error) {
	r, we, err := t.entry(op, p)
	if err == nil && r.Exists() {
		err = t.err(op, p, ErrExist)
	}
	return r, we, err
}

// Mkdir creates directory p.
func (t *Tree) Mkdir(p string, perm uint32, owner Owner) error {
	r, we, err := t.create("mkdir", p)
	if err != nil {
		return err
	}
	return t.err("mkdir", p, we.Mkdir(r.Dir.Ino, r.Name, perm, owner))
}

// Symlink creates symlink p pointing to target, stored as given.
func (t *Tree) Symlink(target, p string, owner Owner) error {
	r, we, err := t.create("symlink", p)
	if err != nil {
		return err
	}
	return t.err("symlink", p, we.Symlink(r.Dir.Ino, r.Name, target, owner))
}

// Mknod creates a device node, fifo or socket at p.
func (t *Tree) Mknod(p string, mode uint32, rdev uint32, owner Owner) error {
	r, we, err := t.create("mknod", p)
	if err != nil {
		return err
	}
	m, ok := we.(Mknoder)
	if !ok {
		return t.err("mknod", p, fmt.Errorf("%w: special files are not supported here", ErrInvalid))
	}
	return t.err("mknod", p, m.Mknod(r.Dir.Ino, r.Name, mode, rdev, owner))
}

// Link creates the hard link newPath to oldPath; neither final component
// is followed.
func (t *Tree) Link(oldPath, newPath string) error {
	from, _, err := t.node("link", oldPath, false)
	if err != nil {
		return err
	}
	if from.Attr.Type() == TypeDir {
		return t.err("link", oldPath, ErrIsDir)
	}
	to, we, err := t.create("link", newPath)
	if err != nil {
		return err
	}
	if to.Dir.E != from.Node.E {
		return t.err("link", oldPath, fmt.Errorf("to %s: %w", newPath, ErrCrossDev))
	}
	l, ok := we.(Linker)
	if !ok {
		return t.err("link", newPath, fmt.Errorf("%w: hard links are not supported here", ErrInvalid))
	}
	return t.err("link", oldPath, l.Link(from.Node.Ino, to.Dir.Ino, to.Name))
}

func (t *Tree) setattr(op, p string, c AttrChange) error {
	r, we, err := t.node(op, p, true)
	if err != nil {
		return err
	}
	return t.err(op, p, we.Setattr(r.Node.Ino, c))
}

// Chmod sets the permission bits of p.
func (t *Tree) Chmod(p string, perm uint32) error {
	return t.setattr("chmod", p, AttrChange{Set: SetPerm, Perm: perm})
}

// Chown sets the owner of p.
func (t *Tree) Chown(p string, owner Owner) error {
	return t.setattr("chown", p, AttrChange{Set: SetOwner, Owner: owner})
}

// Utimes sets the access and modification times of p.
func (t *Tree) Utimes(p string, tm Times) error {
	return t.setattr("utimes", p, AttrChange{Set: SetTimes, Times: tm})
}

// Rename moves oldPath to newPath within one filesystem; neither final
// component is followed.
func (t *Tree) Rename(oldPath, newPath string) error {
	from, we, err := t.entry("rename", oldPath)
	if err != nil {
		return err
	}
	if !from.Exists() {
		return t.err("rename", oldPath, ErrNotExist)
	}
	to, _, err := t.entry("rename", newPath)
	if err != nil {
		return err
	}
	if to.Dir.E != from.Dir.E {
		return t.err("rename", oldPath, fmt.Errorf("to %s: %w", newPath, ErrCrossDev))
	}
	return t.err("rename", oldPath, we.Rename(from.Dir.Ino, from.Name, to.Dir.Ino, to.Name))
}
