package pathops

import (
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/pkg/ops/internal/pathop"
)

// TestTableIsSortedByName: the table is kept sorted, so that adding an
// operation is adding a row in its place and the catalog's order needs no
// hand-sorting.
func TestTableIsSortedByName(t *testing.T) {
	names := make([]string, len(table))
	for i, s := range table {
		names[i] = s.Name
	}
	if !slices.IsSorted(names) {
		t.Fatalf("table not sorted by name: %v", names)
	}
	if c := slices.Compact(slices.Clone(names)); len(c) != len(names) {
		t.Fatalf("a name appears twice: %v", names)
	}
}

// TestRowsAreWellFormed: every row has a name, a description and rules of
// absolute, clean globs; exceptions are absolute paths.
func TestRowsAreWellFormed(t *testing.T) {
	for _, s := range table {
		if s.Name == "" || s.Description == "" || len(s.Rules) == 0 {
			t.Errorf("row %+v lacks a name, a description or rules", s)
		}
		for _, r := range s.Rules {
			if !strings.HasPrefix(r.Glob, "/") || path.Clean(r.Glob) != r.Glob {
				t.Errorf("%s: glob %q is not absolute and clean", s.Name, r.Glob)
			}
			if r.Kind != pathop.RemoveAll && r.Kind != pathop.RemoveNonDir && r.Kind != pathop.RemoveFilesBelow {
				t.Errorf("%s: glob %q has kind %d", s.Name, r.Glob, r.Kind)
			}
			for _, e := range r.Except {
				if !strings.HasPrefix(e, "/") {
					t.Errorf("%s: exception %q is not absolute", s.Name, e)
				}
			}
		}
	}
}

// TestAllIsTheTable: All returns one operation per row, in the table's
// order, each with the row's name, description, default and rules.
func TestAllIsTheTable(t *testing.T) {
	all := All()
	if len(all) != len(table) {
		t.Fatalf("All returns %d operations for %d rows", len(all), len(table))
	}
	for i, op := range all {
		s := table[i]
		p, ok := op.(*pathop.Op)
		if !ok || op.Name() != s.Name || op.Description() != s.Description || op.Default() != s.Default || len(p.Rules()) != len(s.Rules) {
			t.Errorf("operation %d (%s) is not row %d (%s)", i, op.Name(), i, s.Name)
		}
	}
}

func TestGetFindsEveryRowAndNothingElse(t *testing.T) {
	for _, s := range table {
		if op, ok := Get(s.Name); !ok || op.Name() != s.Name {
			t.Errorf("Get(%q) = %v, %t", s.Name, op, ok)
		}
	}
	if op, ok := Get("machine-id"); ok {
		t.Errorf("Get(machine-id) = %v: not a path-only operation", op.Name())
	}
}
