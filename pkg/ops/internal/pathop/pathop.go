package pathop

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"strconv"

	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/ops"
)

// MaxWalk bounds the entries one directory walk visits, so that a hostile
// tree cannot make an operation run without end.
const MaxWalk = 1 << 20

// ErrTooMany is returned when a walk passes MaxWalk entries.
var ErrTooMany = errors.New("pathop: directory tree too large")

// Absent reports errors meaning a path is not there for this guest: it, or
// a directory on the way, is missing or not a directory, or a symlink chain
// does not resolve.
func Absent(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrNotDir) ||
		errors.Is(err, fs.ErrLoop) || errors.Is(err, fs.ErrNameTooLong)
}

// MaxListed bounds the changes one walk records one by one. Past it the
// walk's further changes are counted, and reported as one change of the
// walked directory ("N more files below it removed, not listed"), so that
// the files a guest holds cannot grow the report or the memory holding it.
const MaxListed = 1000

// Session applies one operation's changes to a guest and records them.
// Its methods stop at the first error; Result then reports no change.
type Session struct {
	ctx     context.Context
	g       ops.Guest
	name    string // operation name, prefixes errors
	changes []ops.Change
	walk    *walkCount // the walk in progress, nil outside one
}

// walkCount counts the changes made during one walk.
type walkCount struct {
	listed, folded int
}

// add records c, or counts it once the walk in progress listed MaxListed.
func (s *Session) add(c ops.Change) {
	if w := s.walk; w != nil {
		if w.listed >= MaxListed {
			w.folded++
			return
		}
		w.listed++
	}
	s.changes = append(s.changes, c)
}

// NewSession starts recording the changes operation name makes to g.
func NewSession(ctx context.Context, g ops.Guest, name string) *Session {
	return &Session{ctx: ctx, g: g, name: name}
}

// Guest returns the guest the session changes.
func (s *Session) Guest() ops.Guest { return s.g }

// Errorf returns an error prefixed with the operation's name.
func (s *Session) Errorf(format string, args ...any) error {
	return fmt.Errorf(s.name+": "+format, args...)
}

// Err returns the context's error, wrapped with the operation's name.
func (s *Session) Err() error {
	if err := s.ctx.Err(); err != nil {
		return s.Errorf("%w", err)
	}
	return nil
}

// Result returns the recorded changes, or none and err when err is set.
func (s *Session) Result(err error) ([]ops.Change, error) {
	if err != nil {
		return nil, err
	}
	return s.changes, nil
}

// Record adds a change to p, naming the filesystem that holds it.
func (s *Session) Record(p string, action ops.Action, detail string) error {
	where, err := s.g.Where(p)
	if err != nil {
		return s.Errorf("%s: %w", p, err)
	}
	s.add(ops.Change{Path: p, Action: action, Filesystem: where, Detail: detail})
	return nil
}

// Glob expands pattern in the guest (fs.Glob semantics).
func (s *Session) Glob(pattern string) ([]string, error) {
	m, err := fs.Glob(s.g, pattern)
	if err != nil {
		return nil, s.Errorf("%w", err)
	}
	return m, nil
}

// Lstat returns p's attributes without following a final symlink; ok is
// false when p is absent.
func (s *Session) Lstat(p string) (a fs.Attr, ok bool, err error) {
	a, err = s.g.Lstat(p)
	if err != nil {
		if Absent(err) {
			return fs.Attr{}, false, nil
		}
		return fs.Attr{}, false, s.Errorf("%s: %w", p, err)
	}
	return a, true, nil
}

// Remove removes p as itself: a symlink goes, not its target; a directory
// goes with everything below it unless nonDir, in which case directories
// are left alone (g#rm against rm_rf). An absent p is not an error.
func (s *Session) Remove(p string, nonDir bool) error {
	if err := s.Err(); err != nil {
		return err
	}
	a, ok, err := s.Lstat(p)
	if err != nil || !ok {
		return err
	}
	where, err := s.g.Where(p)
	if err != nil {
		return s.Errorf("%s: %w", p, err)
	}
	c := ops.Change{Path: p, Action: ops.Removed, Filesystem: where}
	switch a.Type() {
	case fs.TypeDir:
		if nonDir {
			return nil
		}
		n := 0
		if err := s.Walk(p, func(string, fs.FileType) error { n++; return nil }); err != nil {
			return err
		}
		c.Detail = Plural(n, "entry", "entries")
		err = s.g.RemoveAll(p)
	case fs.TypeSymlink:
		c.Detail = "symlink"
		err = s.g.Remove(p)
	default:
		err = s.g.Remove(p)
	}
	if err != nil {
		return s.Errorf("removing %s: %w", p, err)
	}
	s.add(c)
	return nil
}

