package fs

import (
	"errors"
	"fmt"
	"strings"
)

// Loc is one inode of one engine.
type Loc struct {
	E   Engine
	Ino Ino
}

// MountTable tells the walker what is mounted where. pkg/guest supplies
// one built from the guest's fstab; a single filesystem needs none.
type MountTable interface {
	// Cover is called for every directory the walker enters, with its
	// canonical path (absolute, no ".", "..", or symlink) and location.
	// It returns the location to continue at: the root of the filesystem
	// mounted there, or under itself when nothing is. An error fails the
	// resolution (a filesystem without an engine mounted there). under is
	// zero for a path that does not exist below: a mount there is still
	// entered.
	Cover(path string, under Loc) (Loc, error)
}

// Walker resolves paths over a root engine and the engines mounted below
// it, as the kernel does with the root engine mounted at "/" and openat2's
// RESOLVE_IN_ROOT: intermediate symlinks are followed (at most
// MaxSymlinkHops in one resolution, then ErrLoop), an absolute target
// starts again from the root, ".." never climbs above the root and leaves
// a mounted filesystem to the directory it is mounted on. Each component
// is looked up once, with its engine's Lookup.
type Walker struct {
	Root   Engine
	Mounts MountTable // nil: nothing is mounted below Root
}

// Resolved is where a path leads.
type Resolved struct {
	// Path is the canonical path of the final component.
	Path string
	// Dir and Name are the directory holding the final component and its
	// name. Name is "" when the path ends at the root, or in "." or ".."
	// (it then names no entry: Dir is zero and Node is the directory).
	Dir  Loc
	Name string
	// Node is the final component and Attr its attributes; Node.E is nil
	// when Name does not exist in Dir.
	Node Loc
	Attr Attr
}

// Exists reports whether the final component exists.
func (r *Resolved) Exists() bool { return r.Node.E != nil }

type frame struct {
	loc  Loc
	path string // canonical path of this directory, "" for the root
}

// Resolve resolves the absolute path p. With follow, a final symlink is
// followed too; a path ending in "/" must name a directory (a final
// symlink is then followed unless follow is false, when it is
// ErrNotDir). A missing final component is not an error (the Resolved
// does not Exist); a missing or non-directory intermediate one is.
func (w *Walker) Resolve(p string, follow bool) (Resolved, error) {
	if !strings.HasPrefix(p, "/") {
		return Resolved{}, ErrRelativePath
	}
	root, err := w.cover("/", Loc{E: w.Root, Ino: w.Root.Root()})
	if err != nil {
		return Resolved{}, err
	}
	stack := []frame{{loc: root}}
	queue := splitPath(p)
	hops := 0
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		last := len(queue) == 0
		top := stack[len(stack)-1]
		switch name {
		case ".":
			continue
		case "..":
			if len(stack) > 1 {
				stack = stack[:len(stack)-1]
			}
			continue
		}
		if len(name) > MaxNameLen {
			return Resolved{}, ErrNameTooLong
		}
		ino, attr, err := top.loc.E.Lookup(top.loc.Ino, name)
		here := top.path + "/" + name
		child := Loc{E: top.loc.E, Ino: ino}
		if errors.Is(err, ErrNotExist) && w.Mounts != nil {
			// A filesystem mounted on a directory its parent lacks.
			if child, err = w.Mounts.Cover(here, Loc{}); err == nil && child.E == nil {
				err = ErrNotExist
			} else if err == nil {
				attr, err = child.E.Stat(child.Ino)
			}
		}
		if err != nil {
			if last && errors.Is(err, ErrNotExist) {
				return Resolved{Path: here, Dir: top.loc, Name: name}, nil
			}
			return Resolved{}, err
		}
		if attr.Type() == TypeSymlink && (!last || follow) {
			hops++
			if hops > MaxSymlinkHops {
				return Resolved{}, ErrLoop
			}
			target, err := top.loc.E.Readlink(ino)
			if err != nil {
				return Resolved{}, err
			}
			if target == "" {
				return Resolved{}, ErrNotExist
			}
			if strings.HasPrefix(target, "/") {
				stack = stack[:1]
			}
			queue = append(splitPath(target), queue...)
			continue
		}
		if attr.Type() != TypeDir {
			if !last {
				return Resolved{}, ErrNotDir
			}
			return w.final(p, Resolved{Path: here, Dir: top.loc, Name: name, Node: child, Attr: attr})
		}
		for _, f := range stack {
			if f.loc == child {
				if cr, ok := child.E.(CycleReporter); ok {
					return Resolved{}, cr.DirCycle(top.loc.Ino, name, ino)
				}
				return Resolved{}, fmt.Errorf("%w: entry %q of directory %d leads back to directory %d above it", ErrDirCycle, name, top.loc.Ino, ino)
			}
		}
		if covered, err := w.cover(here, child); err != nil {
			return Resolved{}, err
		} else if covered != child {
			child = covered
			if attr, err = child.E.Stat(child.Ino); err != nil {
				return Resolved{}, err
			}
		}
		if last {
			return w.final(p, Resolved{Path: here, Dir: top.loc, Name: name, Node: child, Attr: attr})
		}
		stack = append(stack, frame{loc: child, path: here})
	}
	top := stack[len(stack)-1]
	attr, err := top.loc.E.Stat(top.loc.Ino)
	if err != nil {
		return Resolved{}, err
	}
	here := top.path
	if here == "" {
		here = "/"
	}
	return Resolved{Path: here, Node: top.loc, Attr: attr}, nil
}

// final applies the trailing-slash rule: "name/" must be a directory.
func (w *Walker) final(p string, r Resolved) (Resolved, error) {
	if !HasTrailingSlash(p) || r.Attr.Type() == TypeDir {
		return r, nil
	}
	return Resolved{}, ErrNotDir
}

func (w *Walker) cover(path string, l Loc) (Loc, error) {
	if w.Mounts == nil {
		return l, nil
	}
	return w.Mounts.Cover(path, l)
}

// HasTrailingSlash reports whether p ends in "/" after a name, which makes
// the kernel require a directory.
func HasTrailingSlash(p string) bool {
	trimmed := strings.TrimRight(p, "/")
	return trimmed != "" && len(trimmed) < len(p)
}

// splitPath splits p into its non-empty components.
func splitPath(p string) []string {
	out := make([]string, 0, strings.Count(p, "/")+1)
	for c := range strings.SplitSeq(p, "/") {
		if c != "" {
			out = append(out, c)
		}
	}
	return out
}
