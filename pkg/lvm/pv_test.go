package lvm

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// The fixtures' UUIDs, as testdata/images/gen.d/lvm.sh gives them.
const (
	ubuntuVGID   = "Ubuvg0-0000-4000-8000-0000-0000-000001"
	ubuntuPVID   = "UbuPV0-0000-4000-8000-0000-0000-000001"
	ubuntuRootFS = "0a1b2c3d-0000-4000-8000-00000000b001"
	multiRootFS  = "0a1b2c3d-0000-4000-8000-00000000c001"
	multiVarFS   = "0a1b2c3d-0000-4000-8000-00000000c002"
	rlRootFS     = "0a1b2c3d-0000-4000-8000-00000000d001"
)

func TestUbuntuLayout(t *testing.T) {
	fps := openPVs(t, "lvm-ubuntu.raw")
	if len(fps) != 1 {
		t.Fatalf("%d PVs, want 1 (partition 3)", len(fps))
	}
	pv := fps[0].pv
	if got := FormatID(pv.Label.UUID); got != ubuntuPVID {
		t.Errorf("PV UUID %s, want %s", got, ubuntuPVID)
	}
	if pv.Label.Sector != 1 || len(pv.MDAs) != 1 || pv.MDAs[0].Area.Offset != 4096 {
		t.Errorf("label in sector %d with %d metadata areas (first at %d): lvm2 puts it in sector 1 with one at 4096",
			pv.Label.Sector, len(pv.MDAs), pv.MDAs[0].Area.Offset)
	}
	vgs := assemble(t, fps)
	if len(vgs) != 1 {
		t.Fatalf("%d VGs", len(vgs))
	}
	vg := vgs[0]
	if vg.Name != "ubuntu-vg" || FormatID(vg.ID) != ubuntuVGID || vg.ExtentSize != 1<<20 || len(vg.Missing) != 0 {
		t.Errorf("VG %s id %s extent %d missing %v", vg.Name, FormatID(vg.ID), vg.ExtentSize, vg.Missing)
	}
	lv := vg.LV("ubuntu-lv")
	if lv == nil || lv.Kind != KindLinear || lv.Size != 32<<20 || !lv.Visible {
		t.Fatalf("ubuntu-lv: %+v", lv)
	}
	v, err := vg.Volume(lv)
	if err != nil {
		t.Fatal(err)
	}
	magic, u := ext4Head(t, v)
	if magic != 0xEF53 || u != uuidBytes(t, ubuntuRootFS) {
		t.Errorf("ext4 on ubuntu-lv: magic %#x uuid %x", magic, u)
	}
}

func TestMultiSegmentAndStriped(t *testing.T) {
	vgs := assemble(t, openPVs(t, "lvm-multi.raw"))
	if len(vgs) != 1 || vgs[0].Name != "datavg" {
		t.Fatalf("VGs %v", vgs)
	}
	vg := vgs[0]
	root, vr := vg.LV("root"), vg.LV("var")
	if root == nil || root.Kind != KindLinear || len(root.Segments) != 3 {
		t.Fatalf("root: %+v", root)
	}
	if vr == nil || vr.Kind != KindStriped || vr.Segments[0].StripeSize != 64<<10 || len(vr.Segments[0].Stripes) != 2 {
		t.Fatalf("var: %+v", vr)
	}
	for _, c := range []struct {
		lv   *LV
		uuid string
	}{{root, multiRootFS}, {vr, multiVarFS}} {
		v, err := vg.Volume(c.lv)
		if err != nil {
			t.Fatal(err)
		}
		magic, u := ext4Head(t, v)
		if magic != 0xEF53 || u != uuidBytes(t, c.uuid) {
			t.Errorf("ext4 on %s: magic %#x uuid %x", c.lv.Name, magic, u)
		}
	}
}

