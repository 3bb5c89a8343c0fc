package guest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/lvm"
)

func TestLVDeviceNames(t *testing.T) {
	for _, c := range []struct{ spec, vg, lv string }{
		{"/dev/mapper/ubuntu--vg-ubuntu--lv", "ubuntu-vg", "ubuntu-lv"},
		{"/dev/mapper/rl-root", "rl", "root"},
		{"/dev/mapper/a----b-c", "a--b", "c"},
		{"/dev/ubuntu-vg/ubuntu-lv", "ubuntu-vg", "ubuntu-lv"},
		{"/dev/disk/by-id/dm-name-datavg-var", "datavg", "var"},
		{"/dev/mapper/a-b-c", "", ""},
		{"/dev/mapper/-x", "", ""},
		{"/dev/mapper/x-", "", ""},
		{"/dev/mapper/nodash", "", ""},
		{"/dev/sda1", "", ""},
		{"/dev/disk/by-uuid/x", "", ""},
		{"/dev/vg/lv/x", "", ""},
	} {
		vg, lv, ok := lvDevice(c.spec)
		if vg != c.vg || lv != c.lv || ok != (c.vg != "") {
			t.Errorf("%s: %q %q %v, want %q %q", c.spec, vg, lv, ok, c.vg, c.lv)
		}
	}
}

// TestLVMUbuntuGuest: Ubuntu Server's layout, root on
// /dev/mapper/ubuntu--vg-ubuntu--lv, /boot and /boot/efi by UUID=.
func TestLVMUbuntuGuest(t *testing.T) {
	g, l, _ := scanGuest(t, "lvm-ubuntu.raw", true)
	var got []string
	for _, m := range g.Mounts() {
		got = append(got, m.Point+"="+m.FS.Desc())
	}
	want := "/=ext4 on LV ubuntu-vg/ubuntu-lv /boot=ext4 on partition 2 /boot/efi=vfat on partition 1"
	if strings.Join(got, " ") != want {
		t.Fatalf("mounts %s, want %s", strings.Join(got, " "), want)
	}
	if !g.Root().Writable || g.Root().LVKind != lvm.KindLinear {
		t.Errorf("root on the LV: writable %v (%s), kind %s", g.Root().Writable, g.Root().Why, g.Root().LVKind)
	}
	if pv := fsAt(t, l, 3); pv.Type != TypeLVM || pv.Why != "LVM2 PV of VG ubuntu-vg" {
		t.Errorf("partition 3: %s (%s)", pv.Type, pv.Why)
	}
	if g.OSRelease()["ID"] != "ubuntu" {
		t.Errorf("os-release %v", g.OSRelease())
	}
	if vgs := g.VolumeGroups(); len(vgs) != 1 || vgs[0].Name != "ubuntu-vg" {
		t.Errorf("volume groups %v", vgs)
	}
}

