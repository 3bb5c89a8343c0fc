package guest

import (
	"errors"
	"fmt"
	"strings"

	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/fs/ext4"
)

// The fs.WriteTree methods of Guest. Each resolves its guest path(s) with
// resolve, following a final symlink exactly where the pkg/fs rules say
// (Stat, Open, ReadFile, ReadDir, Truncate, WriteFile, Chmod, Chown and
// Utimes do; Lstat, Readlink, Xattrs, Remove, RemoveAll, Rename, Mkdir,
// Symlink, Mknod and Link do not), then calls the one filesystem holding
// the result with a path inside it that has no symlink left to follow.

func (g *Guest) reader(op, p string, follow bool) (target, error) {
	return g.lookup(op, p, follow || hasTrailingSlash(p))
}

// lookup resolves p for op and wraps a failure in a *PathError.
func (g *Guest) lookup(op, p string, follow bool) (target, error) {
	t, err := g.resolve(p, follow)
	if err != nil {
		return target{}, &PathError{Op: op, Path: p, Err: err}
	}
	return t, nil
}

// writer is reader plus the checks every change makes: the filesystem is
// writable, and a removal or rename does not name "." or "..".
func (g *Guest) writer(op, p string, follow bool) (target, error) {
	g.forgetDirs()
	if base := p[strings.LastIndexByte(p, '/')+1:]; !follow && (base == "." || base == "..") {
		return target{}, &PathError{Op: op, Path: p, Err: fmt.Errorf("final component %q: %w", base, fs.ErrInvalid)}
	}
	t, err := g.lookup(op, p, follow)
	if err != nil {
		return target{}, err
	}
	if t.offDisk != nil {
		return target{}, &PathError{Op: op, Path: p, Err: unresolvedErr(t.offDisk)}
	}
	if !t.fs.Writable && !writableType(t.fs.Type) {
		// A type imgprep reads but cannot write (xfs): both an
		// unsupported filesystem and a read-only one, with the engine's
		// reason when it gave one (a dirty log).
		why := unsupportedWhy(t.fs.Type)
		if r, ok := t.fs.FS.(interface{ Refusal() error }); ok {
			why = r.Refusal().Error()
		} else if t.fs.FS != nil { // readable (btrfs): name the filesystem
			why = t.fs.Desc() + ": " + why
		}
		u := &UnsupportedError{Type: t.fs.Type, Point: t.point, Why: why}
		return target{}, &PathError{Op: op, Path: p, Err: fmt.Errorf("%w: %w", u, fs.ErrReadOnly)}
	}
	if !t.fs.Writable {
		ro := &ReadOnlyError{Path: p, FS: t.fs.Desc(), Point: t.point, Why: t.fs.Why, Cause: t.fs.refused}
		var re *ext4.RefusalError
		if errors.As(t.fs.refused, &re) {
			ro.Reason = re.Reason
		}
		return target{}, &PathError{Op: op, Path: p, Err: ro}
	}
	if _, ok := t.fs.FS.(fs.WritableFS); !ok {
		return target{}, &PathError{Op: op, Path: p, Err: fmt.Errorf("%s mounted at %s has no write support: %w", t.fs.Desc(), t.point, fs.ErrReadOnly)}
	}
	return t, nil
}

func (t target) w() fs.WritableFS { return t.fs.FS.(fs.WritableFS) }

func wrap(op, p string, err error) error {
	if err == nil {
		return nil
	}
	return &PathError{Op: op, Path: p, Err: err}
}

// notMountPoint refuses to remove or rename a mount point, or a directory
// with a mount point below it (the guest's kernel would say EBUSY; here
// nothing is changed).
func (g *Guest) notMountPoint(op, p string, t target, tree bool) error {
	for _, m := range g.mounts {
		if m.Point == t.guestPath || (tree && m.Point != "/" && under(m.Point, t.guestPath)) {
			return &PathError{Op: op, Path: p, Err: fmt.Errorf("%s is a mount point (%s): %w", m.Point, m.FS.Desc(), ErrMountPoint)}
		}
	}
	for _, u := range g.unresolved {
		if u.Point == t.guestPath || (tree && under(u.Point, t.guestPath)) {
			return &PathError{Op: op, Path: p, Err: fmt.Errorf("%s is a mount point (fstab source %s): %w", u.Point, u.Spec, ErrMountPoint)}
		}
	}
	return nil
}

