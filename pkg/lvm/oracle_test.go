package lvm

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/oracle"
)

// lvmReport is the JSON lvm2's reporting tools print.
type lvmReport struct {
	Report []map[string][]map[string]string `json:"report"`
}

// lvmRows runs a reporting tool on devs and returns its rows.
func lvmRows(t *testing.T, tool, kind string, devs []string, args ...string) []map[string]string {
	t.Helper()
	out, errOut, code := oracle.LVM(t, tool, devs, append([]string{"--reportformat", "json", "--units", "b", "--nosuffix"}, args...)...)
	if code != 0 {
		t.Fatalf("%s: exit %d: %s", tool, code, errOut)
	}
	var r lvmReport
	if err := json.Unmarshal([]byte(out), &r); err != nil || len(r.Report) == 0 {
		t.Fatalf("%s: %v: %s", tool, err, out)
	}
	return r.Report[0][kind]
}

// loops attaches a loop device to each fixture PV and returns, by PV key
// of vg, the device names.
func loops(t *testing.T, vg *VG, fps []fixturePV, readOnly bool) (map[string]string, []string) {
	t.Helper()
	byKey := map[string]string{}
	var devs []string
	for _, f := range fps {
		dev := oracle.Loop(t, f.path, f.start, f.size, readOnly)
		devs = append(devs, dev)
		for _, info := range vg.PVs {
			if info.ID == f.pv.Label.UUID {
				byKey[info.Key] = dev
			}
		}
	}
	return byKey, devs
}

// agree checks that lvm2's pvs, vgs and lvs read the VG as imgprep does:
// UUIDs, seqno, extent size, pe_start, and every segment's type and PV
// extent ranges.
func agree(t *testing.T, vg *VG, fps []fixturePV) {
	t.Helper()
	byKey, devs := loops(t, vg, fps, true)
	vgRows := lvmRows(t, "vgs", "vg", devs, "-o", "vg_name,vg_uuid,vg_seqno,vg_extent_size")
	if len(vgRows) != 1 {
		t.Fatalf("vgs: %v", vgRows)
	}
	r := vgRows[0]
	if r["vg_name"] != vg.Name || r["vg_uuid"] != FormatID(vg.ID) || r["vg_seqno"] != strconv.FormatUint(vg.Seqno, 10) ||
		r["vg_extent_size"] != strconv.FormatInt(vg.ExtentSize, 10) {
		t.Errorf("vgs says %v; imgprep read %s %s seqno %d extent %d", r, vg.Name, FormatID(vg.ID), vg.Seqno, vg.ExtentSize)
	}
	for _, r := range lvmRows(t, "pvs", "pv", devs, "-o", "pv_name,pv_uuid,pe_start") {
		found := false
		for _, info := range vg.PVs {
			if byKey[info.Key] == r["pv_name"] {
				found = true
				if r["pv_uuid"] != FormatID(info.ID) || r["pe_start"] != strconv.FormatInt(info.PEStart, 10) {
					t.Errorf("pvs says %v; imgprep read %s pe_start %d", r, FormatID(info.ID), info.PEStart)
				}
			}
		}
		if !found {
			t.Errorf("pvs shows %v, which imgprep did not bind", r)
		}
	}
	rows := lvmRows(t, "lvs", "seg", devs, "-a", "--segments", "-o", "lv_name,segtype,seg_start_pe,seg_size_pe,seg_pe_ranges,stripes,stripe_size")
	seen := 0
	for _, r := range rows {
		name := strings.Trim(r["lv_name"], "[]")
		lv := vg.LV(name)
		if lv == nil {
			t.Errorf("lvs shows LV %s, imgprep does not", name)
			continue
		}
		var seg *Segment
		for i := range lv.Segments {
			if strconv.FormatInt(lv.Segments[i].StartExtent, 10) == r["seg_start_pe"] {
				seg = &lv.Segments[i]
			}
		}
		if seg == nil || strconv.FormatInt(seg.ExtentCount, 10) != r["seg_size_pe"] {
			t.Errorf("lvs shows %v, imgprep has no such segment of %s", r, name)
			continue
		}
		seen++
		wantType := seg.Type
		if seg.Type == "striped" && len(seg.Stripes) == 1 {
			wantType = "linear"
		}
		if r["segtype"] != wantType {
			t.Errorf("LV %s segment at %s: lvs says %s, imgprep %s", name, r["seg_start_pe"], r["segtype"], wantType)
		}
		if seg.Type != "striped" {
			continue
		}
		var ranges []string
		per := seg.ExtentCount / int64(len(seg.Stripes))
		for _, s := range seg.Stripes {
			ranges = append(ranges, fmt.Sprintf("%s:%d-%d", byKey[s.PV], s.StartExtent, s.StartExtent+per-1))
		}
		if got := strings.Join(ranges, " "); got != r["seg_pe_ranges"] || r["stripe_size"] != strconv.FormatInt(seg.StripeSize, 10) {
			t.Errorf("LV %s segment at %s: lvs maps %s stripe %s, imgprep %s stripe %d", name, r["seg_start_pe"], r["seg_pe_ranges"], r["stripe_size"], got, seg.StripeSize)
		}
	}
	if seen == 0 {
		t.Error("lvs showed no segment")
	}
}