// TestLVMMultiGuest: root on a three-segment LV by UUID=, /var on a
// striped LV by /dev/VG/LV; writes through both stay e2fsck-clean (the LV
// copied out along the mapping lvm2's lvs agrees with, pkg/lvm's
// TestLVMToolsAgree); thin, RAID and snapshot LVs are named and refused.
func TestLVMMultiGuest(t *testing.T) {
	g, l, path := scanGuest(t, "lvm-multi.raw", true)
	var got []string
	for _, m := range g.Mounts() {
		got = append(got, m.Point+"="+m.FS.Desc()+"("+m.FS.LVKind+")")
	}
	if want := "/=ext4 on LV datavg/root(linear) /var=ext4 on LV datavg/var(striped)"; strings.Join(got, " ") != want {
		t.Fatalf("mounts %s, want %s", strings.Join(got, " "), want)
	}
	big := strings.Repeat("0123456789abcdef", 40000) // 640 KB: many stripes
	for _, p := range []string{"/var/log/big.bin", "/root/big.bin"} {
		if err := g.WriteFile(p, []byte(big), fs.WriteOptions{Perm: 0o600}); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.Remove("/var/log/syslog"); err != nil {
		t.Fatal(err)
	}
	if err := g.Sync(); err != nil {
		t.Fatal(err)
	}
	vg := l.VolumeGroups()[0]
	for _, name := range []string{"root", "var"} {
		img := copyLV(t, path, vg, name)
		oracle.E2fsckClean(t, img)
		if name == "var" {
			if b, ok := oracle.DebugfsCat(t, img, "/log/big.bin"); !ok || string(b) != big {
				t.Errorf("debugfs reads %d bytes of /log/big.bin", len(b))
			}
		}
	}
	kinds := map[string]string{}
	for _, f := range l.Filesystems {
		if f.LV != "" {
			kinds[f.LV] = f.LVKind + ": " + f.Why
		}
	}
	for lv, want := range map[string]string{
		"thin": "thin: LV thin is a thin LV", "pool": "thin-pool: LV pool is a thin-pool LV", "mirr": "raid1: LV mirr is a raid1 LV",
		"snap": "snapshot: LV snap is a snapshot of base", "base": "linear: LV base is the origin of the snapshot snap",
	} {
		if !strings.HasPrefix(kinds[lv], want) {
			t.Errorf("LV %s: %q, want %q...", lv, kinds[lv], want)
		}
	}
	if _, ok := kinds["pool_tdata"]; ok {
		t.Error("a hidden sub-LV is listed")
	}
}

// copyLV writes the bytes of an LV of the image at path, piece by piece
// along its mapping, to a file of its own, and returns that file.
func copyLV(t *testing.T, path string, vg *lvm.VG, name string) string {
	t.Helper()
	exts, err := vg.Extents(vg.LV(name))
	if err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(t.TempDir(), name+".img")
	out, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	for _, e := range exts {
		buf := make([]byte, e.Size)
		if _, err := vg.Device(e.PV).Dev.ReadAt(buf, e.Offset); err != nil {
			t.Fatal(err)
		}
		if _, err := out.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	return img
}

// TestLVMThinMountRefused: a guest mounting a thin LV gets a clear error
// naming it for paths there.
func TestLVMThinMountRefused(t *testing.T) {
	d, _ := openRaw(t, "lvm-multi.raw", true)
	l, err := Scan(d, Options{Name: "lvm-multi.raw", Writable: true})
	if err != nil {
		t.Fatal(err)
	}
	var thin *Filesystem
	for _, f := range l.Filesystems {
		if f.LV == "thin" {
			thin = f
		}
	}
	if thin == nil || thin.FS != nil || thin.Writable {
		t.Fatalf("thin LV: %+v", thin)
	}
	gs, err := l.Guests()
	if err != nil {
		t.Fatal(err)
	}
	g := gs[0]
	g.mounts = append(g.mounts, Mount{Point: "/srv", FS: thin, Spec: "/dev/datavg/thin"})
	err = g.WriteFile("/srv/x", []byte("x"), fs.WriteOptions{Perm: 0o644})
	var u *UnsupportedError
	if !errors.As(err, &u) || !strings.Contains(err.Error(), "LV thin is a thin LV") {
		t.Fatalf("write under a thin LV: %v", err)
	}
}

// TestLVMAcrossDisks: one VG over two disks. Scanned alone, disk a shows
// the VG incomplete and no guest; joined, the guest's root on rl/root
// spans both disks.
func TestLVMAcrossDisks(t *testing.T) {
	names := []string{"lvm-disk-a.raw", "lvm-disk-b.raw"}
	var layouts []*Layout
	for _, n := range names {
		d, _ := openRaw(t, n, true)
		l, err := Scan(d, Options{Name: n, Writable: true})
		if err != nil {
			t.Fatal(err)
		}
		layouts = append(layouts, l)
	}
	if _, err := layouts[0].Guests(); !errors.Is(err, ErrNoGuest) || !strings.Contains(err.Error(), "lacks PV RlPVb0-0000-4000-8000-0000-0000-000003") {
		t.Errorf("disk a alone: %v", err)
	}
	if _, err := layouts[0].ChangeLVMUUIDs(nil); !errors.Is(err, lvm.ErrMissingPV) {
		t.Errorf("lvm UUIDs of disk a alone: %v", err)
	}
	j, err := Join(names, layouts...)
	if err != nil {
		t.Fatal(err)
	}
	gs, err := j.Guests()
	if err != nil || len(gs) != 1 {
		t.Fatalf("joined: %v", err)
	}
	var got []string
	for _, m := range gs[0].Mounts() {
		got = append(got, m.Point+"="+m.FS.Desc())
	}
	if want := "/=ext4 on LV rl/root /boot=ext4 on partition 1 of lvm-disk-a.raw"; strings.Join(got, " ") != want {
		t.Fatalf("mounts %s, want %s", strings.Join(got, " "), want)
	}
	if b, err := gs[0].ReadFile("/etc/hostname"); err != nil || string(b) != "template\n" {
		t.Errorf("hostname %q %v", b, err)
	}
	ch, err := gs[0].ChangeLVMUUIDs(nil)
	if err != nil || len(ch) != 1 || len(ch[0].IDs) != 3 {
		t.Fatalf("ChangeLVMUUIDs: %+v %v", ch, err)
	}
	again, err := gs[0].ChangeLVMUUIDs(nil)
	if err != nil || again[0].IDs[0].New != ch[0].IDs[0].New {
		t.Errorf("a second call changed the UUIDs again: %v", err)
	}
}