func TestUnmappedKindsNamed(t *testing.T) {
	vg := assemble(t, openPVs(t, "lvm-multi.raw"))[0]
	want := map[string]string{
		"pool": "thin-pool", "thin": "thin", "mirr": "raid1", "snap": KindSnapshot, "base": KindLinear,
		"pool_tdata": KindLinear, "mirr_rimage_0": KindLinear, "snapshot0": "snapshot",
	}
	for name, kind := range want {
		lv := vg.LV(name)
		if lv == nil {
			t.Errorf("no LV %s", name)
			continue
		}
		if lv.Kind != kind {
			t.Errorf("LV %s: kind %q, want %q", name, lv.Kind, kind)
		}
	}
	for _, name := range []string{"pool", "thin", "mirr", "snap", "base"} {
		lv := vg.LV(name)
		ok, why := lv.Writable()
		_, err := vg.Volume(lv)
		if ok || !errors.Is(err, ErrUnsupported) || !strings.Contains(why, name) {
			t.Errorf("LV %s (%s): writable %v (%s), Volume error %v", name, lv.Kind, ok, why, err)
		}
	}
	if vg.LV("pool_tdata").Visible || !vg.LV("thin").Visible {
		t.Error("hidden sub-LVs must not be visible, thin LVs must")
	}
}

func TestTwoDisks(t *testing.T) {
	fps := openPVs(t, "lvm-disk-a.raw", "lvm-disk-b.raw")
	vgs := assemble(t, fps)
	if len(vgs) != 1 || vgs[0].Name != "rl" || len(vgs[0].Missing) != 0 {
		t.Fatalf("VGs %+v", vgs)
	}
	v, err := vgs[0].Volume(vgs[0].LV("root"))
	if err != nil {
		t.Fatal(err)
	}
	if magic, u := ext4Head(t, v); magic != 0xEF53 || u != uuidBytes(t, rlRootFS) {
		t.Errorf("ext4 on rl/root: magic %#x uuid %x", magic, u)
	}
	// Disk a alone: the VG is there, root is not mappable.
	alone, problems := Assemble([]*PV{fps[0].pv})
	if len(problems) != 0 || len(alone) != 1 || len(alone[0].Missing) != 1 {
		t.Fatalf("disk a alone: %+v %v", alone, problems)
	}
	if _, err := alone[0].Volume(alone[0].LV("root")); !errors.Is(err, ErrMissingPV) {
		t.Errorf("root without disk b: %v, want ErrMissingPV", err)
	}
	if _, err := alone[0].ChangeUUIDs(nil); !errors.Is(err, ErrMissingPV) {
		t.Errorf("ChangeUUIDs without disk b: %v, want ErrMissingPV", err)
	}
}

// TestVolumeIO reads and writes across segment and stripe boundaries and
// checks each byte lands where the mapping says.
func TestVolumeIO(t *testing.T) {
	fps := openPVs(t, "lvm-multi.raw")
	vg := assemble(t, fps)[0]
	for _, name := range []string{"root", "var"} {
		lv := vg.LV(name)
		v, err := vg.Volume(lv)
		if err != nil {
			t.Fatal(err)
		}
		exts, err := vg.Extents(lv)
		if err != nil {
			t.Fatal(err)
		}
		// A write across every boundary: one byte pattern over the whole
		// LV but the first and last 100 bytes.
		data := make([]byte, v.Size()-200)
		for i := range data {
			data[i] = byte(i*7 + 3)
		}
		if n, err := v.WriteAt(data, 100); err != nil || n != len(data) {
			t.Fatalf("%s: WriteAt %d, %v", name, n, err)
		}
		// Read it back piece by piece from the PV devices.
		lvOff := int64(0)
		for _, e := range exts {
			buf := make([]byte, e.Size)
			if _, err := vg.Device(e.PV).Dev.ReadAt(buf, e.Offset); err != nil {
				t.Fatal(err)
			}
			for i := range buf {
				o := lvOff + int64(i)
				if o < 100 || o >= v.Size()-100 {
					continue
				}
				if buf[i] != data[o-100] {
					t.Fatalf("%s: LV byte %d at %s+%d is %d, want %d", name, o, e.PV, e.Offset+int64(i), buf[i], data[o-100])
				}
			}
			lvOff += e.Size
		}
		if lvOff != v.Size() {
			t.Errorf("%s: extents cover %d bytes of %d", name, lvOff, v.Size())
		}
		got := make([]byte, len(data))
		if _, err := v.ReadAt(got, 100); err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s: read back differs (%v)", name, err)
		}
		if _, err := v.WriteAt([]byte{1, 2}, v.Size()-1); !errors.Is(err, ErrOutsideVolume) {
			t.Errorf("%s: write past the end: %v", name, err)
		}
		if n, err := v.ReadAt(make([]byte, 10), v.Size()-4); n != 4 || err == nil {
			t.Errorf("%s: read past the end: %d, %v", name, n, err)
		}
	}
}
