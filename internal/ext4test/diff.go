package ext4test

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"
)

// Change is one path present in both trees whose entry differs.
type Change struct {
	Path   string
	Fields []string // as Compare names them
	Before Entry
	After  Entry
}

// Diff lists what differs between two snapshots.
type Diff struct {
	Added   []string
	Removed []string
	Changed []Change
}

// DiffTrees compares before with after.
func DiffTrees(before, after Tree) Diff {
	var d Diff
	for _, p := range before.Paths() {
		a, ok := after[p]
		if !ok {
			d.Removed = append(d.Removed, p)
			continue
		}
		if f := Compare(before[p], a); len(f) > 0 {
			d.Changed = append(d.Changed, Change{Path: p, Fields: f, Before: before[p], After: a})
		}
	}
	for _, p := range after.Paths() {
		if _, ok := before[p]; !ok {
			d.Added = append(d.Added, p)
		}
	}
	return d
}

// String renders the diff, one line per path.
func (d Diff) String() string {
	var b strings.Builder
	for _, p := range d.Added {
		fmt.Fprintf(&b, "+ %s\n", p)
	}
	for _, p := range d.Removed {
		fmt.Fprintf(&b, "- %s\n", p)
	}
	for _, c := range d.Changed {
		fmt.Fprintf(&b, "~ %s: %s -> %s\n", c.Path, c.Before.Describe(c.Fields), c.After.Describe(c.Fields))
	}
	return b.String()
}

// Expect is what a test allows a write to change.
type Expect struct {
	// Added and Removed are exactly the paths that must appear and
	// disappear (the paths below a removed or added directory included).
	Added   []string
	Removed []string
	// Changed names, per path, the fields that must change. Nothing else
	// about that path may change, except its ctime (every change to an
	// inode may move its ctime).
	Changed map[string][]string
	// May names, per path, fields that may change but need not (a
	// directory's size or link count, for instance).
	May map[string][]string
	// Touched lists the directories whose entries changed: as the kernel
	// does, each must end with its mtime and ctime both equal to Now, the
	// clock of the write (which must be later than their times before).
	// Their size, link count and block map may change too (DirTimes).
	Touched []string
	Now     time.Time
}

// DirTimes returns the fields of a directory whose entries changed: the kernel
// moves its mtime and ctime, its size and link count can change, and so
// can its block map (FieldData: a directory has no SHA256) when it grows.
func DirTimes() []string {
	return []string{FieldMtime, FieldCtime, FieldSize, FieldNlink, FieldData}
}

// Check fails the test unless d is exactly what e allows: the same added
// and removed paths, every required field change present, and no other
// change anywhere in the tree.
func (d Diff) Check(tb testing.TB, e Expect) {
	tb.Helper()
	var problems []string
	if !sameSet(d.Added, e.Added) {
		problems = append(problems, fmt.Sprintf("added paths: got %q, want %q", d.Added, sorted(e.Added)))
	}
	if !sameSet(d.Removed, e.Removed) {
		problems = append(problems, fmt.Sprintf("removed paths: got %q, want %q", d.Removed, sorted(e.Removed)))
	}
	got := map[string]Change{}
	for _, c := range d.Changed {
		got[c.Path] = c
	}
	may := map[string][]string{}
	for p, fields := range e.May {
		may[p] = fields
	}
	for _, p := range e.Touched {
		c, ok := got[p]
		switch {
		case contains(e.Removed, p):
			continue
		case !ok:
			problems = append(problems, fmt.Sprintf("%s: mtime and ctime should be the clock's %v but did not change", p, e.Now.UTC()))
			continue
		case !c.Before.Mtime.Before(e.Now) || !c.Before.Ctime.Before(e.Now):
			problems = append(problems, fmt.Sprintf("%s: the clock %v is not later than its times before (mtime %v, ctime %v): the check would prove nothing", p, e.Now.UTC(), c.Before.Mtime.UTC(), c.Before.Ctime.UTC()))
		case !c.After.Mtime.Equal(e.Now) || !c.After.Ctime.Equal(e.Now):
			problems = append(problems, fmt.Sprintf("%s: mtime %v, ctime %v; want both the clock's %v", p, c.After.Mtime.UTC(), c.After.Ctime.UTC(), e.Now.UTC()))
		}
		may[p] = append(append([]string(nil), may[p]...), DirTimes()...)
	}
	for p, fields := range e.Changed {
		c := got[p]
		for _, f := range fields {
			if !contains(c.Fields, f) {
				problems = append(problems, fmt.Sprintf("%s: %s should have changed but did not", p, f))
			}
		}
	}
	for _, c := range d.Changed {
		allowed := append(append([]string{FieldCtime}, e.Changed[c.Path]...), may[c.Path]...)
		if _, ok := e.Changed[c.Path]; !ok {
			if _, ok := may[c.Path]; !ok {
				allowed = nil // a path nobody touched: not even ctime may move
			}
		}
		var bad []string
		for _, f := range c.Fields {
			if !contains(allowed, f) {
				bad = append(bad, f)
			}
		}
		if len(bad) > 0 {
			problems = append(problems, fmt.Sprintf("%s changed unexpectedly: %s -> %s", c.Path, c.Before.Describe(bad), c.After.Describe(bad)))
		}
	}
	if len(problems) > 0 {
		tb.Errorf("the tree did not change as expected:\n  %s\nwhole diff:\n%s", strings.Join(problems, "\n  "), d)
	}
}

// Parity fails the test unless ours (read through fs.ReadTree) and theirs
// (read by debugfs) hold the same paths with the same entries.
func Parity(tb testing.TB, ours, theirs Tree) {
	tb.Helper()
	d := DiffTrees(theirs, ours)
	if len(d.Added)+len(d.Removed)+len(d.Changed) == 0 {
		return
	}
	var b strings.Builder
	for _, p := range d.Added {
		fmt.Fprintf(&b, "  only we list %s\n", p)
	}
	for _, p := range d.Removed {
		fmt.Fprintf(&b, "  only debugfs lists %s\n", p)
	}
	for _, c := range d.Changed {
		fmt.Fprintf(&b, "  %s: debugfs %s, we %s\n", c.Path, c.Before.Describe(c.Fields), c.After.Describe(c.Fields))
	}
	tb.Errorf("our reader and debugfs disagree on %d paths:\n%s", len(d.Added)+len(d.Removed)+len(d.Changed), b.String())
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	sa, sb := sorted(a), sorted(b)
	for i := range sa {
		if sa[i] != sb[i] {
			return false
		}
	}
	return true
}

func sorted(a []string) []string {
	c := append([]string(nil), a...)
	sort.Strings(c)
	return c
}

func contains(a []string, s string) bool {
	for _, x := range a {
		if x == s {
			return true
		}
	}
	return false
}

// Below returns p and every path of t below directory p, as a removal of
// p takes them all.
func (t Tree) Below(p string) []string {
	var out []string
	for q := range t {
		if q == p || strings.HasPrefix(q, p+"/") {
			out = append(out, q)
		}
	}
	sort.Strings(out)
	return out
}