// Walk calls fn for every path below dir (dir itself excluded) with its
// type, parents before children, never following a symlink below dir.
// dir itself is resolved in the guest; a dir that is absent or not a
// directory has nothing below it. The walk streams: it lists one
// directory, calls fn for each of its entries, then goes on to the next
// directory (breadth first), so memory holds one directory's entries and
// the paths of the directories still to visit, never the whole tree. fn may remove
// what it is given (a directory removed is not visited). Types come from
// the directory entries (an Lstat only where the filesystem records
// none). Past MaxListed changes recorded during the walk, the rest are
// counted into one change of dir.
func (s *Session) Walk(dir string, fn func(p string, t fs.FileType) error) error {
	a, err := s.g.Stat(dir)
	if err != nil {
		if Absent(err) {
			return nil
		}
		return s.Errorf("%s: %w", dir, err)
	}
	if a.Type() != fs.TypeDir {
		return nil
	}
	outer := s.walk
	w := &walkCount{}
	s.walk = w
	defer func() { s.walk = outer }()
	if err := s.walkDir(dir, fn); err != nil {
		return err
	}
	s.walk = outer
	if w.folded == 0 {
		return nil
	}
	where, err := s.g.Where(dir)
	if err != nil {
		return s.Errorf("%s: %w", dir, err)
	}
	s.add(ops.Change{Path: dir, Action: ops.Removed, Filesystem: where,
		Detail: Plural(w.folded, "more entry", "more entries") + " below it removed, not listed; the directory is kept"})
	return nil
}

// walkDir is Walk's loop over the directory tree at dir.
func (s *Session) walkDir(dir string, fn func(p string, t fs.FileType) error) error {
	n := 0
	todo := []string{dir}
	for len(todo) > 0 {
		d := todo[0]
		todo = todo[1:]
		ents, err := s.g.ReadDir(d)
		if err != nil {
			if Absent(err) {
				continue
			}
			return s.Errorf("reading %s: %w", d, err)
		}
		for _, e := range ents {
			if n++; n > MaxWalk {
				return s.Errorf("%s: %w (over %d entries)", dir, ErrTooMany, MaxWalk)
			}
			p := path.Join(d, e.Name)
			t := e.Type
			if t == fs.TypeUnknown {
				ea, err := s.g.Lstat(p)
				if err != nil {
					if Absent(err) {
						continue
					}
					return s.Errorf("%s: %w", p, err)
				}
				t = ea.Type()
			}
			if err := fn(p, t); err != nil {
				return err
			}
			if t == fs.TypeDir {
				todo = append(todo, p)
			}
		}
	}
	return nil
}

// RemoveFilesBelow removes every regular file below dir, keeping the
// directories, symlinks and special files, and the files whose base name
// keep accepts (guestfs-tools' rm_rf_only_files).
func (s *Session) RemoveFilesBelow(dir string, keep func(name string) bool) error {
	return s.Walk(dir, func(p string, t fs.FileType) error {
		if t != fs.TypeRegular || (keep != nil && keep(path.Base(p))) {
			return nil
		}
		return s.Remove(p, true)
	})
}

// Truncate empties the regular file p, keeping its inode (mode, owner,
// SELinux label). A missing, empty or non-regular p is left alone.
func (s *Session) Truncate(p string) error {
	if err := s.Err(); err != nil {
		return err
	}
	a, ok, err := s.Lstat(p)
	if err != nil || !ok || a.Type() != fs.TypeRegular || a.Size == 0 {
		return err
	}
	if err := s.g.Truncate(p, 0); err != nil {
		return s.Errorf("truncating %s: %w", p, err)
	}
	return s.Record(p, ops.Truncated, "")
}

// MaxEdit bounds the size of a file Rewrite reads.
const MaxEdit = 16 << 20

// Rewrite passes the content of the regular file p (not a symlink) to
// edit and writes back what it returns when that differs, in place (the
// inode, mode, owner and xattrs stay). A missing or non-regular p is left
// alone; one over MaxEdit is an error.
func (s *Session) Rewrite(p string, edit func(old []byte) (new []byte, detail string)) error {
	if err := s.Err(); err != nil {
		return err
	}
	a, ok, err := s.Lstat(p)
	if err != nil || !ok || a.Type() != fs.TypeRegular {
		return err
	}
	if a.Size > MaxEdit {
		return s.Errorf("%s: %d bytes, over the %d this operation edits: %w", p, a.Size, MaxEdit, fs.ErrInvalid)
	}
	old, err := s.g.ReadFile(p)
	if err != nil {
		return s.Errorf("reading %s: %w", p, err)
	}
	next, detail := edit(old)
	if bytes.Equal(old, next) {
		return nil
	}
	if err := s.g.WriteFile(p, next, fs.WriteOptions{}); err != nil {
		return s.Errorf("writing %s: %w", p, err)
	}
	return s.Record(p, ops.Edited, detail)
}

// Plural renders "1 entry" or "3 entries".
func Plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
