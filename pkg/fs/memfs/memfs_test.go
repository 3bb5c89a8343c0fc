package memfs

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/pkg/fs"
)

// tree builds the filesystem the path-rule tests run on.
func tree(tb testing.TB) *FS {
	tb.Helper()
	f := New()
	f.AddFile("/etc/machine-id", "0123456789abcdef0123456789abcdef\n", 0o444).
		AddFile("/etc/hostname", "template\n", 0o644).
		AddDir("/var/lib/dbus", 0o755).
		AddSymlink("/var/lib/dbus/machine-id", "/etc/machine-id").
		AddSymlink("/var/run", "../run").
		AddDir("/run", 0o755).
		AddFile("/run/status.json", "{}", 0o644).
		AddSymlink("/escape", "../../../../../etc").
		AddSymlink("/abs", "/etc/hostname").
		AddSymlink("/rel", "etc/hostname").
		AddSymlink("/loop1", "/loop2").
		AddSymlink("/loop2", "/loop1").
		AddSymlink("/self", "self").
		AddSymlink("/dangling", "/nowhere/file").
		AddSymlink("/root-link", "/").
		AddFile("/file", "x", 0o600)
	// A chain of exactly MaxSymlinkHops links resolves; one more loops.
	for i := 0; i < fs.MaxSymlinkHops; i++ {
		f.AddSymlink(fmt.Sprintf("/chain/%d", i), fmt.Sprintf("/chain/%d", i+1))
	}
	f.AddFile(fmt.Sprintf("/chain/%d", fs.MaxSymlinkHops), "end", 0o644)
	f.AddSymlink("/chain/start", "/chain/0")
	return f
}

func TestPathRules(t *testing.T) {
	tests := []struct {
		name    string
		op      string // "stat" | "lstat" | "read"
		path    string
		want    string // file content for read, or type for stat/lstat
		wantErr error
	}{
		{"absolute symlink target is relative to the filesystem root", "read", "/abs", "template\n", nil},
		{"relative symlink target is relative to the link's directory", "read", "/rel", "template\n", nil},
		{"dot-dot never climbs above the root", "read", "/../../etc/hostname", "template\n", nil},
		{"dot-dot in a symlink target is clamped at the root", "read", "/escape/hostname", "template\n", nil},
		{"dot and empty components are ignored", "read", "//etc/./hostname", "template\n", nil},
		{"dot-dot after a symlinked directory climbs from its target", "read", "/var/run/../etc/hostname", "template\n", nil},
		{"intermediate symlinks are followed", "read", "/var/run/status.json", "{}", nil},
		{"symlink to root", "read", "/root-link/etc/hostname", "template\n", nil},
		{"stat follows the final symlink", "stat", "/var/lib/dbus/machine-id", "file", nil},
		{"lstat does not follow the final symlink", "lstat", "/var/lib/dbus/machine-id", "symlink", nil},
		{"lstat follows intermediate symlinks", "lstat", "/var/run/status.json", "file", nil},
		{"lstat of a loop is the link itself", "lstat", "/loop1", "symlink", nil},
		{"a symlink loop fails with ErrLoop", "stat", "/loop1", "", fs.ErrLoop},
		{"a link to itself fails with ErrLoop", "read", "/self", "", fs.ErrLoop},
		{"a loop as intermediate component fails with ErrLoop", "lstat", "/loop1/x", "", fs.ErrLoop},
		{"40 symlinks are followed", "read", "/chain/0", "end", nil},
		{"41 symlinks fail with ErrLoop", "read", "/chain/start", "", fs.ErrLoop},
		{"a dangling symlink does not exist for stat", "stat", "/dangling", "", fs.ErrNotExist},
		{"a dangling symlink exists for lstat", "lstat", "/dangling", "symlink", nil},
		{"a file is not a directory", "stat", "/file/x", "", fs.ErrNotDir},
		{"a missing intermediate directory", "stat", "/nope/x", "", fs.ErrNotExist},
		{"a relative path is invalid", "stat", "etc/hostname", "", fs.ErrInvalid},
		{"a name over 255 bytes is too long", "stat", "/" + strings.Repeat("a", 256), "", fs.ErrNameTooLong},
		{"reading a directory", "read", "/etc", "", fs.ErrIsDir},
		{"the root is a directory", "stat", "/", "dir", nil},
	}
	f := tree(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got string
			var err error
			switch tc.op {
			case "read":
				var b []byte
				b, err = f.ReadFile(tc.path)
				got = string(b)
			case "stat", "lstat":
				var a fs.Attr
				if tc.op == "stat" {
					a, err = f.Stat(tc.path)
				} else {
					a, err = f.Lstat(tc.path)
				}
				got = a.Type().String()
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("%s %s: err %v, want %v", tc.op, tc.path, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s %s: %v", tc.op, tc.path, err)
			}
			if got != tc.want {
				t.Fatalf("%s %s = %q, want %q", tc.op, tc.path, got, tc.want)
			}
		})
	}
}

