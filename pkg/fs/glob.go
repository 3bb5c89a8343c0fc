package fs

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"
)

// MaxGlobMatches bounds the number of paths one Glob may return, so that a
// pattern over a hostile tree cannot grow without limit.
const MaxGlobMatches = 1 << 16

// Glob returns the paths of t matching pattern, sorted, with the semantics
// virt-sysprep gets from guestfs_glob_expand, that is glob(3) without
// GLOB_PERIOD:
//
//   - pattern is absolute; each slash-separated component is matched by
//     path.Match against the names of one directory ('*', '?', '[...]',
//     '\\' escapes), components without metacharacters are taken as they are;
//   - a '*', '?' or '[...]' never matches a leading '.' of a name: only a
//     component that itself starts with '.' matches dotfiles;
//   - intermediate components are resolved by t (so symlinks to
//     directories, and over a guest mount points, are followed); the final
//     component is matched by name and never followed: a symlink matches
//     as itself, a dangling one included;
//   - directories that are missing, not directories or unresolvable
//     (symlink loops) simply match nothing, as glob(3) without GLOB_ERR.
//
// A malformed pattern returns path.ErrBadPattern wrapped; more than
// MaxGlobMatches matches is ErrInvalid wrapped.
func Glob(t ReadTree, pattern string) ([]string, error) {
	if !strings.HasPrefix(pattern, "/") {
		return nil, fmt.Errorf("fs: glob %q: pattern is not absolute: %w", pattern, ErrInvalid)
	}
	var comps []string
	for _, c := range strings.Split(pattern, "/") {
		if c != "" {
			comps = append(comps, c)
		}
	}
	for _, c := range comps {
		if _, err := path.Match(c, ""); err != nil {
			return nil, fmt.Errorf("fs: glob %q: %w", pattern, err)
		}
	}
	if len(comps) == 0 {
		return []string{"/"}, nil
	}
	cur := []string{"/"}
	for i, c := range comps {
		last := i == len(comps)-1
		var next []string
		for _, dir := range cur {
			names, err := globDir(t, dir, c)
			if err != nil {
				return nil, fmt.Errorf("fs: glob %q: %w", pattern, err)
			}
			for _, name := range names {
				p := path.Join(dir, name)
				if last && hasMeta(c) {
					// Read from the directory itself: it exists, and the
					// final component is never followed.
					next = append(next, p)
					if len(next) > MaxGlobMatches {
						return nil, fmt.Errorf("fs: glob %q: more than %d matches: %w", pattern, MaxGlobMatches, ErrInvalid)
					}
					continue
				}
				var a Attr
				if last {
					a, err = t.Lstat(p)
				} else {
					a, err = t.Stat(p)
				}
				if err != nil {
					if ignorable(err) {
						continue
					}
					return nil, fmt.Errorf("fs: glob %q: %w", pattern, err)
				}
				if !last && a.Type() != TypeDir {
					continue
				}
				next = append(next, p)
				if len(next) > MaxGlobMatches {
					return nil, fmt.Errorf("fs: glob %q: more than %d matches: %w", pattern, MaxGlobMatches, ErrInvalid)
				}
			}
		}
		cur = next
		if len(cur) == 0 {
			return nil, nil
		}
	}
	// path.Join cleans "..": "/home/a/.." and "/home/b/.." are both
	// "/home", so the same path can match more than once.
	sort.Strings(cur)
	return slices.Compact(cur), nil
}

// globDir returns the names in dir that component c matches.
func globDir(t ReadTree, dir, c string) ([]string, error) {
	if !hasMeta(c) {
		return []string{c}, nil
	}
	ents, err := t.ReadDir(dir)
	if err != nil {
		if ignorable(err) {
			return nil, nil
		}
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name, ".") && !strings.HasPrefix(c, ".") {
			continue
		}
		if ok, _ := path.Match(c, e.Name); ok {
			out = append(out, e.Name)
		}
	}
	return out, nil
}

func ignorable(err error) bool {
	return errors.Is(err, ErrNotExist) || errors.Is(err, ErrNotDir) || errors.Is(err, ErrLoop) || errors.Is(err, ErrNameTooLong)
}

func hasMeta(c string) bool { return strings.ContainsAny(c, `*?[\`) }
