package opstest

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/ops"
)

// recorder is a testing.TB that records failures instead of failing.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func TestCheckChangesCatchesMisreports(t *testing.T) {
	tests := []struct {
		name    string
		apply   func(g ops.Guest) []ops.Change
		wantErr string // "" when the checker must accept
	}{
		{"an honest removal through a symlinked directory passes", func(g ops.Guest) []ops.Change {
			_ = g.Remove("/var/run/status-netdata.json")
			return []ops.Change{{Path: "/var/run/status-netdata.json", Action: ops.Removed, Filesystem: "x"}}
		}, ""},
		{"an unreported change is caught", func(g ops.Guest) []ops.Change {
			_ = g.Truncate("/etc/hostname", 0)
			return nil
		}, "no change covers it"},
		{"a reported path that did not change is caught", func(g ops.Guest) []ops.Change {
			return []ops.Change{{Path: "/etc/hostname", Action: ops.Truncated, Filesystem: "x"}}
		}, "did not change"},
		{"a change reported twice through two names is caught", func(g ops.Guest) []ops.Change {
			_ = g.Remove("/run/status-netdata.json")
			return []ops.Change{
				{Path: "/run/status-netdata.json", Action: ops.Removed, Filesystem: "x"},
				{Path: "/var/run/status-netdata.json", Action: ops.Removed, Filesystem: "x"},
			}
		}, "reported twice"},
		{"a change without a filesystem is caught", func(g ops.Guest) []ops.Change {
			_ = g.Truncate("/etc/hostname", 0)
			return []ops.Change{{Path: "/etc/hostname", Action: ops.Truncated}}
		}, "no filesystem"},
		{"a removal that left the file is caught", func(g ops.Guest) []ops.Change {
			_ = g.Truncate("/etc/hostname", 0)
			return []ops.Change{{Path: "/etc/hostname", Action: ops.Removed, Filesystem: "x"}}
		}, "still there"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, ref := Populated(), Populated()
			before := Take(t, g)
			changes := tc.apply(g)
			r := &recorder{TB: t}
			CheckChanges(r, changes, Diff(before, Take(t, g)), ref, g)
			all := strings.Join(r.errs, "\n")
			if tc.wantErr == "" && len(r.errs) > 0 {
				t.Fatalf("checker rejected an honest op:\n%s", all)
			}
			if tc.wantErr != "" && !strings.Contains(all, tc.wantErr) {
				t.Fatalf("checker missed it; got %q, want a failure containing %q", all, tc.wantErr)
			}
		})
	}
}

func TestCanonical(t *testing.T) {
	g := Populated().AddSymlink("/a", "../../var/run")
	tests := []struct{ in, want string }{
		{"/var/run/status-netdata.json", "/run/status-netdata.json"},
		{"/a/x", "/run/x"},
		{"/var/run", "/var/run"},
	}
	for _, tc := range tests {
		if got, err := Canonical(g, tc.in); err != nil || got != tc.want {
			t.Errorf("Canonical(%s) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	g.AddSymlink("/l1", "/l2").AddSymlink("/l2", "/l1")
	if _, err := Canonical(g, "/l1/x"); !errors.Is(err, fs.ErrLoop) {
		t.Errorf("Canonical through a loop: %v, want ErrLoop", err)
	}
}
