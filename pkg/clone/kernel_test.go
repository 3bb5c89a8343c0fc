package clone

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
)

// kernelMountRO mounts the ext4 of img read-only with the running kernel
// (a loop device) and returns the mount point; unmounted at cleanup. It
// needs root and loop devices: without them the test is skipped, or fails
// when CI=true, as oracle.Require does for tools.
func kernelMountRO(tb testing.TB, img string) string {
	tb.Helper()
	why := ""
	if os.Geteuid() != 0 {
		why = "not root"
	} else if _, err := os.Stat("/dev/loop-control"); err != nil {
		why = "no loop devices"
	}
	if why != "" {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("kernel mount needed under CI: %s", why)
		}
		tb.Skipf("kernel mount unavailable: %s", why)
	}
	dir := tb.TempDir()
	if out, err := exec.Command("mount", "-t", "ext4", "-o", "loop,ro", img, dir).CombinedOutput(); err != nil {
		tb.Fatalf("the kernel does not mount %s: %v: %s", img, err, out)
	}
	tb.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			tb.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

func TestTheKernelReadsEachClonesIdentity(t *testing.T) {
	oracle.Require(t, "qemu-img")
	tmpl := fixture.Path(t, "disk-none.qcow2")
	for i, mode := range []Mode{Linked, Full} {
		dest := filepath.Join(filepath.Dir(tmpl), string(mode)+".qcow2")
		id, err := RandomMachineID()
		if err != nil {
			t.Fatal(err)
		}
		host := []string{"web-1", "web-2.example.com"}[i]
		if _, err := Clone(context.Background(), tmpl, dest, Options{Mode: mode, Operations: prepOps(),
			Identity: Identity{Hostname: host, MachineID: id}}); err != nil {
			t.Fatal(err)
		}
		raw := filepath.Join(t.TempDir(), "disk.raw")
		oracle.QemuImgConvertRaw(t, dest, raw)
		mnt := kernelMountRO(t, raw)
		for p, want := range map[string]string{
			"etc/hostname":            host + "\n",
			"etc/machine-id":          id + "\n",
			"var/lib/dbus/machine-id": id + "\n",
		} {
			got, err := os.ReadFile(filepath.Join(mnt, p))
			if err != nil || string(got) != want {
				t.Errorf("%s clone: the kernel reads /%s as %q (%v), want %q", mode, p, got, err, want)
			}
		}
		if _, err := os.Stat(filepath.Join(mnt, "var/lib/netdata/registry/netdata.public.unique.id")); err == nil {
			t.Errorf("%s clone: netdata's GUID is still there", mode)
		}
	}
}
