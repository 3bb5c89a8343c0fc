package customize_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/customize"
	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/fs/memfs"
	"github.com/imgprep/imgprep/pkg/ops"
	"github.com/imgprep/imgprep/pkg/ops/catalogtest"
	"github.com/imgprep/imgprep/pkg/ops/opstest"
)

type arg struct{ kind, value string }

func parse(t testing.TB, args []arg) []customize.Step {
	t.Helper()
	var out []customize.Step
	for _, a := range args {
		s, err := customize.Parse(a.kind, a.value)
		if err != nil {
			t.Fatalf("Parse(%s, %q): %v", a.kind, a.value, err)
		}
		s.Now = func() time.Time { return time.Unix(1800000000, 0) }
		out = append(out, s)
	}
	return out
}

// applyAll runs steps in order and returns the changes as "action path",
// and the changes with a path two steps both changed kept once.
func applyAll(t testing.TB, g ops.Guest, steps []customize.Step) ([]string, []ops.Change, error) {
	t.Helper()
	var got []string
	var all []ops.Change
	seen := map[string]bool{}
	for _, s := range steps {
		ch, err := s.Apply(context.Background(), g)
		if err != nil {
			return got, all, err
		}
		for _, c := range ch {
			got = append(got, string(c.Action)+" "+c.Path)
			if !seen[c.Path] {
				seen[c.Path] = true
				all = append(all, c)
			}
		}
	}
	return got, all, nil
}

// fixtureTree is the catalog fixture's guest in memory, built once.
func fixtureTree(t *testing.T) *memfs.FS {
	t.Helper()
	return catalogtest.Memfs(t, catalogtest.Open(t).Guest, "ext4 on partition 2")
}

// state describes a path after the steps: its content, "-> target" for a
// symlink, "dir" for a directory, or "absent".
func state(t testing.TB, g fs.ReadTree, p string) string {
	t.Helper()
	a, err := g.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return "absent"
	}
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	switch a.Type() {
	case fs.TypeSymlink:
		target, _ := g.Readlink(p)
		return "-> " + target
	case fs.TypeDir:
		return "dir"
	}
	b, err := g.ReadFile(p)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return string(b)
}