func TestChangesDoNotFollowTheFinalSymlink(t *testing.T) {
	tests := []struct {
		name  string
		do    func(f *FS) error
		check func(t *testing.T, f *FS)
	}{
		{"Remove unlinks the symlink, not its target", func(f *FS) error { return f.Remove("/var/lib/dbus/machine-id") },
			func(t *testing.T, f *FS) {
				mustNotExist(t, f, "/var/lib/dbus/machine-id")
				mustRead(t, f, "/etc/machine-id", "0123456789abcdef0123456789abcdef\n")
			}},
		{"RemoveAll of a symlinked directory removes the link only", func(f *FS) error { return f.RemoveAll("/var/run") },
			func(t *testing.T, f *FS) {
				mustNotExist(t, f, "/var/run")
				mustRead(t, f, "/run/status.json", "{}")
			}},
		{"RemoveAll through a symlink clamped at the root stays inside", func(f *FS) error { return f.RemoveAll("/escape/hostname") },
			func(t *testing.T, f *FS) { mustNotExist(t, f, "/etc/hostname") }},
		{"RemoveAll of a missing path is not an error", func(f *FS) error { return f.RemoveAll("/nope/deeper") }, nil},
		{"Rename moves the symlink", func(f *FS) error { return f.Rename("/abs", "/abs2") },
			func(t *testing.T, f *FS) {
				if got, _ := f.Readlink("/abs2"); got != "/etc/hostname" {
					t.Fatalf("readlink /abs2 = %q", got)
				}
			}},
		{"Truncate follows the final symlink", func(f *FS) error { return f.Truncate("/var/lib/dbus/machine-id", 0) },
			func(t *testing.T, f *FS) { mustRead(t, f, "/etc/machine-id", "") }},
		{"WriteFile through a dangling symlink creates its target", func(f *FS) error {
			f.AddDir("/nowhere", 0o755)
			return f.WriteFile("/dangling", []byte("new"), fs.WriteOptions{Perm: 0o600})
		}, func(t *testing.T, f *FS) { mustRead(t, f, "/nowhere/file", "new") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := tree(t)
			if err := tc.do(f); err != nil {
				t.Fatal(err)
			}
			if tc.check != nil {
				tc.check(t, f)
			}
		})
	}
}

