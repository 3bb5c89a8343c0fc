package oracle

import (
	"os"
	"os/exec"
	"strconv"
	"testing"
)

// Unavailable ends the test because an oracle cannot run here: with Fatal
// when the environment says CI=true, with Skip otherwise.
func Unavailable(tb testing.TB, msg string) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
}

// KernelMount mounts the ext4 filesystem at byte offset of the file dev
// with the running kernel's driver (through a loop device), read-only when
// asked, at a temporary directory, and returns it with the function that
// unmounts it (also called at cleanup; a second call does nothing). It
// needs root and loop devices: without them the test is skipped, or fails
// when CI=true, as Require does for tools. A mount the kernel refuses
// fails the test.
func KernelMount(tb testing.TB, dev string, offset int64, readOnly bool) (dir string, cleanup func()) {
	tb.Helper()
	opts := "loop"
	if offset != 0 {
		opts += ",offset=" + strconv.FormatInt(offset, 10)
	}
	if readOnly {
		opts += ",ro"
	}
	return mount(tb, "ext4", dev, opts)
}

// mount mounts dev as fstype with the mount options opts ("" for none)
// at a temporary directory and returns it with the function that unmounts
// it (also called at cleanup; a second call does nothing). It needs root
// and loop devices: without them the test is skipped, or fails when
// CI=true. A mount the kernel refuses fails the test.
func mount(tb testing.TB, fstype, dev, opts string) (dir string, cleanup func()) {
	tb.Helper()
	loopAvailable(tb)
	args := []string{"-t", fstype}
	if opts != "" {
		args = append(args, "-o", opts)
	}
	dir = tb.TempDir()
	if out, err := exec.Command("mount", append(args, dev, dir)...).CombinedOutput(); err != nil {
		tb.Fatalf("the kernel does not mount %s as %s (-o %s): %v: %s", dev, fstype, opts, err, out)
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

// KernelMountType mounts the block device dev, read-write, as fstype at a
// temporary directory, and returns it with the function that unmounts it
// (also called at cleanup; a second call does nothing). It needs root and
// loop devices, as KernelMount.
func KernelMountType(tb testing.TB, fstype, dev string) (dir string, cleanup func()) {
	tb.Helper()
	return mount(tb, fstype, dev, "")
}

// KernelMountRO mounts bytes [offset, offset+size) of the image file path
// read-only as fstype with the extra mount options opts ("" for none;
// "subvolid=5" for btrfs) through a read-only loop device, and returns
// the mount directory; it is unmounted at cleanup, before the loop device
// is detached. It needs root and loop devices, as KernelMount.
func KernelMountRO(tb testing.TB, fstype, path string, offset, size int64, opts string) string {
	tb.Helper()
	dev := Loop(tb, path, offset, size, true)
	o := "ro"
	if opts != "" {
		o += "," + opts
	}
	dir, _ := mount(tb, fstype, dev, o)
	return dir
}