func TestEachCustomization(t *testing.T) {
	host := filepath.Join(t.TempDir(), "motd.host")
	if err := os.WriteFile(host, []byte("uploaded\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	base := fixtureTree(t)
	tests := []struct {
		name   string
		steps  []arg
		want   []string
		states map[string]string
		perm   map[string]uint32
		// timesOnly: the change is to times alone, which snapshots ignore.
		timesOnly bool
	}{
		{name: "--hostname writes /etc/hostname and sets the 127.0.1.1 line of /etc/hosts",
			steps: []arg{{"hostname", "web1.example.org"}},
			want:  []string{"written /etc/hostname", "edited /etc/hosts"},
			states: map[string]string{"/etc/hostname": "web1.example.org\n",
				"/etc/hosts": "127.0.0.1\tlocalhost\n127.0.1.1\tweb1.example.org web1\n::1\tlocalhost ip6-localhost\n"}},
		{name: "--hostname with a short name puts it alone on the 127.0.1.1 line",
			steps:  []arg{{"hostname", "db"}},
			want:   []string{"written /etc/hostname", "edited /etc/hosts"},
			states: map[string]string{"/etc/hosts": "127.0.0.1\tlocalhost\n127.0.1.1\tdb\n::1\tlocalhost ip6-localhost\n"}},
		{name: "--write creates a new file",
			steps: []arg{{"write", "/etc/motd.d/hello:hi: there"}, {"mkdir", "/etc/motd.d"}},
			want:  nil},
		{name: "--write PATH:CONTENT creates or overwrites, the content may hold colons",
			steps:  []arg{{"write", "/etc/motd:a:b\n"}, {"write", "/etc/issue.net:net"}},
			want:   []string{"written /etc/motd", "created /etc/issue.net"},
			states: map[string]string{"/etc/motd": "a:b\n", "/etc/issue.net": "net"}},
		{name: "--upload copies a host file into a guest directory under its own name",
			steps:  []arg{{"upload", host + ":/etc"}, {"upload", host + ":/root/motd.copy"}},
			want:   []string{"created /etc/motd.host", "created /root/motd.copy"},
			states: map[string]string{"/etc/motd.host": "uploaded\n", "/root/motd.copy": "uploaded\n"},
			perm:   map[string]uint32{"/etc/motd.host": 0o640}},
		{name: "--delete takes globs and removes a symlink, not its target",
			steps:  []arg{{"delete", "/var/log/syslog*"}, {"delete", "/home/carol/.ssh"}, {"delete", "/nonexistent"}},
			want:   []string{"removed /var/log/syslog", "removed /var/log/syslog.1", "removed /var/log/syslog.2.gz", "removed /home/carol/.ssh"},
			states: map[string]string{"/var/log/syslog": "absent", "/etc/ssh/sshd_config": "Port 22\nPermitRootLogin no\n"}},
		{name: "--delete of a directory removes everything below it",
			steps: []arg{{"delete", "/home/alice"}},
			want:  []string{"removed /home/alice"}, states: map[string]string{"/home/alice": "absent"}},
		{name: "--truncate empties a file in place",
			steps: []arg{{"truncate", "/var/log/messages"}},
			want:  []string{"truncated /var/log/messages"}, states: map[string]string{"/var/log/messages": ""}},
		{name: "--truncate-recursive empties every regular file below a directory",
			steps:  []arg{{"truncate-recursive", "/var/log/apt"}},
			want:   []string{"truncated /var/log/apt/eipp.log.xz", "truncated /var/log/apt/history.log", "truncated /var/log/apt/term.log"},
			states: map[string]string{"/var/log/apt/term.log": ""}},
		{name: "--mkdir creates every missing parent",
			steps:  []arg{{"mkdir", "/srv/data/a/b"}},
			want:   []string{"created /srv/data", "created /srv/data/a", "created /srv/data/a/b"},
			states: map[string]string{"/srv/data/a/b": "dir"}},
		{name: "--chmod MODE:PATH sets an octal mode",
			steps: []arg{{"chmod", "0600:/etc/motd"}},
			want:  []string{"edited /etc/motd"}, perm: map[string]uint32{"/etc/motd": 0o600}},
		{name: "--link TARGET:LINK:LINK makes symlinks, replacing files (ln -sf)",
			steps:  []arg{{"link", "/etc/motd:/etc/motd.link:/etc/timezone"}},
			want:   []string{"created /etc/motd.link", "written /etc/timezone"},
			states: map[string]string{"/etc/motd.link": "-> /etc/motd", "/etc/timezone": "-> /etc/motd"}},
		{name: "--touch creates a missing file",
			steps: []arg{{"touch", "/etc/cloud/cloud-init.disabled"}},
			want:  []string{"created /etc/cloud/cloud-init.disabled"}, states: map[string]string{"/etc/cloud/cloud-init.disabled": ""}},
		{name: "--touch of an existing file changes its times only",
			steps: []arg{{"touch", "/etc/motd"}}, timesOnly: true,
			want: []string{"edited /etc/motd"}, states: map[string]string{"/etc/motd": "Welcome\n"}},
		{name: "--append-line adds a line, and a newline first when the file lacks one",
			steps:  []arg{{"write", "/etc/nonl:no newline"}, {"append-line", "/etc/nonl:second"}, {"append-line", "/etc/motd:Have fun"}, {"append-line", "/etc/new.conf:x=1"}},
			want:   []string{"created /etc/nonl", "edited /etc/nonl", "edited /etc/motd", "created /etc/new.conf"},
			states: map[string]string{"/etc/nonl": "no newline\nsecond\n", "/etc/motd": "Welcome\nHave fun\n", "/etc/new.conf": "x=1\n"}},
		{name: "--timezone makes /etc/localtime a symlink into /usr/share/zoneinfo",
			steps:  []arg{{"timezone", "Europe/Paris"}},
			want:   []string{"written /etc/localtime"},
			states: map[string]string{"/etc/localtime": "-> /usr/share/zoneinfo/Europe/Paris"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, ref := base.Clone(), base.Clone()
			before := opstest.Take(t, g)
			got, changes, err := applyAll(t, g, parse(t, tc.steps))
			if tc.want == nil {
				if !errors.Is(err, customize.ErrNoGuestDir) {
					t.Fatalf("err %v, want ErrNoGuestDir", err)
				}
				if d := opstest.Diff(before, opstest.Take(t, g)); len(d) != 0 {
					t.Fatalf("a failed step changed %v", d)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("changes %q, want %q", got, tc.want)
			}
			if !tc.timesOnly {
				opstest.CheckChanges(t, changes, opstest.Diff(before, opstest.Take(t, g)), ref, g)
			}
			for p, want := range tc.states {
				if s := state(t, g, p); s != want {
					t.Errorf("%s: %q, want %q", p, s, want)
				}
			}
			for p, want := range tc.perm {
				if a, err := g.Lstat(p); err != nil || a.Perm() != want {
					t.Errorf("%s: mode %04o (%v), want %04o", p, a.Perm(), err, want)
				}
			}
		})
	}
}

func TestStepsRunInTheOrderGiven(t *testing.T) {
	base := fixtureTree(t)
	tests := []struct {
		name  string
		steps []arg
		want  string
	}{
		{"write then delete leaves no file", []arg{{"write", "/etc/flag:1"}, {"delete", "/etc/flag"}}, "absent"},
		{"delete then write leaves the file", []arg{{"delete", "/etc/flag"}, {"write", "/etc/flag:1"}}, "1"},
		{"write then append-line appends", []arg{{"write", "/etc/flag:1"}, {"append-line", "/etc/flag:2"}}, "1\n2\n"},
		{"append-line then write overwrites", []arg{{"append-line", "/etc/flag:2"}, {"write", "/etc/flag:1"}}, "1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := base.Clone()
			if _, _, err := applyAll(t, g, parse(t, tc.steps)); err != nil {
				t.Fatal(err)
			}
			if s := state(t, g, "/etc/flag"); s != tc.want {
				t.Fatalf("/etc/flag: %q, want %q", s, tc.want)
			}
		})
	}
}

func TestBadArguments(t *testing.T) {
	tests := []struct {
		kind, value string
		want        error
	}{
		{"write", "relative/path:x", customize.ErrSyntax},
		{"write", "/etc/x", customize.ErrSyntax},
		{"chmod", "rw:/etc/motd", customize.ErrSyntax},
		{"chmod", "17777:/etc/motd", customize.ErrSyntax},
		{"link", "/etc/motd:relative", customize.ErrSyntax},
		{"hostname", "bad_name!", customize.ErrSyntax},
		{"timezone", "../../etc/passwd", customize.ErrSyntax},
		{"append-line", "/etc/motd:two\nlines", customize.ErrSyntax},
		{"upload", "/nonexistent/host/file:/etc/x", fs.ErrNotExist},
		{"frobnicate", "/x", customize.ErrUnknown},
	}
	for _, tc := range tests {
		t.Run("--"+tc.kind+" "+tc.value, func(t *testing.T) {
			_, err := customize.Parse(tc.kind, tc.value)
			if !errors.Is(err, tc.want) && !(tc.want == fs.ErrNotExist && errors.Is(err, os.ErrNotExist)) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
}

func TestGuestErrorsLeaveTheGuestUnchanged(t *testing.T) {
	base := fixtureTree(t)
	tests := []struct {
		name string
		step arg
		want error
	}{
		{"--truncate of a missing file is an error, as in virt-customize", arg{"truncate", "/etc/nothing"}, customize.ErrNotFound},
		{"--write through a final symlink is refused", arg{"write", "/etc/localtime:x"}, customize.ErrSymlink},
		{"--timezone needs the zone in the guest", arg{"timezone", "Mars/Olympus"}, customize.ErrNotFound},
		{"--chmod of a missing path is an error", arg{"chmod", "0644:/etc/nothing"}, customize.ErrNotFound},
		{"--mkdir through a file is an error", arg{"mkdir", "/etc/motd/x"}, fs.ErrNotDir},
		{"a read-only guest fails with ErrReadOnly", arg{"write", "/etc/motd:x"}, fs.ErrReadOnly},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := base.Clone()
			g.ReadOnly = tc.want == fs.ErrReadOnly
			before := opstest.Take(t, g)
			got, _, err := applyAll(t, g, parse(t, []arg{tc.step}))
			if !errors.Is(err, tc.want) || len(got) != 0 {
				t.Fatalf("err %v, changes %v; want %v and none", err, got, tc.want)
			}
			if !strings.Contains(err.Error(), "--"+tc.step.kind) {
				t.Errorf("error %q does not name the option", err)
			}
			if d := opstest.Diff(before, opstest.Take(t, g)); len(d) != 0 {
				t.Fatalf("changed %v", d)
			}
		})
	}
}

// TestEveryCustomizationOnTheFixture runs one of each customization on
// the real ext4 fixture and has e2fsck and debugfs judge the result.
func TestEveryCustomizationOnTheFixture(t *testing.T) {
	oracle.Require(t, "e2fsck")
	host := filepath.Join(t.TempDir(), "banner")
	if err := os.WriteFile(host, []byte("banner\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d := catalogtest.Open(t)
	steps := parse(t, []arg{
		{"hostname", "clone.example.org"}, {"write", "/etc/motd:hello\n"}, {"upload", host + ":/etc/issue"},
		{"delete", "/var/log/*.log"}, {"truncate", "/var/log/messages"}, {"truncate-recursive", "/var/log/apt"},
		{"mkdir", "/srv/data/x"}, {"chmod", "0700:/srv/data"}, {"link", "/etc/motd:/etc/motd.link"},
		{"touch", "/etc/cloud/cloud-init.disabled"}, {"append-line", "/etc/motd:second"}, {"timezone", "Europe/Paris"},
	})
	_, changes, err := applyAll(t, d.Guest, steps)
	if err != nil {
		t.Fatal(err)
	}
	d.SyncAndCheck(t, changes)
	root := oracle.Device(d.Path, d.Layout.Filesystems[1].Offset)
	for p, want := range map[string]string{
		"/etc/hostname": "clone.example.org\n", "/etc/motd": "hello\nsecond\n", "/etc/issue": "banner\n",
		"/etc/cloud/cloud-init.disabled": "",
	} {
		if got, ok := oracle.DebugfsCat(t, root, p); !ok || string(got) != want {
			t.Errorf("debugfs cat %s: %q (%t), want %q", p, got, ok, want)
		}
	}
	if out := oracle.Debugfs(t, root, "stat /etc/localtime"); !strings.Contains(out, "Fast link dest: \"/usr/share/zoneinfo/Europe/Paris\"") {
		t.Errorf("/etc/localtime:\n%s", out)
	}
}
