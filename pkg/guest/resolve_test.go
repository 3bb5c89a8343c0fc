package guest

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/deadline"
	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/fs/memfs"
	"github.com/imgprep/imgprep/pkg/ops"
)

// Guest is what operations see.
var _ ops.Guest = (*Guest)(nil)

const (
	memRootUUID = "00000000-0000-4000-8000-000000000001"
	memVarUUID  = "00000000-0000-4000-8000-000000000002"
	memXFSUUID  = "00000000-0000-4000-8000-000000000003"
)

// memGuest assembles a guest from in-memory filesystems: an ext4-typed
// root (partition 2) and /var (partition 3), an xfs /srv (partition 4,
// no engine) and an fstab entry for /data naming nothing on the disk.
// The trees hold the symlinks the path-resolution tests walk.
func memGuest(tb testing.TB) (*Guest, *memfs.FS, *memfs.FS) {
	tb.Helper()
	root, vfs := memfs.New(), memfs.New()
	root.AddFile("/etc/fstab", "UUID="+memRootUUID+" / ext4 defaults 0 1\n"+
		"UUID="+memVarUUID+" /var ext4 defaults 0 2\n"+
		"UUID="+memXFSUUID+" /srv xfs defaults 0 2\n"+
		"UUID=0bad0bad-0000-4000-8000-000000000000 /data ext4 nofail 0 2\n"+
		"proc /proc proc defaults 0 0\n", 0o644)
	root.AddFile("/usr/lib/os-release", "ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n", 0o644)
	root.AddSymlink("/etc/os-release", "../usr/lib/os-release")
	root.AddFile("/etc/machine-id", "4c8ab9d6b1d24a0c9e0f3b2a1c5d7e9f\n", 0o444)
	root.AddFile("/etc/hostname", "template\n", 0o644)
	root.AddFile("/run/status-netdata.json", "{}\n", 0o644)
	root.AddFile("/usr/bin/hello", "#!/bin/sh\n", 0o755)
	root.AddSymlink("/bin", "usr/bin")
	root.AddSymlink("/abs", "/etc")
	root.AddSymlink("/loop1", "loop2")
	root.AddSymlink("/loop2", "/loop1")
	root.AddSymlink("/dangling", "/nonexistent/file")
	root.AddSymlink("/empty", "")
	// /chain/0 -> 1 -> ... -> 40 -> 41, a file: 41 links from 0, 40 from 1.
	for i := 0; i <= fs.MaxSymlinkHops; i++ {
		root.AddSymlink(fmt.Sprintf("/chain/%d", i), strconv.Itoa(i+1))
	}
	root.AddFile(fmt.Sprintf("/chain/%d", fs.MaxSymlinkHops+1), "end\n", 0o644)
	root.AddDir("/var", 0o755)
	root.AddDir("/srv", 0o755)
	root.AddDir("/data", 0o755)
	root.AddFile("/var/hidden", "shadowed by the /var mount\n", 0o644)
	vfs.AddFile("/lib/netdata/registry/netdata.public.unique.id", "guid\n", 0o644)
	vfs.AddSymlink("/lib/netdata/cloud.d", "/etc")
	vfs.AddSymlink("/run", "/run")
	vfs.AddSymlink("/lib/up", "../..")
	vfs.AddSymlink("/lib/rel", "../../etc/hostname")
	vfs.AddSymlink("/lib/dotdot", "../../../../..")
	vfs.AddSymlink("/lib/toroot", "/")
	vfs.AddFile("/cache/netdata/netdata-meta.db", "db", 0o644)
	l := &Layout{Filesystems: []*Filesystem{
		{Partition: 2, Type: "ext4", UUID: memRootUUID, FS: root, Writable: true},
		{Partition: 3, Type: "ext4", UUID: memVarUUID, FS: vfs, Writable: true},
		{Partition: 4, Type: "xfs", UUID: memXFSUUID, Why: unsupportedWhy("xfs")},
	}}
	gs, err := l.Guests()
	if err != nil {
		tb.Fatal(err)
	}
	if len(gs) != 1 {
		tb.Fatalf("got %d guests, want 1", len(gs))
	}
	return gs[0], root, vfs
}