// TestLVMToolsAgree compares the mapping of every fixture VG with lvm2's.
func TestLVMToolsAgree(t *testing.T) {
	for _, set := range [][]string{{"lvm-ubuntu.raw"}, {"lvm-multi.raw"}, {"lvm-disk-a.raw", "lvm-disk-b.raw"}} {
		t.Run(set[0], func(t *testing.T) {
			fps := openPVs(t, set...)
			vgs := assemble(t, fps)
			if len(vgs) != 1 {
				t.Fatalf("%d VGs", len(vgs))
			}
			agree(t, vgs[0], fps)
		})
	}
}

// TestChangeUUIDsLVMReads gives every fixture VG new UUIDs, then checks
// that a fresh read and lvm2's tools (vgck included) see the new UUIDs,
// seqno+1 and the same LVs.
func TestChangeUUIDsLVMReads(t *testing.T) {
	for _, set := range [][]string{{"lvm-ubuntu.raw"}, {"lvm-multi.raw"}, {"lvm-disk-a.raw", "lvm-disk-b.raw"}} {
		t.Run(set[0], func(t *testing.T) {
			fps := openPVs(t, set...)
			vg := assemble(t, fps)[0]
			oldSeq, oldID := vg.Seqno, vg.ID
			changes, err := vg.ChangeUUIDs(nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(changes) != 1+len(vg.PVs) || changes[0].Old != oldID || changes[0].New == oldID {
				t.Fatalf("changes %+v", changes)
			}
			checkReread(t, fps, oldSeq+1, changes)
		})
	}
}

// TestChangeUUIDsWraps rewrites the metadata until it has wrapped round
// the metadata area's circular buffer more than once, and has lvm2 read
// the result.
func TestChangeUUIDsWraps(t *testing.T) {
	fps := openPVs(t, "lvm-multi.raw")
	vg := assemble(t, fps)[0]
	m, seq0 := fps[0].pv.MDAs[0], vg.Seqno
	rounds := int(2*m.Header.Size/uint64(len(vg.text))) + 2
	wrapped := 0
	var changes []IDChange
	for i := 0; i < rounds; i++ {
		before := m.Locn.Offset
		var err error
		if changes, err = vg.ChangeUUIDs(nil); err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		if m.Locn.Offset < before {
			wrapped++
		}
	}
	if wrapped < 2 {
		t.Fatalf("the text wrapped %d times in %d rounds", wrapped, rounds)
	}
	checkReread(t, fps, seq0+uint64(rounds), changes)
}

func checkReread(t *testing.T, fps []fixturePV, seq uint64, changes []IDChange) {
	t.Helper()
	// A fresh read of the files.
	var fresh []fixturePV
	for _, f := range fps {
		pv, err := ReadPV(f.pv.Dev, f.pv.Size, f.pv.Name)
		if err != nil {
			t.Fatalf("re-reading %s: %v", f.pv.Name, err)
		}
		fresh = append(fresh, fixturePV{pv, f.path, f.start, f.size})
	}
	vgs := assemble(t, fresh)
	if len(vgs) != 1 {
		t.Fatalf("%d VGs after the change", len(vgs))
	}
	vg := vgs[0]
	if vg.Seqno != seq || vg.ID != changes[0].New {
		t.Errorf("re-read seqno %d id %s, want %d %s", vg.Seqno, vg.ID, seq, changes[0].New)
	}
	for i, info := range vg.PVs {
		if info.ID != changes[1+i].New {
			t.Errorf("PV %s: id %s, want %s", info.Key, info.ID, changes[1+i].New)
		}
	}
	agree(t, vg, fresh)
	_, devs := loops(t, vg, fresh, true)
	_, errOut, code := oracle.LVM(t, "vgck", devs, "-v", vg.Name)
	for _, l := range strings.Split(errOut, "\n") {
		if strings.Contains(l, "WARNING") || strings.Contains(l, "rror") || strings.Contains(l, "nconsistent") || strings.Contains(l, "checksum") {
			t.Errorf("vgck: %s", l)
		}
	}
	if code != 0 {
		t.Errorf("vgck exit %d: %s", code, errOut)
	}
}
