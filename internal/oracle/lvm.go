package oracle

import (
	"bytes"
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
	loopAvailable(tb)
	opts := "loop,offset=" + strconv.FormatInt(offset, 10) + ",sizelimit=" + strconv.FormatInt(size, 10)
	if readOnly {
		opts += ",ro"
	}
	dir = tb.TempDir()
	if out, err := exec.Command("mount", "-t", "ext4", "-o", opts, dev, dir).CombinedOutput(); err != nil {
		tb.Fatalf("the kernel does not mount %s (mount -o %s): %v: %s", dev, opts, err, out)
	}
	mounted := true
	cleanup = func() {
		if !mounted {
			return
		}
		mounted = false
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			tb.Errorf("umount %s: %v: %s", dir, err, out)
		}
	}
	tb.Cleanup(cleanup)
	return dir, cleanup
}
