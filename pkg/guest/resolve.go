package guest

import (
	"errors"
	"fmt"
	"strings"

	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/fs/ext4"
)

// A Guest resolves its paths with the one walker of pkg/fs over the
// engines of its filesystems: the Guest is the walker's mount table
// (Cover), and the fs.Tree embedded in Guest gives the path operations,
// with check refusing the changes a guest must not make.

// engineOf returns the inode-level engine of a filesystem, nil when it
// has none.
func engineOf(f *Filesystem) fs.Engine {
	if e, ok := f.FS.(interface{ Engine() fs.Engine }); ok {
		return e.Engine()
	}
	return nil
}

// initTree points the guest's Tree at its root filesystem and itself as
// the mount table.
func (g *Guest) initTree() {
	g.Tree = fs.Tree{W: fs.Walker{Root: engineOf(g.root), Mounts: g}, Name: "guest", Check: g.check}
}

// Cover implements fs.MountTable: the root of the filesystem mounted at
// the canonical guest path p, an empty, unchangeable directory at the
// mount point of an fstab entry whose filesystem is not on this disk,
// or under itself. under is zero when p does not exist below.
func (g *Guest) Cover(p string, under fs.Loc) (fs.Loc, error) {
	for i := len(g.mounts) - 1; i >= 0; i-- {
		m := g.mounts[i]
		if m.Point != p {
			continue
		}
		if m.FS.FS == nil {
			return fs.Loc{}, unsupported(m)
		}
		e := engineOf(m.FS)
		if e == nil {
			return fs.Loc{}, &UnsupportedError{Type: m.FS.Type, Point: m.Point, Why: "its engine has no inode-level interface"}
		}
		if m.Root == "" || m.Root == "/" {
			return fs.Loc{E: e, Ino: e.Root()}, nil
		}
		// A bind mount: the source's directory, within its filesystem.
		w := fs.Walker{Root: e}
		r, err := w.Resolve(m.Root, true)
		if err == nil && !r.Exists() {
			err = fs.ErrNotExist
		}
		if err != nil {
			return fs.Loc{}, fmt.Errorf("bind mount of %s at %s: %w", m.Bind, m.Point, err)
		}
		return r.Node, nil
	}
	for i := range g.unresolved {
		u := &g.unresolved[i]
		if u.Point == p && under.E != nil {
			return fs.Loc{E: offDisk{under: under.E, u: u}, Ino: under.Ino}, nil
		}
	}
	return under, nil
}

func unsupported(m Mount) error {
	t := m.FS.Type
	if t == "" {
		t = "unrecognised data"
	}
	why := m.FS.Why
	if m.FS.Err != nil {
		why = m.FS.Err.Error()
	}
	if why == "" {
		why = unsupportedWhy(t)
	}
	return &UnsupportedError{Type: t, Point: m.Point, Why: why}
}

// offDisk is the directory under the mount point of an fstab entry whose
// filesystem is not on this disk: it reads as an empty directory with the
// attributes of the one under it, and every path below it fails with an
// *UnresolvedError.
type offDisk struct {
	under fs.Engine
	u     *Unresolved
}

func (o offDisk) err() error                                     { return unresolvedErr(o.u) }
func (o offDisk) Root() fs.Ino                                   { return o.under.Root() }
func (o offDisk) Lookup(fs.Ino, string) (fs.Ino, fs.Attr, error) { return 0, fs.Attr{}, o.err() }
func (o offDisk) Stat(ino fs.Ino) (fs.Attr, error)               { return o.under.Stat(ino) }
func (o offDisk) Readlink(fs.Ino) (string, error)                { return "", fs.ErrNotSymlink }
func (o offDisk) ReadDir(fs.Ino, func(fs.DirEntry) bool) error   { return nil }
func (o offDisk) OpenFile(fs.Ino) (fs.File, error)               { return nil, fs.ErrIsDir }
func (o offDisk) Xattrs(ino fs.Ino) (map[string][]byte, error)   { return o.under.Xattrs(ino) }

func unresolvedErr(u *Unresolved) error { return &UnresolvedError{Unresolved: *u} }

// target is a resolved guest path: the filesystem holding it, its mount
// point and the path inside that filesystem.
type target struct {
	guestPath string // canonical guest path: absolute, no ".", "..", or symlink
	point     string // mount point of the filesystem
	fs        *Filesystem
	inner     string
	offDisk   *Unresolved // set at the mount point of an fstab entry not on this disk
}

// resolve resolves a guest path with the walker and says where it lands.
// With follow, a final symlink is followed too. A missing final component
// is not an error; a missing or non-directory intermediate one is.
func (g *Guest) resolve(p string, follow bool) (target, error) {
	if !strings.HasPrefix(p, "/") {
		return target{}, ErrRelativePath
	}
	r, err := g.W.Resolve(p, follow)
	if err != nil {
		return target{}, err
	}
	return g.targetOf(&r), nil
}