// TestResolvePathsAsTheKernelWould walks guest paths through symlinks and
// mount points (path_resolution(7)) and checks where each lands.
func TestResolvePathsAsTheKernelWould(t *testing.T) {
	tests := []struct {
		name    string
		path    string
		follow  bool
		where   string // "" when an error is wanted
		inner   string
		wantErr error
	}{
		{"a plain path on the root filesystem", "/etc/hostname", true, "ext4 on partition 2 (/)", "/etc/hostname", nil},
		{"a mount point is crossed: the longest mounted prefix wins", "/var/lib/netdata/registry/netdata.public.unique.id", true, "ext4 on partition 3 (/var)", "/lib/netdata/registry/netdata.public.unique.id", nil},
		{"the mount point itself is the mounted filesystem's root", "/var", true, "ext4 on partition 3 (/var)", "/", nil},
		{"a relative symlink resolves from its directory", "/bin/hello", true, "ext4 on partition 2 (/)", "/usr/bin/hello", nil},
		{"an absolute symlink target restarts at the guest root", "/abs/hostname", true, "ext4 on partition 2 (/)", "/etc/hostname", nil},
		{"/var/run -> /run leaves the /var filesystem for the root", "/var/run/status-netdata.json", true, "ext4 on partition 2 (/)", "/run/status-netdata.json", nil},
		{"an absolute symlink on a mounted filesystem means the guest root, not its own", "/var/lib/netdata/cloud.d/machine-id", true, "ext4 on partition 2 (/)", "/etc/machine-id", nil},
		{"a final symlink is not followed for removal: cloud.d -> /etc stays a link", "/var/lib/netdata/cloud.d", false, "ext4 on partition 3 (/var)", "/lib/netdata/cloud.d", nil},
		{"a final symlink is followed for reading", "/var/lib/netdata/cloud.d", true, "ext4 on partition 2 (/)", "/etc", nil},
		{".. never climbs above /", "/../../../etc/hostname", true, "ext4 on partition 2 (/)", "/etc/hostname", nil},
		{".. at the root of a mounted filesystem goes to the parent mount", "/var/../etc/hostname", true, "ext4 on partition 2 (/)", "/etc/hostname", nil},
		{"a symlink of .. crosses back over the mount point", "/var/lib/up/etc/hostname", true, "ext4 on partition 2 (/)", "/etc/hostname", nil},
		{"a relative symlink reaching out of /var lands on the root", "/var/lib/rel", true, "ext4 on partition 2 (/)", "/etc/hostname", nil},
		{"/var/lib/netdata -> ../../../../.. style links stop at /", "/var/lib/dotdot/etc/machine-id", true, "ext4 on partition 2 (/)", "/etc/machine-id", nil},
		{"a symlink to / from a mounted filesystem is the guest root", "/var/lib/toroot/var/cache/netdata/netdata-meta.db", true, "ext4 on partition 3 (/var)", "/cache/netdata/netdata-meta.db", nil},
		{"a missing final component resolves (for creation)", "/etc/new-file", true, "ext4 on partition 2 (/)", "/etc/new-file", nil},
		{"a dangling final symlink resolves to its target for creation", "/dangling", false, "ext4 on partition 2 (/)", "/dangling", nil},
		{"dot components are skipped", "/./etc/./hostname", true, "ext4 on partition 2 (/)", "/etc/hostname", nil},
		{"repeated slashes are one", "//etc///hostname", true, "ext4 on partition 2 (/)", "/etc/hostname", nil},
		{"a symlink loop ends with ELOOP", "/loop1/x", true, "", "", fs.ErrLoop},
		{"a final symlink loop ends with ELOOP when followed", "/loop1", true, "", "", fs.ErrLoop},
		{"a final symlink loop is fine when not followed", "/loop1", false, "ext4 on partition 2 (/)", "/loop1", nil},
		{"a chain of exactly 40 symlinks (MAXSYMLINKS) resolves", "/chain/1", true, "ext4 on partition 2 (/)", "/chain/41", nil},
		{"a chain of 41 symlinks ends with ELOOP", "/chain/0", true, "", "", fs.ErrLoop},
		{"41 symlinks on the way to a directory end with ELOOP too", "/chain/0/x", true, "", "", fs.ErrLoop},
		{"40 symlinks then a missing name is ENOTDIR, not ELOOP", "/chain/1/x", true, "", "", fs.ErrNotDir},
		{".. as the last component at the root stays at the root", "/..", true, "ext4 on partition 2 (/)", "/", nil},
		{".. as the last component at the root, not following", "/..", false, "ext4 on partition 2 (/)", "/", nil},
		{".. as the last component below the root is the parent", "/etc/..", true, "ext4 on partition 2 (/)", "/", nil},
		{"a missing intermediate directory is ENOENT", "/nonexistent/file", true, "", "", fs.ErrNotExist},
		{"an intermediate regular file is ENOTDIR", "/etc/hostname/x", true, "", "", fs.ErrNotDir},
		{"a dangling intermediate symlink is ENOENT", "/dangling/x", true, "", "", fs.ErrNotExist},
		{"an empty symlink is ENOENT", "/empty/x", true, "", "", fs.ErrNotExist},
		{"a path on xfs fails with ErrUnsupportedFS", "/srv/file", true, "", "", ErrUnsupportedFS},
		{"a path under an fstab source not on this disk fails with ErrUnresolvedMount", "/data/file", true, "", "", ErrUnresolvedMount},
		{"a relative guest path is refused", "etc/hostname", true, "", "", ErrRelativePath},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Each resolution gets its own guest and a deadline: one that
			// never ends fails here, and leaves no other test its guest.
			g, _, _ := memGuest(t)
			got, err := deadline.Call(t, fmt.Sprintf("resolve(%q)", tt.path), func() (target, error) {
				return g.resolve(tt.path, tt.follow)
			})
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("resolve(%q) = %+v, %v; want error %v", tt.path, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("resolve(%q): %v", tt.path, err)
			}
			where := got.fs.Desc() + " (" + got.point + ")"
			if where != tt.where || got.inner != tt.inner {
				t.Fatalf("resolve(%q) = %s %s; want %s %s", tt.path, where, got.inner, tt.where, tt.inner)
			}
		})
	}
}

