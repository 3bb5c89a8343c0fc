package guest

import (
	"errors"
	"strings"

	"github.com/imgprep/imgprep/pkg/fs"
)

// target is a resolved guest path: the filesystem holding it and the path
// inside that filesystem. Every component of Inner but the last is a
// directory reached without a symlink; the last is not followed unless
// the resolution asked for it.
type target struct {
	guestPath string // canonical guest path: absolute, no ".", "..", or symlink
	point     string // mount point of the filesystem
	fs        *Filesystem
	inner     string
	// offDisk is set when guestPath is the mount point of an fstab entry
	// whose filesystem is not on this disk: fs and inner are then the
	// directory under it, which reads as empty and cannot be changed.
	offDisk *Unresolved
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

// under reports whether p is point or lies below it.
func under(p, point string) bool {
	return point == "/" || p == point || strings.HasPrefix(p, point+"/")
}

// locate maps a canonical guest path to its filesystem, failing when the
// filesystem has no engine, or when the path lies below a mount point
// whose fstab source is not on this disk. That mount point itself is the
// directory under it, read as empty (a tree walk passes over it; what the
// guest keeps there is not on this disk).
func (g *Guest) locate(p string) (target, error) {
	m, u := g.mountAt(p)
	if u != nil && u.Point != p {
		return target{}, unresolvedErr(u)
	}
	if m.FS.FS == nil {
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
		return target{}, &UnsupportedError{Type: t, Point: m.Point, Why: why}
	}
	rest := p
	if m.Point != "/" {
		rest = strings.TrimPrefix(p, m.Point)
	}
	inner := rest
	if m.Root != "" && m.Root != "/" {
		inner = m.Root + rest // a bind mount: below its source
	}
	if inner == "" {
		inner = "/"
	}
	return target{guestPath: p, point: m.Point, fs: m.FS, inner: inner, offDisk: u}, nil
}

func unresolvedErr(u *Unresolved) error { return &UnresolvedError{Unresolved: *u} }

// resolve resolves a guest path as the guest's kernel would, from the
// guest root, and returns where it lands. With follow, a final symlink is
// followed too. A missing final component is not an error (the caller's
// operation reports it or creates it); a missing or non-directory
// intermediate one is.
func (g *Guest) resolve(p string, follow bool) (target, error) {
	if !strings.HasPrefix(p, "/") {
		return target{}, ErrRelativePath
	}
	queue := splitPath(p)
	cur := "/"
	hops := 0
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		last := len(queue) == 0
		switch name {
		case ".":
			continue
		case "..":
			cur = parentOf(cur)
			continue
		}
		next := joinPath(cur, name)
		if last && !follow {
			cur = next
			break
		}
		if g.dirsFresh() && g.dirs[next] {
			// A directory already walked (not a symlink): no need to look
			// again until the guest changes.
			cur = next
			continue
		}
		t, err := g.locate(next)
		if err != nil {
			return target{}, err
		}
		attr, err := t.fs.FS.Lstat(t.inner)
		if err != nil {
			if last && errors.Is(err, fs.ErrNotExist) {
				cur = next
				break
			}
			return target{}, err
		}
		if attr.Type() == fs.TypeSymlink {
			hops++
			if hops > fs.MaxSymlinkHops {
				return target{}, fs.ErrLoop
			}
			link, err := t.fs.FS.Readlink(t.inner)
			if err != nil {
				return target{}, err
			}
			if link == "" {
				return target{}, fs.ErrNotExist
			}
			if strings.HasPrefix(link, "/") {
				cur = "/"
			}
			queue = append(splitPath(link), queue...)
			continue
		}
		if attr.Type() == fs.TypeDir {
			g.rememberDir(next)
		} else if !last {
			return target{}, fs.ErrNotDir
		}
		cur = next
	}
	t, err := g.locate(cur)
	if err != nil || !hasTrailingSlash(p) {
		return t, err
	}
	// "name/" must be a directory; without follow, a final symlink is not
	// one (rmdir("link/") is ENOTDIR in Linux, and nothing is followed).
	if a, err := t.fs.FS.Lstat(t.inner); err == nil && a.Type() != fs.TypeDir {
		return target{}, fs.ErrNotDir
	}
	return t, nil
}

// maxDirCache bounds the directory cache of one guest.
const maxDirCache = 4096

// rememberDir notes that the canonical guest path p is a directory (not a
// symlink), so that later resolutions walk through it without a lookup.
// Every change made through the Guest forgets everything (forgetDirs).
func (g *Guest) rememberDir(p string) {
	if !g.dirsFresh() || g.dirs == nil || len(g.dirs) >= maxDirCache {
		g.dirs = map[string]bool{}
	}
	g.dirs[p] = true
}

// dirsFresh drops the cache when a change was made through any guest of
// the layout since it was filled, and reports whether it may be used.
func (g *Guest) dirsFresh() bool {
	if g.layout == nil {
		return false
	}
	if g.dirsAt != g.layout.changes {
		g.dirs, g.dirsAt = nil, g.layout.changes
	}
	return true
}

// forgetDirs empties the directory cache of every guest of the layout;
// every change calls it first.
func (g *Guest) forgetDirs() {
	g.dirs = nil
	if g.layout != nil {
		g.layout.changes++
		g.dirsAt = g.layout.changes
	}
}

// hasTrailingSlash reports whether p ends in "/" after a name, which makes
// the kernel require a directory.
func hasTrailingSlash(p string) bool {
	trimmed := strings.TrimRight(p, "/")
	return trimmed != "" && len(trimmed) < len(p)
}

// splitPath splits p into its non-empty components.
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

func joinPath(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

// parentOf is the parent of a canonical path; the parent of "/" is "/".
func parentOf(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "/"
	}
	return p[:i]
}
