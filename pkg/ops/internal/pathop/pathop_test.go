package pathop_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/fs/memfs"
	"github.com/imgprep/imgprep/pkg/ops"
	"github.com/imgprep/imgprep/pkg/ops/internal/pathop"
	"github.com/imgprep/imgprep/pkg/ops/opstest"
)

func tree() *memfs.FS {
	return memfs.New().
		AddFile("/etc/passwd", "root:x:0:0\n", 0o644).
		AddFile("/var/log/a.log", "a", 0o644).
		AddFile("/var/log/sub/b.log", "b", 0o644).
		AddSymlink("/var/log/link.log", "/etc/passwd").
		AddSymlink("/var/log/dirlink", "/etc").
		AddFile("/var/spool/at/.SEQ", "00007\n", 0o600).
		AddFile("/var/spool/at/job", "j", 0o700).
		AddDir("/var/spool/at/spool", 0o755).
		AddSymlink("/var/spool/at/escape", "/etc/passwd").
		AddSymlink("/srv", "/var/log")
}

func TestRules(t *testing.T) {
	tests := []struct {
		name  string
		rules []pathop.Rule
		want  []string
	}{
		{"RemoveAll removes a symlink as itself, never its target",
			[]pathop.Rule{{Glob: "/var/log/*", Kind: pathop.RemoveAll}},
			[]string{"removed /var/log/a.log", "removed /var/log/dirlink", "removed /var/log/link.log", "removed /var/log/sub"}},
		{"RemoveNonDir leaves directories",
			[]pathop.Rule{{Glob: "/var/log/*", Kind: pathop.RemoveNonDir}},
			[]string{"removed /var/log/a.log", "removed /var/log/dirlink", "removed /var/log/link.log"}},
		{"NotSymlinks leaves symlinks",
			[]pathop.Rule{{Glob: "/var/log/*.log", Kind: pathop.RemoveNonDir, NotSymlinks: true}},
			[]string{"removed /var/log/a.log"}},
		{"Except keeps the listed matches",
			[]pathop.Rule{{Glob: "/var/log/*.log", Kind: pathop.RemoveNonDir, Except: []string{"/var/log/a.log"}}},
			[]string{"removed /var/log/link.log"}},
		{"RemoveFilesBelow keeps directories, symlinks and the kept names",
			[]pathop.Rule{{Glob: "/var/spool/at", Kind: pathop.RemoveFilesBelow, Keep: func(n string) bool { return n == ".SEQ" }}},
			[]string{"removed /var/spool/at/job"}},
		{"an intermediate symlink is followed inside the guest",
			[]pathop.Rule{{Glob: "/srv/sub/*", Kind: pathop.RemoveAll}},
			[]string{"removed /srv/sub/b.log"}},
		{"a later rule does not report what an earlier one removed",
			[]pathop.Rule{{Glob: "/var/log/sub", Kind: pathop.RemoveAll}, {Glob: "/var/log/sub/*", Kind: pathop.RemoveAll}},
			[]string{"removed /var/log/sub"}},
		{"missing paths are no error",
			[]pathop.Rule{{Glob: "/nonexistent/*", Kind: pathop.RemoveAll}, {Glob: "/etc/passwd/x", Kind: pathop.RemoveAll}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, ref := tree(), tree()
			before := opstest.Take(t, g)
			op := pathop.New(pathop.Spec{Name: "x", Description: "x", Rules: tc.rules})
			ch, err := op.Apply(context.Background(), g)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range ch {
				got = append(got, string(c.Action)+" "+c.Path)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("changes %q, want %q", got, tc.want)
			}
			opstest.CheckChanges(t, ch, opstest.Diff(before, opstest.Take(t, g)), ref, g)
			if b, err := g.ReadFile("/etc/passwd"); err != nil || string(b) != "root:x:0:0\n" {
				t.Fatalf("/etc/passwd: %q, %v", b, err)
			}
		})
	}
}

func TestRewriteRefusesHugeFiles(t *testing.T) {
	g := memfs.New().AddFile("/big", strings.Repeat("x", pathop.MaxEdit+1), 0o644)
	s := pathop.NewSession(context.Background(), g, "op")
	err := s.Rewrite("/big", func(b []byte) ([]byte, string) { return nil, "" })
	if !errors.Is(err, fs.ErrInvalid) || !strings.Contains(err.Error(), "op: /big") {
		t.Fatalf("err %v, want fs.ErrInvalid naming op and /big", err)
	}
	if ch, _ := s.Result(nil); len(ch) != 0 {
		t.Fatalf("reported %v", ch)
	}
}

// TestAWalkListsAtMostMaxListedChanges: removing the files below a
// directory holding MaxListed+7 of them (and a kept subdirectory) lists
// MaxListed removals one by one and counts the other 7 into one change of
// the directory; every file is gone, the directories stay.
func TestAWalkListsAtMostMaxListedChanges(t *testing.T) {
	g := memfs.New().AddDir("/var/log/many/sub", 0o755)
	n := pathop.MaxListed + 7
	for i := range n {
		g.AddFile(fmt.Sprintf("/var/log/many/sub/f%05d.log", i), "x", 0o644)
	}
	op := pathop.New(pathop.Spec{Name: "x", Description: "x", Rules: []pathop.Rule{{Glob: "/var/log/many", Kind: pathop.RemoveFilesBelow}}})
	ch, err := op.Apply(context.Background(), g)
	if err != nil {
		t.Fatal(err)
	}
	if len(ch) != pathop.MaxListed+1 {
		t.Fatalf("%d changes, want %d listed and one summary", len(ch), pathop.MaxListed)
	}
	for _, c := range ch[:pathop.MaxListed] {
		if c.Action != ops.Removed || !strings.HasPrefix(c.Path, "/var/log/many/sub/f") {
			t.Fatalf("listed change %+v", c)
		}
	}
	last := ch[len(ch)-1]
	if last.Path != "/var/log/many" || last.Action != ops.Removed || !strings.HasPrefix(last.Detail, "7 more entries below it removed") {
		t.Fatalf("summary %+v, want /var/log/many with 7 more entries", last)
	}
	ents, err := g.ReadDir("/var/log/many/sub")
	if err != nil || len(ents) != 0 {
		t.Fatalf("/var/log/many/sub holds %d entries (%v), want none", len(ents), err)
	}
}
