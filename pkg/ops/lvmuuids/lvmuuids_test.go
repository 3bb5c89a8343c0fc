package lvmuuids_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/guest"
	"github.com/imgprep/imgprep/pkg/lvm"
	"github.com/imgprep/imgprep/pkg/ops"
	"github.com/imgprep/imgprep/pkg/ops/catalogtest"
	"github.com/imgprep/imgprep/pkg/ops/lvmuuids"
	"github.com/imgprep/imgprep/pkg/ops/opstest"
	"github.com/imgprep/imgprep/pkg/sysprep"
)

// vgState is what lvm2's tools read of one VG on the given devices.
type vgState struct {
	vgUUID, seqno string
	pvUUIDs       map[string]string // by device
	lvs           []string
}

// readVG asks vgs, pvs and lvs about the VG on devs, and has vgck check
// it: no warning, no checksum or consistency complaint, exit 0.
func readVG(t *testing.T, devs []string, vg string) vgState {
	t.Helper()
	rows := func(tool, kind string, args ...string) []map[string]string {
		out, errOut, code := oracle.LVM(t, tool, devs, append([]string{"--reportformat", "json"}, args...)...)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", tool, code, errOut)
		}
		var r struct {
			Report []map[string][]map[string]string `json:"report"`
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil || len(r.Report) == 0 {
			t.Fatalf("%s: %v: %s", tool, err, out)
		}
		return r.Report[0][kind]
	}
	st := vgState{pvUUIDs: map[string]string{}}
	v := rows("vgs", "vg", "-o", "vg_name,vg_uuid,vg_seqno")
	if len(v) != 1 || v[0]["vg_name"] != vg {
		t.Fatalf("vgs: %v, want VG %s alone", v, vg)
	}
	st.vgUUID, st.seqno = v[0]["vg_uuid"], v[0]["vg_seqno"]
	for _, r := range rows("pvs", "pv", "-o", "pv_name,pv_uuid,vg_name") {
		if r["vg_name"] != vg {
			t.Errorf("pvs: %v is not in VG %s", r, vg)
		}
		st.pvUUIDs[r["pv_name"]] = r["pv_uuid"]
	}
	for _, r := range rows("lvs", "lv", "-o", "lv_name", vg) {
		st.lvs = append(st.lvs, r["lv_name"])
	}
	_, errOut, code := oracle.LVM(t, "vgck", devs, "-v", vg)
	for _, l := range strings.Split(errOut, "\n") {
		if strings.Contains(l, "WARNING") || strings.Contains(l, "rror") || strings.Contains(l, "nconsistent") || strings.Contains(l, "hecksum") {
			t.Errorf("vgck: %s", l)
		}
	}
	if code != 0 {
		t.Errorf("vgck exit %d: %s", code, errOut)
	}
	return st
}

// changesOf renders a report's changes as "action path [detail]".
func changesOf(rep *sysprep.Report) []string {
	var out []string
	for _, c := range rep.Changes() {
		s := string(c.Action) + " " + c.Path
		if c.Action == ops.NewUUID {
			s += " on " + c.Filesystem
		}
		out = append(out, s)
	}
	return out
}

