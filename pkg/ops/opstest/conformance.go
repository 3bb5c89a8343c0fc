package opstest

import (
	"context"
	"errors"
	"path"
	"regexp"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/fs/memfs"
	"github.com/imgprep/imgprep/pkg/ops"
)

var nameRE = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// Conformance checks op against the ops.Operation contract on an empty
// root, on every root of Roots() and on the extra roots given.
func Conformance(t *testing.T, op ops.Operation, extra ...Root) {
	t.Helper()
	t.Run("name and description", func(t *testing.T) {
		if !nameRE.MatchString(op.Name()) {
			t.Errorf("name %q is not lower-case words joined by '-'", op.Name())
		}
		if d := op.Description(); d == "" || strings.Contains(d, "\n") {
			t.Errorf("description %q must be one non-empty line", d)
		}
	})
	t.Run("an empty root yields no change", func(t *testing.T) {
		g := memfs.New()
		before := Take(t, g)
		changes, err := op.Apply(context.Background(), g)
		if err != nil {
			t.Fatalf("%s on an empty root: %v", op.Name(), err)
		}
		if len(changes) != 0 {
			t.Fatalf("%s on an empty root reported %v", op.Name(), changes)
		}
		if d := Diff(before, Take(t, g)); len(d) != 0 {
			t.Fatalf("%s on an empty root changed %v", op.Name(), d)
		}
	})
	for _, r := range append(Roots(), extra...) {
		t.Run(r.Name, func(t *testing.T) { checkRoot(t, op, r) })
	}
}

func checkRoot(t *testing.T, op ops.Operation, r Root) {
	g, ref := r.New(), r.New()
	before := Take(t, g)
	changes, err := op.Apply(context.Background(), g)
	if err != nil {
		t.Fatalf("%s: %v", op.Name(), err)
	}
	after := Take(t, g)
	diff := Diff(before, after)
	CheckChanges(t, changes, diff, ref, g)

	t.Run("a second run changes nothing", func(t *testing.T) {
		again, err := op.Apply(context.Background(), g)
		if err != nil {
			t.Fatalf("second run: %v", err)
		}
		if len(again) != 0 {
			t.Fatalf("second run reported %v", again)
		}
		if d := Diff(after, Take(t, g)); len(d) != 0 {
			t.Fatalf("second run changed %v", d)
		}
	})
	t.Run("a read-only guest fails cleanly with ErrReadOnly", func(t *testing.T) {
		ro := r.New()
		ro.ReadOnly = true
		snap := Take(t, ro)
		got, err := op.Apply(context.Background(), ro)
		if len(changes) > 0 && !errors.Is(err, fs.ErrReadOnly) {
			t.Fatalf("err %v, want one wrapping fs.ErrReadOnly", err)
		}
		if len(changes) == 0 && err != nil {
			t.Fatalf("nothing to change, yet: %v", err)
		}
		if err != nil && len(got) != 0 {
			t.Fatalf("failed run reported changes %v", got)
		}
		if d := Diff(snap, Take(t, ro)); len(d) != 0 {
			t.Fatalf("read-only guest changed: %v", d)
		}
	})
	t.Run("a cancelled context stops before any change", func(t *testing.T) {
		c := r.New()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		snap := Take(t, c)
		if _, err := op.Apply(ctx, c); !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v, want context.Canceled", err)
		}
		if d := Diff(snap, Take(t, c)); len(d) != 0 {
			t.Fatalf("cancelled run changed %v", d)
		}
	})
}

// CheckChanges fails the test unless the reported changes and the paths
// that really changed (diff, from Diff) match: every reported path, taken
// to its real location (intermediate symlinks resolved, in before for a
// removal, in after otherwise), changed, and every changed path is a
// reported one or below one. before and after are the trees before and
// after the run.
func CheckChanges(tb testing.TB, changes []ops.Change, diff []string, before, after fs.ReadTree) {
	tb.Helper()
	var real []string
	seen := map[string]bool{}
	for _, c := range changes {
		if !path.IsAbs(c.Path) || path.Clean(c.Path) != c.Path {
			tb.Errorf("change %+v: path is not a clean absolute path", c)
			continue
		}
		switch c.Action {
		case ops.Removed, ops.Truncated, ops.Written, ops.Created, ops.Edited, ops.NewUUID:
		default:
			tb.Errorf("change %+v: unknown action", c)
		}
		if c.Filesystem == "" {
			tb.Errorf("change %+v: no filesystem named", c)
		}
		if c.Action == ops.NewUUID {
			continue // a filesystem's identity, not a path of the tree
		}
		t := after
		if c.Action == ops.Removed {
			t = before
		}
		rp, err := Canonical(t, c.Path)
		if err != nil {
			tb.Errorf("change %+v: cannot resolve: %v", c, err)
			continue
		}
		if seen[rp] {
			tb.Errorf("change %+v: %s reported twice", c, rp)
		}
		seen[rp] = true
		real = append(real, rp)
		if !covers([]string{rp}, diff) {
			tb.Errorf("change %+v reported, but %s did not change (changed: %v)", c, rp, diff)
		}
		if c.Action == ops.Removed {
			if _, err := after.Lstat(rp); !errors.Is(err, fs.ErrNotExist) {
				tb.Errorf("change %+v: %s still there (%v)", c, rp, err)
			}
		}
	}
	for _, d := range diff {
		if !under(d, real) {
			tb.Errorf("%s changed but no change covers it (reported: %v)", d, changes)
		}
	}
}

// covers reports whether some path of diff is one of roots or below one.
func covers(roots, diff []string) bool {
	for _, d := range diff {
		if under(d, roots) {
			return true
		}
	}
	return false
}

func under(p string, roots []string) bool {
	for _, r := range roots {
		if p == r || strings.HasPrefix(p, r+"/") || r == "/" {
			return true
		}
	}
	return false
}

// Canonical returns where p really is in t: every component but the last
// resolved through symlinks (absolute targets from t's root, ".."
// clamped), the last kept as a name.
func Canonical(t fs.ReadTree, p string) (string, error) {
	dir, err := resolveDir(t, path.Dir(p))
	if err != nil {
		return "", err
	}
	return path.Join(dir, path.Base(p)), nil
}

func resolveDir(t fs.ReadTree, p string) (string, error) {
	queue := strings.Split(p, "/")
	cur := "/"
	hops := 0
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, c)
		a, err := t.Lstat(next)
		if err != nil {
			return "", err
		}
		if a.Type() != fs.TypeSymlink {
			cur = next
			continue
		}
		if hops++; hops > fs.MaxSymlinkHops {
			return "", fs.ErrLoop
		}
		target, err := t.Readlink(next)
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(target, "/") {
			cur = "/"
		}
		queue = append(strings.Split(target, "/"), queue...)
	}
	return cur, nil
}

// UniqueNames fails the test unless every operation has its own name.
func UniqueNames(tb testing.TB, all []ops.Operation) {
	tb.Helper()
	seen := map[string]bool{}
	for _, op := range all {
		if seen[op.Name()] {
			tb.Errorf("operation name %q used twice", op.Name())
		}
		seen[op.Name()] = true
	}
}
