package oracle

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// Loop attaches a loop device to bytes [offset, offset+size) of the file
// path (read-only when asked), detaching it at cleanup, and returns the
// device. It needs root and loop devices: without them the test is
// skipped, or fails when CI=true.
func Loop(tb testing.TB, path string, offset, size int64, readOnly bool) string {
	tb.Helper()
	loopAvailable(tb)
	args := []string{"-f", "--show", "-o", strconv.FormatInt(offset, 10), "--sizelimit", strconv.FormatInt(size, 10)}
	if readOnly {
		args = append(args, "-r")
	}
	out, err := exec.Command(Require(tb, "losetup"), append(args, path)...).CombinedOutput()
	if err != nil {
		tb.Fatalf("losetup %v %s: %v: %s", args, path, err, out)
	}
	dev := strings.TrimSpace(string(out))
	tb.Cleanup(func() {
		if out, err := exec.Command("losetup", "-d", dev).CombinedOutput(); err != nil {
			tb.Errorf("losetup -d %s: %v: %s", dev, err, out)
		}
	})
	return dev
}

func loopAvailable(tb testing.TB) {
	tb.Helper()
	why := ""
	if os.Geteuid() != 0 {
		why = "not root"
	} else if _, err := os.Stat("/dev/loop-control"); err != nil {
		why = "no loop devices"
	}
	if why != "" {
		Unavailable(tb, "loop devices unavailable: "+why)
	}
}

// LVMConfig keeps lvm2's tools to the devices named with --devices: no
// system devices file, no udev, no backups written to the host's /etc.
const LVMConfig = "devices{use_devicesfile=0 obtain_device_list_from_udev=0} backup{backup=0 archive=0}"

// LVM runs the lvm2 tool (pvs, vgs, lvs, vgck) on exactly the devices
// given, and returns its stdout, stderr and exit code.
func LVM(tb testing.TB, tool string, devices []string, args ...string) (stdout, stderr string, code int) {
	tb.Helper()
	path := Require(tb, tool)
	all := append([]string{"--config", LVMConfig, "--devices", strings.Join(devices, ",")}, args...)
	cmd := exec.Command(path, all...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LVM_SUPPRESS_FD_WARNINGS=1")
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return o.String(), e.String(), ee.ExitCode()
		}
		tb.Fatalf("running %s %v: %v", tool, all, err)
	}
	return o.String(), e.String(), 0
}

// KernelMountRange mounts the ext4 filesystem in bytes [offset,
// offset+size) of the file dev with the running kernel's driver, as
// KernelMount does, through a loop device limited to that range
// (mount -o loop,offset=,sizelimit=).
func KernelMountRange(tb testing.TB, dev string, offset, size int64, readOnly bool) (dir string, cleanup func()) {
	tb.Helper()
	opts := "loop,offset=" + strconv.FormatInt(offset, 10) + ",sizelimit=" + strconv.FormatInt(size, 10)
	if readOnly {
		opts += ",ro"
	}
	return mount(tb, "ext4", dev, opts)
}

// Partition is one partition as sfdisk reads it, in bytes.
type Partition struct{ Start, Size int64 }

// Partitions reads the partition table of the disk image path with
// sfdisk --json and returns its partitions by number.
func Partitions(tb testing.TB, path string) map[int]Partition {
	tb.Helper()
	out, errOut, code := Run(tb, "sfdisk", "--json", path)
	if code != 0 {
		tb.Fatalf("sfdisk --json %s: exit %d: %s", path, code, errOut)
	}
	var t struct {
		Table struct {
			SectorSize int64 `json:"sectorsize"`
			Partitions []struct {
				Node        string `json:"node"`
				Start, Size int64
			} `json:"partitions"`
		} `json:"partitiontable"`
	}
	if err := json.Unmarshal([]byte(out), &t); err != nil {
		tb.Fatalf("sfdisk --json %s: %v", path, err)
	}
	ss := t.Table.SectorSize
	if ss == 0 {
		ss = 512
	}
	parts := map[int]Partition{}
	for _, p := range t.Table.Partitions {
		n, err := strconv.Atoi(strings.TrimPrefix(p.Node, path))
		if err != nil {
			tb.Fatalf("sfdisk: partition node %q", p.Node)
		}
		parts[n] = Partition{Start: p.Start * ss, Size: p.Size * ss}
	}
	return parts
}

// LVPiece is a run of a linear LV's extents on one PV device, in bytes.
type LVPiece struct {
	Dev          string
	Offset, Size int64
}

// LVPieces asks lvm2's tools (vgs, pvs, lvs --segments, on exactly the
// devices given) where the LV vg/lv lies: its pieces in LV order. Only
// linear segments are accepted.
func LVPieces(tb testing.TB, devices []string, vg, lv string) []LVPiece {
	tb.Helper()
	report := func(tool, kind string, args ...string) []map[string]string {
		out, errOut, code := LVM(tb, tool, devices, append([]string{"--reportformat", "json", "--units", "b", "--nosuffix"}, args...)...)
		if code != 0 {
			tb.Fatalf("%s: exit %d: %s", tool, code, errOut)
		}
		var r struct {
			Report []map[string][]map[string]string `json:"report"`
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil || len(r.Report) == 0 {
			tb.Fatalf("%s: %v: %s", tool, err, out)
		}
		return r.Report[0][kind]
	}
	num := func(s string) int64 {
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			tb.Fatalf("lvm2 reports %q, not a number", s)
		}
		return n
	}
	vgs := report("vgs", "vg", "-o", "vg_extent_size", vg)
	if len(vgs) != 1 {
		tb.Fatalf("vgs %s: %v", vg, vgs)
	}
	extent := num(vgs[0]["vg_extent_size"])
	peStart := map[string]int64{}
	for _, r := range report("pvs", "pv", "-o", "pv_name,pe_start") {
		peStart[r["pv_name"]] = num(r["pe_start"])
	}
	var out []LVPiece
	for _, r := range report("lvs", "seg", "--segments", "-o", "segtype,seg_pe_ranges", vg+"/"+lv) {
		dev, rng, ok := strings.Cut(r["seg_pe_ranges"], ":")
		from, to, ok2 := strings.Cut(rng, "-")
		if r["segtype"] != "linear" || !ok || !ok2 || strings.Contains(to, " ") {
			tb.Fatalf("lvs %s/%s: segment %v is not one linear range", vg, lv, r)
		}
		a, b := num(from), num(to)
		out = append(out, LVPiece{Dev: dev, Offset: peStart[dev] + a*extent, Size: (b - a + 1) * extent})
	}
	if len(out) == 0 {
		tb.Fatalf("lvs finds no LV %s/%s", vg, lv)
	}
	return out
}