func TestUnsupportedFilesystemErrorNamesTypeAndMountPoint(t *testing.T) {
	g, _, _ := memGuest(t)
	err := g.WriteFile("/srv/x", []byte("x"), fs.WriteOptions{Perm: 0o644})
	if !errors.Is(err, ErrUnsupportedFS) {
		t.Fatalf("WriteFile on xfs: %v, want ErrUnsupportedFS", err)
	}
	if want := "xfs mounted at /srv: imgprep cannot write xfs yet"; !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not say %q", err, want)
	}
}

func TestGuestRemovalsNeverFollowTheFinalSymlink(t *testing.T) {
	g, root, vfs := memGuest(t)
	// cloud.d -> /etc: removing cloud.d removes the link only.
	if err := g.RemoveAll("/var/lib/netdata/cloud.d"); err != nil {
		t.Fatal(err)
	}
	if _, err := vfs.Lstat("/lib/netdata/cloud.d"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("cloud.d still there: %v", err)
	}
	for _, p := range []string{"/etc/machine-id", "/etc/hostname", "/etc/fstab"} {
		if _, err := root.Lstat(p); err != nil {
			t.Fatalf("%s was touched by removing the link: %v", p, err)
		}
	}
	// /var/run -> /run: Remove removes the link, not /run.
	if err := g.Remove("/var/run"); err != nil {
		t.Fatal(err)
	}
	if _, err := root.Stat("/run/status-netdata.json"); err != nil {
		t.Fatalf("/run lost its content: %v", err)
	}
	// Removing through the link removes the target's file.
	if err := g.Remove("/abs/hostname"); err != nil {
		t.Fatal(err)
	}
	if _, err := root.Lstat("/etc/hostname"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("/etc/hostname: %v, want removed", err)
	}
}

