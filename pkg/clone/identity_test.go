package clone

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/pkg/customize"
	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/fs/memfs"
	"github.com/imgprep/imgprep/pkg/ops"
	"github.com/imgprep/imgprep/pkg/ops/opstest"
)

func readString(tb testing.TB, g fs.ReadTree, p string) string {
	tb.Helper()
	b, err := g.ReadFile(p)
	if err != nil {
		tb.Fatalf("reading %s: %v", p, err)
	}
	return string(b)
}

func TestRandomMachineIDIs32LowercaseHexOfAV4UUID(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]{12}4[0-9a-f]{3}[89ab][0-9a-f]{15}$`)
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		id, err := RandomMachineID()
		if err != nil {
			t.Fatal(err)
		}
		if !re.MatchString(id) {
			t.Fatalf("%q is not 32 lower-case hex characters of a version 4 UUID", id)
		}
		if seen[id] {
			t.Fatalf("%q drawn twice", id)
		}
		seen[id] = true
	}
}

func TestValidHostnameFollowsRFC1123(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"web-1", true},
		{"web-1.example.com", true},
		{"1web", true}, // RFC 1123 allows a leading digit
		{"", false},
		{"-web", false},
		{"web-", false},
		{"web_1", false},
		{"web..1", false},
		{strings.Repeat("b", 63), true},
		{"a." + strings.Repeat("b", 62), true},  // 64 bytes
		{strings.Repeat("b", 64), false},        // label over 63
		{strings.Repeat("a.", 32) + "b", false}, // 65 bytes: over HOST_NAME_MAX
		{"web 1", false},
		{"wéb", false},
	}
	for _, tc := range tests {
		err := ValidHostname(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("ValidHostname(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrHostname) {
			t.Errorf("ValidHostname(%q): %v is not ErrHostname", tc.name, err)
		}
	}
}

func TestExpandNumbersThePattern(t *testing.T) {
	tests := []struct {
		pattern string
		n       int
		want    string
		err     error
	}{
		{"web-{n}.qcow2", 7, "web-7.qcow2", nil},
		{"{n}/{n}.raw", 12, "12/12.raw", nil},
		{"web.qcow2", 1, "", ErrPattern},
	}
	for _, tc := range tests {
		got, err := Expand(tc.pattern, tc.n)
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("Expand(%q, %d) = %q, %v; want %q, %v", tc.pattern, tc.n, got, err, tc.want, tc.err)
		}
	}
}

func TestIdentityOpWritesHostnameHostsAndMachineID(t *testing.T) {
	const id = "0123456789abcdef0123456789abcdef"
	g := opstest.Populated()
	g.AddFile("/etc/hosts", "127.0.0.1 localhost\n127.0.1.1 template\n", 0o644)
	before := opstest.Take(t, g)
	op := NewIdentityOp(Identity{Hostname: "web-9", MachineID: id})
	changes, err := op.Apply(context.Background(), g)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{
		customize.HostnamePath: "web-9\n",
		customize.HostsPath:    "127.0.0.1 localhost\n127.0.1.1\tweb-9\n",
		MachineIDPath:          id + "\n",
		DbusIDPath:             id + "\n",
	} {
		if got := readString(t, g, p); got != want {
			t.Errorf("%s = %q, want %q", p, got, want)
		}
	}
	// Written in place: the SELinux label and the mode of machine-id stay.
	if x, _ := g.Xattrs(MachineIDPath); len(x["security.selinux"]) == 0 {
		t.Errorf("machine-id lost its security.selinux label")
	}
	if a, _ := g.Stat(MachineIDPath); a.Perm() != 0o444 {
		t.Errorf("machine-id mode %o, want 444", a.Perm())
	}
	opstest.CheckChanges(t, changes, opstest.Diff(before, opstest.Take(t, g)), opstest.Populated(), g)
	if again, err := op.Apply(context.Background(), g); err != nil || len(again) != 0 {
		t.Fatalf("a second run: %v, %v; want no change", again, err)
	}
}

func TestIdentityOpCreatesMissingFilesOnlyInAnExistingEtc(t *testing.T) {
	const id = "fedcba9876543210fedcba9876543210"
	g := memfs.New().AddDir("/etc", 0o755)
	changes, err := NewIdentityOp(Identity{Hostname: "db-1", MachineID: id}).Apply(context.Background(), g)
	if err != nil {
		t.Fatal(err)
	}
	if got := readString(t, g, MachineIDPath); got != id+"\n" {
		t.Errorf("machine-id %q", got)
	}
	if a, _ := g.Stat(MachineIDPath); a.Perm() != 0o444 {
		t.Errorf("new machine-id mode %o, want 444", a.Perm())
	}
	if a, _ := g.Stat(customize.HostnamePath); a.Perm() != 0o644 {
		t.Errorf("new hostname mode %o, want 644", a.Perm())
	}
	var created []string
	for _, c := range changes {
		if c.Action == ops.Created {
			created = append(created, c.Path)
		}
	}
	if strings.Join(created, " ") != "/etc/hostname /etc/machine-id" {
		t.Errorf("created %v", created)
	}
	if _, err := g.Lstat(DbusIDPath); err == nil {
		t.Errorf("the D-Bus copy was created; it must only be kept consistent")
	}
	// No /etc at all: no machine-id to create; a host name is refused
	// (virt-customize's --hostname needs the guest's /etc).
	empty := memfs.New()
	if c, err := NewIdentityOp(Identity{MachineID: id}).Apply(context.Background(), empty); err != nil || len(c) != 0 {
		t.Errorf("machine ID on an empty root: %v, %v", c, err)
	}
	if _, err := NewIdentityOp(Identity{Hostname: "db-1"}).Apply(context.Background(), empty); !errors.Is(err, customize.ErrNoGuestDir) {
		t.Errorf("host name on an empty root: %v", err)
	}
}

func TestIdentityOpRefusesSymlinksAndBadValues(t *testing.T) {
	tests := []struct {
		name string
		g    func() *memfs.FS
		id   Identity
		want error
	}{
		{"machine-id symlink to /etc/passwd", func() *memfs.FS {
			g := opstest.Populated()
			g.Remove(MachineIDPath)
			return g.AddSymlink(MachineIDPath, "/etc/passwd")
		}, Identity{MachineID: "0123456789abcdef0123456789abcdef"}, ErrNotRegular},
		{"hostname symlink", func() *memfs.FS {
			g := opstest.Populated()
			g.Remove(customize.HostnamePath)
			return g.AddSymlink(customize.HostnamePath, "/etc/passwd")
		}, Identity{Hostname: "a"}, customize.ErrSymlink},
		{"hosts symlink", func() *memfs.FS {
			g := opstest.Populated()
			return g.AddSymlink(customize.HostsPath, "/etc/passwd")
		}, Identity{Hostname: "a"}, customize.ErrSymlink},
		{"upper-case machine ID", opstest.Populated, Identity{MachineID: "0123456789ABCDEF0123456789ABCDEF"}, ErrMachineID},
		{"all-zero machine ID", opstest.Populated, Identity{MachineID: strings.Repeat("0", 32)}, ErrMachineID},
		{"bad host name", opstest.Populated, Identity{Hostname: "-x"}, ErrHostname},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := tc.g()
			passwd := readString(t, g, "/etc/passwd")
			_, err := NewIdentityOp(tc.id).Apply(context.Background(), g)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if readString(t, g, "/etc/passwd") != passwd {
				t.Fatalf("/etc/passwd was written through a symlink")
			}
		})
	}
}