func TestWriteSemantics(t *testing.T) {
	f := tree(t)
	f.SetXattr("/etc/machine-id", "security.selinux", []byte("system_u:object_r:machineid_t:s0"))
	f.SetOwner("/etc/machine-id", fs.Owner{GID: 42})
	before, _ := f.Lstat("/etc/machine-id")
	if err := f.Truncate("/etc/machine-id", 0); err != nil {
		t.Fatal(err)
	}
	after, _ := f.Lstat("/etc/machine-id")
	if after.Ino != before.Ino || after.Mode != before.Mode || after.GID != 42 || after.Size != 0 {
		t.Fatalf("truncate changed identity: before %+v after %+v", before, after)
	}
	x, _ := f.Xattrs("/etc/machine-id")
	if string(x["security.selinux"]) != "system_u:object_r:machineid_t:s0" {
		t.Fatalf("xattr lost: %q", x)
	}

	// Hard links share the inode; the inode lives until its last name goes.
	f.AddHardLink("/etc/hostname", "/etc/hostname.bak")
	a, _ := f.Lstat("/etc/hostname")
	if a.Nlink != 2 {
		t.Fatalf("nlink = %d, want 2", a.Nlink)
	}
	if err := f.Remove("/etc/hostname"); err != nil {
		t.Fatal(err)
	}
	if b, _ := f.Lstat("/etc/hostname.bak"); b.Nlink != 1 || b.Ino != a.Ino {
		t.Fatalf("after remove: %+v", b)
	}

	// Directory link counts are 2 + subdirectories.
	v, _ := f.Stat("/var")
	if err := f.Mkdir("/var/tmp", 0o1777, fs.Owner{}); err != nil {
		t.Fatal(err)
	}
	v2, _ := f.Stat("/var")
	if v2.Nlink != v.Nlink+1 {
		t.Fatalf("/var nlink %d → %d", v.Nlink, v2.Nlink)
	}

	errTests := []struct {
		name string
		err  error
		want error
	}{
		{"mkdir over an existing file", f.Mkdir("/file", 0o755, fs.Owner{}), fs.ErrExist},
		{"remove a non-empty directory", f.Remove("/etc"), fs.ErrNotEmpty},
		{"readlink of a regular file", func() error { _, err := f.Readlink("/file"); return err }(), fs.ErrNotSymlink},
		{"rename a directory into itself", f.Rename("/var", "/var/lib/x"), fs.ErrInvalid},
		{"rename a file over a directory", f.Rename("/file", "/etc"), fs.ErrIsDir},
		{"rename a directory over a non-empty directory", f.Rename("/run", "/etc"), fs.ErrNotEmpty},
		{"hard link to a directory", f.Link("/etc", "/etc2"), fs.ErrIsDir},
		{"remove the root", f.Remove("/"), fs.ErrInvalid},
	}
	for _, tc := range errTests {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: err %v, want %v", tc.name, tc.err, tc.want)
		}
	}
}

func TestReadOnly(t *testing.T) {
	f := tree(t)
	f.ReadOnly = true
	changes := map[string]error{
		"Remove":    f.Remove("/file"),
		"RemoveAll": f.RemoveAll("/etc"),
		"Truncate":  f.Truncate("/file", 0),
		"WriteFile": f.WriteFile("/new", nil, fs.WriteOptions{}),
		"Mkdir":     f.Mkdir("/d", 0o755, fs.Owner{}),
		"Symlink":   f.Symlink("/x", "/s", fs.Owner{}),
		"Mknod":     f.Mknod("/n", fs.ModeFIFO|0o644, 0, fs.Owner{}),
		"Link":      f.Link("/file", "/l"),
		"Chmod":     f.Chmod("/file", 0o777),
		"Chown":     f.Chown("/file", fs.Owner{UID: 1}),
		"Utimes":    f.Utimes("/file", fs.Times{}),
		"Rename":    f.Rename("/file", "/file2"),
	}
	for name, err := range changes {
		if !errors.Is(err, fs.ErrReadOnly) {
			t.Errorf("%s on a read-only memfs: err %v, want ErrReadOnly", name, err)
		}
	}
	mustRead(t, f, "/file", "x")
}

func TestRemoveAllDeepTree(t *testing.T) {
	f := New()
	p := ""
	for i := 0; i < 100; i++ {
		p += "/d"
		f.AddFile(p+"/f", "x", 0o644)
	}
	if err := f.RemoveAll("/d"); err != nil {
		t.Fatal(err)
	}
	if ents, _ := f.ReadDir("/"); len(ents) != 0 {
		t.Fatalf("root still has %v", ents)
	}
	if a, _ := f.Stat("/"); a.Nlink != 2 {
		t.Fatalf("root nlink %d after RemoveAll", a.Nlink)
	}
}

func mustRead(t testing.TB, f *FS, p, want string) {
	t.Helper()
	b, err := f.ReadFile(p)
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	if string(b) != want {
		t.Fatalf("read %s = %q, want %q", p, b, want)
	}
}

func mustNotExist(t testing.TB, f *FS, p string) {
	t.Helper()
	if _, err := f.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("lstat %s: err %v, want ErrNotExist", p, err)
	}
}

func TestCloneIsIndependent(t *testing.T) {
	f := tree(t)
	f.AddHardLink("/file", "/file2")
	c := f.Clone()
	if err := c.Truncate("/file", 0); err != nil {
		t.Fatal(err)
	}
	mustRead(t, f, "/file", "x")
	mustRead(t, c, "/file2", "")
	a, _ := c.Lstat("/file")
	b, _ := c.Lstat("/file2")
	if a.Ino != b.Ino || a.Nlink != 2 {
		t.Fatalf("hard link lost in clone: %+v %+v", a, b)
	}
}