// Lstat returns the attributes of p without following a final symlink.
func (g *Guest) Lstat(p string) (fs.Attr, error) {
	t, err := g.reader("lstat", p, false)
	if err != nil {
		return fs.Attr{}, err
	}
	a, err := t.fs.FS.Lstat(t.inner)
	return a, wrap("lstat", p, err)
}

// Stat returns the attributes of p, following symlinks.
func (g *Guest) Stat(p string) (fs.Attr, error) {
	t, err := g.reader("stat", p, true)
	if err != nil {
		return fs.Attr{}, err
	}
	a, err := t.fs.FS.Stat(t.inner)
	return a, wrap("stat", p, err)
}

// ReadDir lists the directory p. A mount point below it is listed as the
// directory it is in the parent filesystem. The mount point of an fstab
// entry whose filesystem is not on this disk lists as empty.
func (g *Guest) ReadDir(p string) ([]fs.DirEntry, error) {
	t, err := g.reader("readdir", p, true)
	if err != nil {
		return nil, err
	}
	if t.offDisk != nil {
		return nil, nil
	}
	d, err := t.fs.FS.ReadDir(t.inner)
	return d, wrap("readdir", p, err)
}

// Open opens the regular file p.
func (g *Guest) Open(p string) (fs.File, error) {
	t, err := g.reader("open", p, true)
	if err != nil {
		return nil, err
	}
	f, err := t.fs.FS.Open(t.inner)
	return f, wrap("open", p, err)
}

// ReadFile reads the whole regular file p.
func (g *Guest) ReadFile(p string) ([]byte, error) {
	t, err := g.reader("read", p, true)
	if err != nil {
		return nil, err
	}
	b, err := t.fs.FS.ReadFile(t.inner)
	return b, wrap("read", p, err)
}

// Readlink returns the target of the symlink p.
func (g *Guest) Readlink(p string) (string, error) {
	t, err := g.reader("readlink", p, false)
	if err != nil {
		return "", err
	}
	s, err := t.fs.FS.Readlink(t.inner)
	return s, wrap("readlink", p, err)
}

// Xattrs returns the extended attributes of p, not following a final
// symlink.
func (g *Guest) Xattrs(p string) (map[string][]byte, error) {
	t, err := g.reader("xattrs", p, false)
	if err != nil {
		return nil, err
	}
	x, err := t.fs.FS.Xattrs(t.inner)
	return x, wrap("xattrs", p, err)
}

// Where names the filesystem holding p (not following a final symlink)
// and its mount point: "ext4 on partition 3 (/var)".
func (g *Guest) Where(p string) (string, error) {
	t, err := g.resolve(p, false)
	if err == nil && t.offDisk != nil {
		err = unresolvedErr(t.offDisk)
	}
	if err != nil {
		return "", &PathError{Op: "where", Path: p, Err: err}
	}
	return t.fs.Desc() + " (" + t.point + ")", nil
}

// Remove removes the file, symlink or empty directory p; a final symlink
// is removed, never followed.
func (g *Guest) Remove(p string) error {
	t, err := g.writer("remove", p, false)
	if err != nil {
		return err
	}
	if err := g.notMountPoint("remove", p, t, false); err != nil {
		return err
	}
	return wrap("remove", p, t.w().Remove(t.inner))
}

