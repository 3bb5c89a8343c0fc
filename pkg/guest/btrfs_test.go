package guest

import (
	"crypto/sha256"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/fs/btrfs"
)

// TestFedoraBtrfsGuest assembles the Fedora-like guest: its root is
// btrfs subvolume "root" (not the default, top-level subvolume), /home is
// subvolume "home" by fstab's subvol=, /boot is ext4 and /boot/efi vfat;
// identity files read from the root subvolume; a write fails naming the
// btrfs partition and changes nothing.
func TestFedoraBtrfsGuest(t *testing.T) {
	d, p := openRaw(t, "guest-fedora.raw", true)
	before := fileSHA(t, p)
	l, err := Scan(d, Options{Name: "guest-fedora.raw", Writable: true})
	if err != nil {
		t.Fatal(err)
	}
	gs, err := l.Guests()
	if err != nil {
		t.Fatal(err)
	}
	if len(gs) != 1 {
		t.Fatalf("%d guests, want 1", len(gs))
	}
	g := gs[0]
	if g.OSRelease()["ID"] != "fedora" || g.OSRelease()["VERSION_ID"] != "41" {
		t.Errorf("os-release %v", g.OSRelease())
	}
	root := g.Root()
	if root.Type != TypeBtrfs || root.Partition != 3 || root.Subvolume == 0 {
		t.Errorf("root %s subvolume %d", root.Desc(), root.Subvolume)
	}
	points := map[string]*Filesystem{}
	for _, m := range g.Mounts() {
		points[m.Point] = m.FS
	}
	for point, typ := range map[string]string{"/": TypeBtrfs, "/home": TypeBtrfs, "/boot": TypeExt4, "/boot/efi": TypeVFAT} {
		if f := points[point]; f == nil || f.Type != typ {
			t.Errorf("%s: %v, want %s", point, f, typ)
		}
	}
	if points["/home"] == points["/"] || points["/home"].Subvolume == root.Subvolume {
		t.Errorf("/home is the root subvolume")
	}
	for path, want := range map[string]string{
		"/etc/hostname":                    "fedora-template\n",
		"/etc/machine-id":                  "7c0ffee0b1d24a0c9e0f3b2a1c5d7e9f\n",
		"/var/lib/dbus/machine-id":         "7c0ffee0b1d24a0c9e0f3b2a1c5d7e9f\n",
		"/home/fedora/notes":               "user data\n",
		"/boot/loader/entries/fedora.conf": "title Fedora Linux 41\n",
	} {
		got, err := g.ReadFile(path)
		if err != nil || string(got) != want {
			t.Errorf("%s: %q, %v; want %q", path, got, err, want)
		}
	}
	x, err := g.Xattrs("/etc/machine-id")
	if err != nil || string(x["security.selinux"]) != "system_u:object_r:machineid_t:s0" {
		t.Errorf("machine-id xattrs %q, %v", x, err)
	}
	err = g.WriteFile("/etc/machine-id", nil, fs.WriteOptions{})
	if !errors.Is(err, fs.ErrReadOnly) || !errors.Is(err, ErrUnsupportedFS) ||
		!strings.Contains(err.Error(), "btrfs on partition 3: imgprep cannot write btrfs yet") {
		t.Errorf("write: %v", err)
	}
	if err := g.Remove("/home/fedora/notes"); !errors.Is(err, fs.ErrReadOnly) {
		t.Errorf("remove on /home: %v", err)
	}
	if err := g.Sync(); err != nil {
		t.Fatal(err)
	}
	if after := fileSHA(t, p); after != before {
		t.Errorf("the image changed")
	}
}

// TestBtrfsSubvolOptions reads subvol= and subvolid= from fstab options.
func TestBtrfsSubvolOptions(t *testing.T) {
	for _, c := range []struct {
		ops  string
		want btrfs.Options
		ok   bool
	}{
		{"defaults", btrfs.Options{}, false},
		{"subvol=root,compress=zstd:1", btrfs.Options{Subvol: "root"}, true},
		{"compress=zstd,subvolid=256", btrfs.Options{SubvolID: 256}, true},
		{"subvol=/@/.snapshots/1/snapshot,subvolid=267", btrfs.Options{Subvol: "/@/.snapshots/1/snapshot", SubvolID: 267}, true},
	} {
		got, ok, err := subvolOptions(FstabEntry{MntOps: c.ops})
		if err != nil || ok != c.ok || got != c.want {
			t.Errorf("%s: %+v %v %v", c.ops, got, ok, err)
		}
	}
	if _, _, err := subvolOptions(FstabEntry{MntOps: "subvolid=x"}); err == nil {
		t.Error("subvolid=x: no error")
	}
}

func fileSHA(t *testing.T, p string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}
