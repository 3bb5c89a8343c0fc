package guest_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/fs/memfs"
	"github.com/imgprep/imgprep/pkg/guest"
	"github.com/imgprep/imgprep/pkg/ops/netdata"
	"github.com/imgprep/imgprep/pkg/ops/pathops"
)

// systemdGuest assembles a guest from a root whose /etc/fstab is fstab
// and the labelled filesystems (LABEL=NAME), each on its own partition.
func systemdGuest(t *testing.T, fstab string, root *memfs.FS, others map[string]*memfs.FS, order ...string) *guest.Guest {
	t.Helper()
	root.AddFile("/etc/fstab", fstab, 0o644)
	root.AddFile("/etc/os-release", "ID=debian\n", 0o644)
	l := &guest.Layout{Filesystems: []*guest.Filesystem{{Partition: 1, Type: "ext4", Label: "root", FS: root, Writable: true}}}
	for i, name := range order {
		l.Filesystems = append(l.Filesystems, &guest.Filesystem{Partition: i + 2, Type: "ext4", Label: name, FS: others[name], Writable: true})
	}
	gs, err := l.Guests()
	if err != nil {
		t.Fatal(err)
	}
	return gs[0]
}

func mountList(g *guest.Guest) string {
	var out []string
	for _, m := range g.Mounts() {
		s := m.Point + "=" + m.FS.Label
		if m.Bind != "" {
			s += "[" + m.Bind + "]"
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

// Finding 8: TestBindMountIsFollowedAsTheGuestBoots: fstab's
// "/srv/nd /var/lib/netdata none bind" makes /var/lib/netdata the bind
// source's directory; the Netdata operation removes the GUID the guest
// uses, from the bind source on the /srv filesystem, and leaves the
// directory the bind hides on the root filesystem alone.
func TestBindMountIsFollowedAsTheGuestBoots(t *testing.T) {
	root, srv := memfs.New(), memfs.New()
	root.AddFile("/var/lib/netdata/registry/netdata.public.unique.id", "hidden-under-the-bind\n", 0o644)
	root.AddDir("/srv", 0o755)
	srv.AddFile("/nd/registry/netdata.public.unique.id", "guid-the-guest-uses\n", 0o644)
	srv.AddFile("/nd/cloud.d/claimed_id", "claimed\n", 0o640)
	g := systemdGuest(t, "LABEL=root / ext4 defaults 0 1\n"+
		"/srv/nd /var/lib/netdata none bind 0 0\n"+ // before the mount of its source: systemd orders it after
		"LABEL=srv /srv ext4 defaults 0 2\n",
		root, map[string]*memfs.FS{"srv": srv}, "srv")
	if got, want := mountList(g), "/=root /srv=srv /var/lib/netdata=srv[/srv/nd]"; got != want {
		t.Fatalf("mounts %q, want %q", got, want)
	}
	b, err := g.ReadFile(netdata.GUIDPath)
	if err != nil || string(b) != "guid-the-guest-uses\n" {
		t.Fatalf("read %s = %q, %v; want the bind source's", netdata.GUIDPath, b, err)
	}
	if w, err := g.Where(netdata.GUIDPath); err != nil || w != "ext4 on partition 2 (/var/lib/netdata)" {
		t.Fatalf("Where = %q, %v", w, err)
	}
	if _, err := netdata.New(netdata.Options{}).Apply(context.Background(), g); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/nd/registry/netdata.public.unique.id", "/nd/cloud.d/claimed_id"} {
		if _, err := srv.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s on the bind source's filesystem: %v, want removed", p, err)
		}
	}
	if b, err := root.ReadFile("/var/lib/netdata/registry/netdata.public.unique.id"); err != nil || string(b) != "hidden-under-the-bind\n" {
		t.Errorf("the directory under the bind was changed: %q, %v", b, err)
	}
}

// Finding 8: TestNoautoFilesystemIsNotMountedButReported: a noauto
// filesystem at /etc/ssh is not mounted at boot, so the root's own
// /etc/ssh keys (the ones the guest boots with) are removed and the
// noauto filesystem is left alone and reported; x-systemd.automount
// mounts at first access and counts as mounted; other x-systemd.*
// options change nothing.
func TestNoautoFilesystemIsNotMountedButReported(t *testing.T) {
	for _, c := range []struct {
		opts    string
		mounted bool
	}{
		{"noauto", false},
		{"noauto,nofail,x-systemd.device-timeout=1s", false},
		{"defaults,noauto,x-systemd.requires=bind.service", false},
		{"noauto,x-systemd.automount,x-systemd.idle-timeout=60", true},
		{"x-systemd.requires-mounts-for=/var,x-systemd.after=network.target,x-systemd.growfs", true},
		{"x-systemd.makefs,x-systemd.mount-timeout=infinity,x-initrd.mount,nofail", true},
	} {
		t.Run(c.opts, func(t *testing.T) {
			root, keys := memfs.New(), memfs.New()
			root.AddFile("/etc/ssh/ssh_host_ed25519_key", "ROOT KEY\n", 0o600)
			root.AddFile("/etc/ssh/sshd_config", "Port 22\n", 0o644)
			keys.AddFile("/ssh_host_ed25519_key", "NOAUTO KEY\n", 0o600)
			g := systemdGuest(t, "LABEL=root / ext4 defaults 0 1\nLABEL=keys /etc/ssh ext4 "+c.opts+" 0 2\n",
				root, map[string]*memfs.FS{"keys": keys}, "keys")
			hostKeys, _ := pathops.Get("ssh-hostkeys")
			if _, err := hostKeys.Apply(context.Background(), g); err != nil {
				t.Fatal(err)
			}
			_, rootErr := root.Lstat("/etc/ssh/ssh_host_ed25519_key")
			_, keysErr := keys.Lstat("/ssh_host_ed25519_key")
			um := g.Unmounted()
			if c.mounted {
				if rootErr != nil || !errors.Is(keysErr, fs.ErrNotExist) || len(um) != 0 {
					t.Fatalf("mounted: root key %v, mounted key %v, unmounted %+v; want the mounted filesystem's key removed", rootErr, keysErr, um)
				}
				return
			}
			if !errors.Is(rootErr, fs.ErrNotExist) || keysErr != nil {
				t.Fatalf("noauto: root key %v, noauto key %v; want the root's key removed and the noauto one kept", rootErr, keysErr)
			}
			if len(um) != 1 || um[0].Point != "/etc/ssh" || um[0].Spec != "LABEL=keys" || !strings.Contains(um[0].Reason, "noauto") {
				t.Fatalf("unmounted %+v, want /etc/ssh reported", um)
			}
		})
	}
}

// Finding 8: TestOverlappingMountsInFstabOrder: mounts over one another
// resolve as systemd mounts them: parents before children whatever the
// line order, the later of two lines for one point wins (a bind or a
// filesystem), an rbind brings the mounts below its source, a bind of a
// missing source leaves the point unmounted (reported), and a bind of a
// source on a filesystem not on this disk is unresolved.
func TestOverlappingMountsInFstabOrder(t *testing.T) {
	tests := []struct {
		name, fstab, mounts, unmounted string
	}{
		{"child line before its parent", "LABEL=b /var/lib ext4 defaults 0 2\nLABEL=a /var ext4 defaults 0 2\n",
			"/=root /var=a /var/lib=b", ""},
		{"a later filesystem over an earlier bind", "/srv/x /data none bind\nLABEL=b /data ext4 defaults\nLABEL=a /srv ext4 defaults\n",
			"/=root /data=b /srv=a", ""},
		{"a later bind over an earlier filesystem", "LABEL=b /data ext4 defaults\nLABEL=a /srv ext4 defaults\n/srv/x /data none bind\n",
			"/=root /data=a[/srv/x] /srv=a", ""},
		{"two binds on one point, the later wins", "LABEL=a /srv ext4 defaults\n/srv/x /data none bind\n/srv/y /data none bind\n",
			"/=root /data=a[/srv/y] /srv=a", ""},
		{"a bind of a bind", "LABEL=a /srv ext4 defaults\n/srv/x /data none bind\n/data/sub /opt/sub none bind,x-systemd.requires-mounts-for=/data\n",
			"/=root /data=a[/srv/x] /srv=a /opt/sub=a[/data/sub]", ""},
		{"rbind brings the mounts below", "LABEL=a /srv ext4 defaults\nLABEL=b /srv/x/b ext4 defaults\n/srv/x /data none rbind\n",
			"/=root /data=a[/srv/x] /srv=a /data/b=b /srv/x/b=b", ""},
		{"bind (not rbind) leaves them", "LABEL=a /srv ext4 defaults\nLABEL=b /srv/x/b ext4 defaults\n/srv/x /data none bind\n",
			"/=root /data=a[/srv/x] /srv=a /srv/x/b=b", ""},
		{"a bind of a missing source", "LABEL=a /srv ext4 defaults\n/srv/missing /data none bind\n",
			"/=root /srv=a", "/data"},
		{"a noauto bind", "LABEL=a /srv ext4 defaults\n/srv/x /data none bind,noauto\n",
			"/=root /srv=a", "/data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, a, b := memfs.New(), memfs.New(), memfs.New()
			for _, d := range []string{"/var", "/srv", "/data", "/opt/sub"} {
				root.AddDir(d, 0o755)
			}
			a.AddDir("/lib", 0o755)
			a.AddDir("/x/sub", 0o755)
			a.AddDir("/x/b", 0o755)
			a.AddDir("/y", 0o755)
			b.AddFile("/file", "b\n", 0o644)
			g := systemdGuest(t, "LABEL=root / ext4 defaults 0 1\n"+tt.fstab, root, map[string]*memfs.FS{"a": a, "b": b}, "a", "b")
			if got := mountList(g); got != tt.mounts {
				t.Fatalf("mounts %q, want %q", got, tt.mounts)
			}
			var um []string
			for _, u := range g.Unmounted() {
				um = append(um, u.Point)
			}
			if got := strings.Join(um, " "); got != tt.unmounted {
				t.Fatalf("unmounted %q, want %q", got, tt.unmounted)
			}
		})
	}
	// A bind whose source lies on a filesystem not on this disk.
	root := memfs.New()
	root.AddDir("/data", 0o755)
	root.AddDir("/mnt/disk2", 0o755)
	g := systemdGuest(t, "LABEL=root / ext4 defaults 0 1\nUUID=0bad0bad-0000-4000-8000-000000000000 /mnt/disk2 ext4 defaults\n/mnt/disk2/x /data none bind\n",
		root, nil)
	if _, err := g.Stat("/data/file"); !errors.Is(err, guest.ErrUnresolvedMount) {
		t.Fatalf("a bind of an off-disk source: Stat below it = %v, want ErrUnresolvedMount", err)
	}
	t.Logf("fstab layouts tried: %d", len(tests)+1)
}