// targetOf describes a resolution: the filesystem holding the final
// component (the mounted one at a mount point).
func (g *Guest) targetOf(r *fs.Resolved) target {
	t := target{guestPath: r.Path}
	e := r.Node.E
	if e == nil {
		e = r.Dir.E
	}
	if o, ok := e.(offDisk); ok {
		t.offDisk, e = o.u, o.under
	}
	m := g.mountOf(e, r.Path)
	t.point, t.fs = m.Point, m.FS
	rest := r.Path
	if m.Point != "/" {
		rest = strings.TrimPrefix(r.Path, m.Point)
	}
	t.inner = rest
	if m.Root != "" && m.Root != "/" {
		t.inner = m.Root + rest // a bind mount: below its source
	}
	if t.inner == "" {
		t.inner = "/"
	}
	return t
}

// mountAt is the mount whose point is the longest prefix of the canonical
// guest path p. It also reports an unresolved mount that is longer.
func (g *Guest) mountAt(p string) (Mount, *Unresolved) {
	best := g.mounts[0]
	for _, m := range g.mounts[1:] {
		if under(p, m.Point) && len(m.Point) > len(best.Point) {
			best = m
		}
	}
	for i := range g.unresolved {
		u := &g.unresolved[i]
		if under(p, u.Point) && len(u.Point) > len(best.Point) {
			return best, u
		}
	}
	return best, nil
}

func joinPath(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

// mountOf is the mount of engine e holding the canonical guest path p.
func (g *Guest) mountOf(e fs.Engine, p string) Mount {
	best := g.mounts[0]
	for _, m := range g.mounts {
		if under(p, m.Point) && len(m.Point) >= len(best.Point) && m.FS.FS != nil && engineOf(m.FS) == e {
			best = m
		}
	}
	return best
}

// under reports whether p is point or lies below it.
func under(p, point string) bool {
	return point == "/" || p == point || strings.HasPrefix(p, point+"/")
}

// check is the Tree's Check: what every change through the guest passes.
// The filesystem must be on this disk and writable, and a removal or
// rename must not take a mount point (or, for a tree, one below it).
func (g *Guest) check(op string, r *fs.Resolved) error {
	t := g.targetOf(r)
	if t.offDisk != nil {
		return unresolvedErr(t.offDisk)
	}
	switch {
	case !t.fs.Writable && !writableType(t.fs.Type):
		// A type imgprep reads but cannot write (xfs): both an
		// unsupported filesystem and a read-only one, with the engine's
		// reason when it gave one (a dirty log).
		why := unsupportedWhy(t.fs.Type)
		if r, ok := t.fs.FS.(interface{ Refusal() error }); ok && r.Refusal() != nil {
			why = r.Refusal().Error()
		} else if t.fs.FS != nil { // readable (btrfs): name the filesystem
			why = t.fs.Desc() + ": " + why
		}
		u := &UnsupportedError{Type: t.fs.Type, Point: t.point, Why: why}
		return fmt.Errorf("%w: %w", u, fs.ErrReadOnly)
	case !t.fs.Writable:
		ro := &ReadOnlyError{Path: t.guestPath, FS: t.fs.Desc(), Point: t.point, Why: t.fs.Why, Cause: t.fs.refused}
		var re *ext4.RefusalError
		if errors.As(t.fs.refused, &re) {
			ro.Reason = re.Reason
		}
		return ro
	}
	if _, ok := t.fs.FS.(fs.WritableFS); !ok {
		return fmt.Errorf("%s mounted at %s has no write support: %w", t.fs.Desc(), t.point, fs.ErrReadOnly)
	}
	switch op {
	case "remove":
		return g.notMountPoint(t.guestPath, false)
	case "removeall", "rename":
		return g.notMountPoint(t.guestPath, true)
	}
	return nil
}

// notMountPoint refuses to remove or rename a mount point, or with tree a
// directory with a mount point below it (the guest's kernel would say
// EBUSY; here nothing is changed).
func (g *Guest) notMountPoint(p string, tree bool) error {
	for _, m := range g.mounts {
		if m.Point == p || (tree && m.Point != "/" && under(m.Point, p)) {
			return fmt.Errorf("%s is a mount point (%s): %w", m.Point, m.FS.Desc(), ErrMountPoint)
		}
	}
	for _, u := range g.unresolved {
		if u.Point == p || (tree && under(u.Point, p)) {
			return fmt.Errorf("%s is a mount point (fstab source %s): %w", u.Point, u.Spec, ErrMountPoint)
		}
	}
	return nil
}

// hasTrailingSlash reports whether p ends in "/" after a name.
func hasTrailingSlash(p string) bool { return fs.HasTrailingSlash(p) }

// Where names the filesystem holding p (not following a final symlink)
// and its mount point: "ext4 on partition 3 (/var)".
func (g *Guest) Where(p string) (string, error) {
	t, err := g.resolve(p, false)
	if err == nil && t.offDisk != nil {
		err = unresolvedErr(t.offDisk)
	}
	if err != nil {
		return "", &PathError{FS: "guest", Op: "where", Path: p, Err: err}
	}
	return t.fs.Desc() + " (" + t.point + ")", nil
}