func TestGuestChangesLandOnTheRightFilesystem(t *testing.T) {
	g, root, vfs := memGuest(t)
	if err := g.WriteFile("/var/run/new.json", []byte("x\n"), fs.WriteOptions{Perm: 0o644}); err != nil {
		t.Fatal(err)
	}
	if b, err := root.ReadFile("/run/new.json"); err != nil || string(b) != "x\n" {
		t.Fatalf("/run/new.json on root: %q, %v", b, err)
	}
	if _, err := vfs.Lstat("/run/new.json"); err == nil {
		t.Fatal("/var/run/new.json went to the /var filesystem, through its /run link")
	}
	if err := g.Truncate("/var/cache/netdata/netdata-meta.db", 0); err != nil {
		t.Fatal(err)
	}
	if a, _ := vfs.Stat("/cache/netdata/netdata-meta.db"); a.Size != 0 {
		t.Fatalf("size %d after truncate", a.Size)
	}
	if w, err := g.Where("/var/cache/netdata"); err != nil || w != "ext4 on partition 3 (/var)" {
		t.Fatalf("Where = %q, %v", w, err)
	}
	if w, err := g.Where("/var/run"); err != nil || w != "ext4 on partition 3 (/var)" {
		t.Fatalf("Where(/var/run) = %q, %v; it must not follow the final link", w, err)
	}
}