// TestLVMUUIDsUbuntuLayout runs lvm-uuids through sysprep (the real disk
// stack and its transaction) on Ubuntu Server's layout: lvm2's pvs, vgs
// and lvs then read the new PV and VG UUIDs and seqno+1 (vgck clean); the
// guest's lvm.conf filter, system.devices and crypttab name the new PV
// UUID and never the old; the root LV, located by lvm2, is e2fsck-clean,
// and the kernel mounts it (losetup with offset and sizelimit) and reads
// the rewritten files.
func TestLVMUUIDsUbuntuLayout(t *testing.T) {
	oracle.Require(t, "e2fsck")
	img := fixture.Path(t, "lvm-ubuntu.raw")
	p3 := oracle.Partitions(t, img)[3]
	before := readVG(t, []string{oracle.Loop(t, img, p3.Start, p3.Size, true)}, "ubuntu-vg")

	rep, err := sysprep.Run(context.Background(), img, sysprep.Options{Operations: []ops.Operation{lvmuuids.New(nil)}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"new-uuid /dev/ubuntu-vg on LVM2 VG ubuntu-vg", "new-uuid /dev/ubuntu-vg on LVM2_member on partition 3",
		"edited /etc/lvm/lvm.conf", "edited /etc/lvm/devices/system.devices", "edited /etc/crypttab"}
	if got := changesOf(rep); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("changes:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}

	dev := oracle.Loop(t, img, p3.Start, p3.Size, true)
	after := readVG(t, []string{dev}, "ubuntu-vg")
	oldPV, newPV := onlyPV(t, before), after.pvUUIDs[dev]
	if after.vgUUID == before.vgUUID || newPV == oldPV || newPV == "" {
		t.Fatalf("lvm2 reads VG %s PV %s, as before", after.vgUUID, newPV)
	}
	if after.seqno != next(before.seqno) || strings.Join(after.lvs, ",") != "ubuntu-lv" {
		t.Errorf("lvm2 reads seqno %s LVs %v; want %s and ubuntu-lv", after.seqno, after.lvs, next(before.seqno))
	}
	for _, c := range rep.Changes() {
		if c.Action != ops.NewUUID {
			continue
		}
		want := "PV " + oldPV + " → " + newPV
		if c.Filesystem == "LVM2 VG ubuntu-vg" {
			want = "VG " + before.vgUUID + " → " + after.vgUUID
		}
		if c.Detail != want {
			t.Errorf("change detail %q, want %q", c.Detail, want)
		}
	}

	pieces := oracle.LVPieces(t, []string{dev}, "ubuntu-vg", "ubuntu-lv")
	if len(pieces) != 1 {
		t.Fatalf("ubuntu-lv in %d pieces", len(pieces))
	}
	root := p3.Start + pieces[0].Offset
	oracle.E2fsckClean(t, oracle.Device(img, root))
	newID, _ := lvm.ParseID(newPV)
	files := map[string]string{
		"/etc/lvm/lvm.conf":               "devices {\n\t# only the installer's PV\n\tfilter = [ \"a|^/dev/disk/by-id/lvm-pv-uuid-" + newPV + "$|\", \"r|.*|\" ]\n}\n",
		"/etc/lvm/devices/system.devices": "# LVM uses devices listed in this file.\nVERSION=1.1.1\nIDTYPE=devname IDNAME=/dev/vda3 DEVNAME=/dev/vda3 PVID=" + newID + " PART=3\n",
		"/etc/crypttab":                   "swapcrypt /dev/disk/by-id/lvm-pv-uuid-" + newPV + " /dev/urandom swap,cipher=aes-xts-plain64\n",
	}
	for p, want := range files {
		if b, ok := oracle.DebugfsCat(t, oracle.Device(img, root), p); !ok || string(b) != want {
			t.Errorf("debugfs reads %s as %q, want %q", p, b, want)
		}
	}
	// A loop device of the LV's bytes (the PV's loop device is attached
	// too, so mount -o loop,offset= would refuse an overlapping one).
	dir, _ := oracle.KernelMountType(t, "ext4", oracle.Loop(t, img, root, pieces[0].Size, true))
	for p, want := range files {
		if b, err := os.ReadFile(filepath.Join(dir, p)); err != nil || string(b) != want {
			t.Errorf("the kernel reads %s as %q (%v), want %q", p, b, err, want)
		}
	}
}

// TestLVMUUIDsAcrossDisks: VG rl over two disks of one VM (sysprep's
// Disks), both PVs and the VG get new UUIDs, lvm2 reads them from both
// disks (vgck clean), and the root LV, put together from the pieces lvm2
// says it has on each disk, is e2fsck-clean.
func TestLVMUUIDsAcrossDisks(t *testing.T) {
	oracle.Require(t, "e2fsck")
	dir := t.TempDir()
	a, b := fixture.PathIn(t, "lvm-disk-a.raw", dir), fixture.PathIn(t, "lvm-disk-b.raw", dir)
	pa := oracle.Partitions(t, a)[2]
	bSize := fileSize(t, b)
	before := readVG(t, []string{oracle.Loop(t, a, pa.Start, pa.Size, true), oracle.Loop(t, b, 0, bSize, true)}, "rl")
	rep, err := sysprep.Run(context.Background(), a, sysprep.Options{Disks: []string{b}, Operations: []ops.Operation{lvmuuids.New(nil)}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"new-uuid /dev/rl on LVM2 VG rl", "new-uuid /dev/rl on LVM2_member on partition 2",
		"new-uuid /dev/rl on LVM2_member on the whole disk"}
	if got := changesOf(rep); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("changes:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	da, db := oracle.Loop(t, a, pa.Start, pa.Size, true), oracle.Loop(t, b, 0, bSize, true)
	after := readVG(t, []string{da, db}, "rl")
	if after.vgUUID == before.vgUUID || after.seqno != next(before.seqno) || len(after.pvUUIDs) != 2 {
		t.Fatalf("lvm2 reads %+v after, %+v before", after, before)
	}
	for _, id := range after.pvUUIDs {
		for _, old := range before.pvUUIDs {
			if id == old {
				t.Errorf("PV UUID %s kept", id)
			}
		}
	}
	lv := filepath.Join(dir, "root.img")
	out, err := os.Create(lv)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	starts := map[string]struct {
		path string
		off  int64
	}{da: {a, pa.Start}, db: {b, 0}}
	for _, p := range oracle.LVPieces(t, []string{da, db}, "rl", "root") {
		src := starts[p.Dev]
		f, _ := fixture.Open(t, src.path, os.O_RDONLY)
		if _, err := io.Copy(out, io.NewSectionReader(f, src.off+p.Offset, p.Size)); err != nil {
			t.Fatal(err)
		}
	}
	oracle.E2fsckClean(t, lv)
}

// refusing is a guest whose LVM cannot be changed.
type refusing struct {
	ops.Guest
	err error
}

func (r refusing) ChangeLVMUUIDs(io.Reader) ([]guest.VGChange, error) { return nil, r.err }

// TestLVMUUIDsRefusal: a VG the guest refuses (a PV on a disk not given)
// fails the operation in one line that says what to do, and nothing is
// changed.
func TestLVMUUIDsRefusal(t *testing.T) {
	d := catalogtest.Open(t)
	mem := catalogtest.Memfs(t, d.Guest, "memfs")
	before := opstest.Take(t, mem)
	err0 := fmt.Errorf("%w: VG rl lacks PV %s", lvm.ErrMissingPV, "RlPVb0-0000-4000-8000-0000-0000-000003") // as the guest says it
	changes, err := lvmuuids.New(nil).Apply(context.Background(), refusing{mem, err0})
	if !errors.Is(err, lvm.ErrMissingPV) || changes != nil {
		t.Fatalf("changes %v, err %v", changes, err)
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "lvm-uuids: ") || !strings.Contains(msg, "-lvm-uuids") {
		t.Errorf("error %q: want one line naming the operation and how to leave it out", msg)
	}
	if diff := opstest.Diff(before, opstest.Take(t, mem)); len(diff) != 0 {
		t.Errorf("the refused operation changed %v", diff)
	}
	// A guest without LVM (an in-memory one) gets no change.
	if changes, err := lvmuuids.New(nil).Apply(context.Background(), mem); err != nil || len(changes) != 0 {
		t.Errorf("in-memory guest: %v %v", changes, err)
	}
}

// TestReplace: both forms of each UUID, whole tokens only, case-sensitive,
// a VG UUID followed by an LV UUID (a device-mapper UUID).
func TestReplace(t *testing.T) {
	const (
		vgOld32 = "Ubuvg000004000800000000000000001"
		pvOld   = "UbuPV000004000800000000000000001"
		vgNew   = "NEWvg0aaaa4aaa8aaaaaaaaaaaaaaaa1"
		pvNew   = "NEWpv0bbbb4bbb8bbbbbbbbbbbbbbbb2"
		lvID    = "UbuLV000004000800000000000000001"
	)
	r := []lvmuuids.Rename{{Old: vgOld32, New: vgNew, VG: true}, {Old: pvOld, New: pvNew}}
	d := lvm.FormatID
	for _, tc := range []struct {
		in, want string
		n        int
	}{
		{"filter = [ \"a|/dev/disk/by-id/lvm-pv-uuid-" + d(pvOld) + "$|\" ]", "filter = [ \"a|/dev/disk/by-id/lvm-pv-uuid-" + d(pvNew) + "$|\" ]", 1},
		{"IDTYPE=devname PVID=" + pvOld + " PART=3\n", "IDTYPE=devname PVID=" + pvNew + " PART=3\n", 1},
		{"x /dev/disk/by-id/dm-uuid-LVM-" + vgOld32 + lvID + " none\n", "x /dev/disk/by-id/dm-uuid-LVM-" + vgNew + lvID + " none\n", 1},
		{"set root='lvmid/" + d(vgOld32) + "/" + d(lvID) + "'", "set root='lvmid/" + d(vgNew) + "/" + d(lvID) + "'", 1},
		{"id = \"" + d(vgOld32) + "\"\nid = \"" + d(pvOld) + "\"", "id = \"" + d(vgNew) + "\"\nid = \"" + d(pvNew) + "\"", 2},
		// Not whole tokens, another case, a PV UUID followed by more.
		{"a" + pvOld + " " + pvOld + "x " + strings.ToLower(pvOld) + " " + pvOld + lvID + " " + d(pvOld) + "Z",
			"a" + pvOld + " " + pvOld + "x " + strings.ToLower(pvOld) + " " + pvOld + lvID + " " + d(pvOld) + "Z", 0},
		{"", "", 0},
	} {
		got, n := lvmuuids.Replace([]byte(tc.in), r)
		if string(got) != tc.want || n != tc.n {
			t.Errorf("Replace(%q) = %q, %d; want %q, %d", tc.in, got, n, tc.want, tc.n)
		}
	}
}

func onlyPV(t *testing.T, s vgState) string {
	t.Helper()
	if len(s.pvUUIDs) != 1 {
		t.Fatalf("%d PVs", len(s.pvUUIDs))
	}
	for _, id := range s.pvUUIDs {
		return id
	}
	return ""
}

func next(seqno string) string {
	n, err := strconv.ParseUint(seqno, 10, 64)
	if err != nil {
		return "not a number: " + seqno
	}
	return strconv.FormatUint(n+1, 10)
}

func fileSize(t *testing.T, p string) int64 {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}