// RemoveAll removes p and everything below it; a final symlink is removed,
// never followed. A missing p is not an error. It refuses, changing
// nothing, when a mount point lies at or below p.
func (g *Guest) RemoveAll(p string) error {
	t, err := g.writer("removeall", p, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := g.notMountPoint("removeall", p, t, true); err != nil {
		return err
	}
	return wrap("removeall", p, t.w().RemoveAll(t.inner))
}

// Truncate sets the size of the regular file p.
func (g *Guest) Truncate(p string, size int64) error {
	t, err := g.writer("truncate", p, true)
	if err != nil {
		return err
	}
	return wrap("truncate", p, t.w().Truncate(t.inner, size))
}

// WriteFile creates or overwrites the regular file p, following a final
// symlink as open(2) with O_CREAT does.
func (g *Guest) WriteFile(p string, data []byte, opts fs.WriteOptions) error {
	t, err := g.writer("write", p, true)
	if err != nil {
		return err
	}
	return wrap("write", p, t.w().WriteFile(t.inner, data, opts))
}

// Mkdir creates the directory p.
func (g *Guest) Mkdir(p string, perm uint32, owner fs.Owner) error {
	t, err := g.writer("mkdir", p, false)
	if err != nil {
		return err
	}
	return wrap("mkdir", p, t.w().Mkdir(t.inner, perm, owner))
}

// Symlink creates the symlink p pointing to target (stored as given: it
// is resolved inside the guest when followed).
func (g *Guest) Symlink(linkTarget, p string, owner fs.Owner) error {
	t, err := g.writer("symlink", p, false)
	if err != nil {
		return err
	}
	return wrap("symlink", p, t.w().Symlink(linkTarget, t.inner, owner))
}

// Mknod creates a device node, fifo or socket at p.
func (g *Guest) Mknod(p string, mode uint32, rdev uint32, owner fs.Owner) error {
	t, err := g.writer("mknod", p, false)
	if err != nil {
		return err
	}
	return wrap("mknod", p, t.w().Mknod(t.inner, mode, rdev, owner))
}

// Link creates the hard link newPath to oldPath, which must be on the same
// filesystem.
func (g *Guest) Link(oldPath, newPath string) error {
	from, err := g.writer("link", oldPath, false)
	if err != nil {
		return err
	}
	to, err := g.writer("link", newPath, false)
	if err != nil {
		return err
	}
	if from.fs != to.fs {
		return &PathError{Op: "link", Path: oldPath, Err: fmt.Errorf("to %s on %s: %w", newPath, to.fs.Desc(), fs.ErrCrossDev)}
	}
	return wrap("link", oldPath, from.w().Link(from.inner, to.inner))
}

// Chmod sets the permission bits of p.
func (g *Guest) Chmod(p string, perm uint32) error {
	t, err := g.writer("chmod", p, true)
	if err != nil {
		return err
	}
	return wrap("chmod", p, t.w().Chmod(t.inner, perm))
}

// Chown sets the owner of p.
func (g *Guest) Chown(p string, owner fs.Owner) error {
	t, err := g.writer("chown", p, true)
	if err != nil {
		return err
	}
	return wrap("chown", p, t.w().Chown(t.inner, owner))
}

// Utimes sets the access and modification times of p.
func (g *Guest) Utimes(p string, tm fs.Times) error {
	t, err := g.writer("utimes", p, true)
	if err != nil {
		return err
	}
	return wrap("utimes", p, t.w().Utimes(t.inner, tm))
}

// Rename moves oldPath to newPath within one filesystem; neither final
// component is followed.
func (g *Guest) Rename(oldPath, newPath string) error {
	from, err := g.writer("rename", oldPath, false)
	if err != nil {
		return err
	}
	to, err := g.writer("rename", newPath, false)
	if err != nil {
		return err
	}
	if err := g.notMountPoint("rename", oldPath, from, true); err != nil {
		return err
	}
	if err := g.notMountPoint("rename", newPath, to, true); err != nil {
		return err
	}
	if from.fs != to.fs {
		return &PathError{Op: "rename", Path: oldPath, Err: fmt.Errorf("to %s on %s: %w", newPath, to.fs.Desc(), fs.ErrCrossDev)}
	}
	return wrap("rename", oldPath, from.w().Rename(from.inner, to.inner))
}