func TestGuestRefusesCrossFilesystemAndMountPointChanges(t *testing.T) {
	g, _, _ := memGuest(t)
	tests := []struct {
		name string
		do   func() error
		want error
	}{
		{"rename across filesystems is EXDEV", func() error { return g.Rename("/etc/hostname", "/var/hostname") }, fs.ErrCrossDev},
		{"link across filesystems is EXDEV", func() error { return g.Link("/etc/hostname", "/var/hostname") }, fs.ErrCrossDev},
		{"removing a mount point is refused", func() error { return g.Remove("/var") }, ErrMountPoint},
		{"removing a tree holding a mount point is refused", func() error { return g.RemoveAll("/") }, ErrMountPoint},
		{"removing .. is invalid", func() error { return g.Remove("/etc/..") }, fs.ErrInvalid},
		{"renaming a mount point is refused", func() error { return g.Rename("/var", "/var2") }, ErrMountPoint},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.do(); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestReadOnlyFilesystemRefusesWritesWithTheReason(t *testing.T) {
	g, root, _ := memGuest(t)
	g.Root().Writable = false
	g.Root().Why = "needs journal recovery"
	root.ReadOnly = true
	err := g.WriteFile("/etc/hostname", []byte("x"), fs.WriteOptions{})
	if !errors.Is(err, fs.ErrReadOnly) || !strings.Contains(err.Error(), "needs journal recovery") {
		t.Fatalf("got %v, want fs.ErrReadOnly with the reason", err)
	}
	if b, _ := g.ReadFile("/etc/hostname"); string(b) != "template\n" {
		t.Fatalf("content changed: %q", b)
	}
}

func TestGuestMountsAndOSRelease(t *testing.T) {
	g, _, _ := memGuest(t)
	var points []string
	for _, m := range g.Mounts() {
		points = append(points, m.Point+"="+m.FS.Desc())
	}
	if got, want := strings.Join(points, " "), "/=ext4 on partition 2 /srv=xfs on partition 4 /var=ext4 on partition 3"; got != want {
		t.Fatalf("mounts %q, want %q", got, want)
	}
	un := g.Unresolved()
	if len(un) != 1 || un[0].Point != "/data" {
		t.Fatalf("unresolved %+v, want /data", un)
	}
	if os := g.OSRelease(); os["ID"] != "debian" || os["VERSION_ID"] != "12" {
		t.Fatalf("os-release %v", os)
	}
}

// FuzzResolve walks arbitrary guest paths through the memGuest tree: no
// panic, no endless loop, and every result is a canonical path inside one
// filesystem.
func FuzzResolve(f *testing.F) {
	for _, p := range []string{"/var/lib/up/../var/run/x", "/loop1/a", "/var/lib/dotdot/var/lib/dotdot", "/../var/../../srv/x", "/abs/../var/lib/netdata/cloud.d/"} {
		f.Add(p, true)
	}
	f.Fuzz(func(t *testing.T, p string, follow bool) {
		// A guest per input, and a deadline: an endless walk fails here.
		g, _, _ := memGuest(t)
		got, err := deadline.Call(t, fmt.Sprintf("resolve(%q)", p), func() (target, error) { return g.resolve(p, follow) })
		if err != nil {
			return
		}
		if !strings.HasPrefix(got.inner, "/") || strings.Contains(got.inner, "//") ||
			strings.Contains(got.inner+"/", "/../") || strings.Contains(got.inner+"/", "/./") {
			t.Fatalf("resolve(%q) = %q, not canonical", p, got.inner)
		}
		if got.fs == nil || got.fs.FS == nil {
			t.Fatalf("resolve(%q) landed on no filesystem", p)
		}
	})
}

// TestMountPointsAreCanonicalizedLikeMount8 mounts a filesystem on
// /var/run, a symlink to /run: mount(8) follows it, so files under both
// names land on the mounted filesystem. Of two mounts on one point the
// later fstab line wins.
func TestMountPointsAreCanonicalizedLikeMount8(t *testing.T) {
	root, runfs, first, second := memfs.New(), memfs.New(), memfs.New(), memfs.New()
	root.AddFile("/etc/fstab", "LABEL=root / ext4 defaults 0 1\n"+
		"LABEL=run /var/run ext4 defaults 0 0\n"+
		"LABEL=first /data ext4 defaults 0 0\n"+
		"LABEL=second /srv/../data/ ext4 defaults 0 0\n", 0o644)
	root.AddFile("/etc/os-release", "ID=debian\n", 0o644)
	root.AddDir("/run", 0o755)
	root.AddDir("/var", 0o755)
	root.AddDir("/data", 0o755)
	root.AddSymlink("/var/run", "/run")
	runfs.AddFile("/pid", "1\n", 0o644)
	l := &Layout{Filesystems: []*Filesystem{
		{Partition: 1, Type: "ext4", Label: "root", FS: root, Writable: true},
		{Partition: 2, Type: "ext4", Label: "run", FS: runfs, Writable: true},
		{Partition: 3, Type: "ext4", Label: "first", FS: first, Writable: true},
		{Partition: 4, Type: "ext4", Label: "second", FS: second, Writable: true},
	}}
	gs, err := l.Guests()
	if err != nil {
		t.Fatal(err)
	}
	g := gs[0]
	var got []string
	for _, m := range g.Mounts() {
		got = append(got, m.Point+"="+m.FS.Label)
	}
	if want := "/=root /data=second /run=run"; strings.Join(got, " ") != want {
		t.Fatalf("mounts %q, want %q", strings.Join(got, " "), want)
	}
	for _, p := range []string{"/run/pid", "/var/run/pid"} {
		if w, err := g.Where(p); err != nil || w != "ext4 on partition 2 (/run)" {
			t.Errorf("Where(%s) = %q, %v", p, w, err)
		}
	}
}

func TestRemoveAllOfAMissingPathIsNotAnError(t *testing.T) {
	g, _, _ := memGuest(t)
	for _, p := range []string{"/var/lib/missing", "/missing/dir/below", "/var/lib/netdata/cloud.d/missing"} {
		if err := g.RemoveAll(p); err != nil {
			t.Errorf("RemoveAll(%s): %v", p, err)
		}
	}
}

// TestTrailingSlashMeansADirectory: path_resolution(7) — a trailing slash
// makes the final component a directory; lookups follow a final symlink,
// while a removal of "link/" fails with ENOTDIR instead of reaching the
// link's target.
func TestTrailingSlashMeansADirectory(t *testing.T) {
	g, root, _ := memGuest(t)
	tests := []struct {
		name    string
		do      func() error
		wantErr error
	}{
		{"lstat of link/ follows to the directory", func() error {
			a, err := g.Lstat("/abs/")
			if err == nil && a.Type() != fs.TypeDir {
				return fs.ErrInvalid
			}
			return err
		}, nil},
		{"stat of file/ is ENOTDIR", func() error { _, err := g.Stat("/etc/hostname/"); return err }, fs.ErrNotDir},
		{"remove of link/ is ENOTDIR and keeps both", func() error { return g.Remove("/abs/") }, fs.ErrNotDir},
		{"removeall of /var/run/ is ENOTDIR and keeps /run", func() error { return g.RemoveAll("/var/run/") }, fs.ErrNotDir},
		{"removeall of file/ is ENOTDIR", func() error { return g.RemoveAll("/etc/hostname/") }, fs.ErrNotDir},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.do(); !errors.Is(err, tt.wantErr) {
				t.Fatalf("got %v, want %v", err, tt.wantErr)
			}
		})
	}
	for _, p := range []string{"/abs", "/etc/hostname", "/run/status-netdata.json"} {
		if _, err := root.Lstat(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}

// TestOffDiskMountPointIsAnEmptyDirectory: /data's fstab source is not on
// this disk. A tree walk sees an empty directory there (the guest's data
// is elsewhere); a path below it, or a change to it, fails clearly.
func TestOffDiskMountPointIsAnEmptyDirectory(t *testing.T) {
	g, root, _ := memGuest(t)
	root.AddFile("/data/under-the-mount", "hidden by the mount\n", 0o644)
	if a, err := g.Lstat("/data"); err != nil || a.Type() != fs.TypeDir {
		t.Fatalf("Lstat /data = %v, %v; want a directory", a.Type(), err)
	}
	if ents, err := g.ReadDir("/data"); err != nil || len(ents) != 0 {
		t.Fatalf("ReadDir /data = %v, %v; want empty", ents, err)
	}
	tests := []struct {
		name string
		do   func() error
	}{
		{"a file below it", func() error { _, err := g.Stat("/data/under-the-mount"); return err }},
		{"chmod of the mount point", func() error { return g.Chmod("/data", 0o700) }},
		{"creating below it", func() error { return g.WriteFile("/data/x", nil, fs.WriteOptions{}) }},
		{"Where", func() error { _, err := g.Where("/data"); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.do(); !errors.Is(err, ErrUnresolvedMount) {
				t.Fatalf("got %v, want ErrUnresolvedMount", err)
			}
		})
	}
	if err := g.RemoveAll("/data"); !errors.Is(err, ErrUnresolvedMount) && !errors.Is(err, ErrMountPoint) {
		t.Fatalf("RemoveAll /data: %v", err)
	}
	if _, err := root.Lstat("/data/under-the-mount"); err != nil {
		t.Fatalf("the file under the mount point was touched: %v", err)
	}
}

// TestChangesThroughTheGuestAreSeenByLaterLookups: the guest remembers
// the directories it walked; a change must make it look again. Here a
// walked directory becomes a symlink to /etc.
func TestChangesThroughTheGuestAreSeenByLaterLookups(t *testing.T) {
	g, root, _ := memGuest(t)
	root.AddFile("/a/b/file", "in b\n", 0o644)
	if b, err := g.ReadFile("/a/b/file"); err != nil || string(b) != "in b\n" {
		t.Fatalf("ReadFile = %q, %v", b, err)
	}
	if err := g.RemoveAll("/a/b"); err != nil {
		t.Fatal(err)
	}
	if err := g.Symlink("/etc", "/a/b", fs.Owner{}); err != nil {
		t.Fatal(err)
	}
	if b, err := g.ReadFile("/a/b/hostname"); err != nil || string(b) != "template\n" {
		t.Fatalf("through the new link: %q, %v", b, err)
	}
	if w, err := g.Where("/a/b"); err != nil || w != "ext4 on partition 2 (/)" {
		t.Fatalf("Where = %q, %v", w, err)
	}
	if _, err := g.Stat("/a/b/file"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the old directory's file: %v, want ErrNotExist", err)
	}
}
