package catalog_test

import (
	"errors"
	"reflect"
	"sort"
	"testing"

	"github.com/imgprep/imgprep/pkg/ops"
	"github.com/imgprep/imgprep/pkg/ops/accounts"
	"github.com/imgprep/imgprep/pkg/ops/catalog"
	"github.com/imgprep/imgprep/pkg/ops/catalogtest"
	"github.com/imgprep/imgprep/pkg/ops/cloudinit"
	"github.com/imgprep/imgprep/pkg/ops/netdata"
	"github.com/imgprep/imgprep/pkg/ops/opstest"
)

// fake is a non-default operation, so that the selection rules can tell
// "defaults" from "all" whatever the real catalog holds.
type fake struct{ ops.Operation }

func (fake) Name() string  { return "zz-extra" }
func (fake) Default() bool { return false }

func TestEveryOperationConforms(t *testing.T) {
	all := catalog.All(catalog.Config{Netdata: netdata.Options{Claim: &netdata.Claim{Token: "t"}}})
	opstest.UniqueNames(t, all)
	// The catalog fixture's guest, in memory: every operation has
	// something to do there, so the read-only, second-run and
	// cancellation checks bite.
	tree := catalogtest.Memfs(t, catalogtest.Open(t).Guest, "ext4 on partition 2")
	fixtureRoot := opstest.Root{Name: "catalog-fixture", New: tree.Clone}
	for _, op := range all {
		t.Run(op.Name(), func(t *testing.T) { opstest.Conformance(t, op, fixtureRoot) })
	}
	// The operations whose options change what they touch, with them.
	withOptions := catalog.Config{
		UserAccount: accounts.Options{Keep: []string{"alice"}, Remove: []string{"alice", "bob"}},
		CloudInit:   cloudinit.Options{Network: true},
	}
	for _, op := range catalog.All(withOptions) {
		if op.Name() == "user-account" || op.Name() == "cloud-init" {
			t.Run(op.Name()+" with options", func(t *testing.T) { opstest.Conformance(t, op, fixtureRoot) })
		}
	}
}

func TestCatalogIsSortedByName(t *testing.T) {
	all := catalog.All(catalog.Config{})
	if !sort.SliceIsSorted(all, func(i, j int) bool { return all[i].Name() < all[j].Name() }) {
		t.Fatalf("catalog not sorted: %v", names(all))
	}
}

func names(list []ops.Operation) []string {
	var out []string
	for _, op := range list {
		out = append(out, op.Name())
	}
	return out
}

// two returns machine-id and netdata from the catalog, plus fake: the
// selection rules are checked on a fixed list, whatever the catalog holds.
func two() []ops.Operation {
	var out []ops.Operation
	for _, op := range catalog.All(catalog.Config{}) {
		if op.Name() == "machine-id" || op.Name() == "netdata" {
			out = append(out, op)
		}
	}
	return append(out, fake{})
}

func TestSelect(t *testing.T) {
	all := two()
	tests := []struct {
		name       string
		operations []string
		enable     string
		want       []string
		wantErr    error
	}{
		{"with neither option the default operations run", nil, "", []string{"machine-id", "netdata"}, nil},
		{"--operations starts from the empty set", []string{"netdata"}, "", []string{"netdata"}, nil},
		{"defaults names the default set", []string{"defaults"}, "", []string{"machine-id", "netdata"}, nil},
		{"all names every operation", []string{"all"}, "", []string{"machine-id", "netdata", "zz-extra"}, nil},
		{"-name removes one", []string{"all,-netdata"}, "", []string{"machine-id", "zz-extra"}, nil},
		{"the option is repeatable and applied in order", []string{"defaults", "-machine-id", "zz-extra"}, "", []string{"netdata", "zz-extra"}, nil},
		{"-name from the empty set leaves it empty", []string{"-netdata"}, "", nil, nil},
		{"spaces around names are ignored", []string{" netdata , machine-id "}, "", []string{"machine-id", "netdata"}, nil},
		{"an unknown name is a usage error", []string{"defaults,bogus"}, "", nil, catalog.ErrUnknownOperation},
		{"an unknown -name is a usage error", []string{"-bogus"}, "", nil, catalog.ErrUnknownOperation},
		{"an empty name is a usage error", []string{"netdata,"}, "", nil, catalog.ErrEmptyName},
		{"--enable selects exactly these", nil, "zz-extra,netdata", []string{"netdata", "zz-extra"}, nil},
		{"--enable does not know defaults", nil, "defaults", nil, catalog.ErrUnknownOperation},
		{"--enable and --operations together are a usage error", []string{"all"}, "netdata", nil, catalog.ErrBothSelections},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := catalog.Select(all, tc.operations, tc.enable)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(names(got), tc.want) {
				t.Fatalf("selected %v, want %v", names(got), tc.want)
			}
		})
	}
}

func FuzzSelect(f *testing.F) {
	for _, s := range []string{"defaults", "all,-netdata", "-machine-id", "netdata,", ",", "bogus", " all , -zz-extra"} {
		f.Add(s, "")
		f.Add("", s)
	}
	all := two()
	f.Fuzz(func(t *testing.T, operations, enable string) {
		var list []string
		if operations != "" {
			list = []string{operations}
		}
		got, err := catalog.Select(all, list, enable)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, op := range got {
			if seen[op.Name()] {
				t.Fatalf("Select(%q, %q) returned %s twice", operations, enable, op.Name())
			}
			seen[op.Name()] = true
		}
	})
}
