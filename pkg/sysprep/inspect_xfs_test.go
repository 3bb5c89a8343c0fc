package sysprep_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/sysprep"
)

// TestInspectRockyXFSGuest: a Rocky-like guest with its root and /boot on
// xfs (GPT, no LVM, as Rocky, Alma and Amazon Linux cloud images) is read
// through pkg/fs/xfs: os-release through its symlink, hostname,
// machine-id, the D-Bus machine-id symlink, the ssh host key.
func TestInspectRockyXFSGuest(t *testing.T) {
	in := inspectFixture(t, "guest-rocky-xfs.raw")
	if len(in.Guests) != 1 {
		t.Fatalf("%d guests, want 1: %+v", len(in.Guests), in)
	}
	g := in.Guests[0]
	if g.OS != "Rocky Linux 9.4 (Blue Onyx)" {
		t.Errorf("os %q", g.OS)
	}
	if g.Hostname != "rocky-template" {
		t.Errorf("hostname %q", g.Hostname)
	}
	if g.MachineID.State != "set" || g.MachineID.Value != "4c8ab9d6b1d24a0c9e0f3b2a1c5d7e9f" {
		t.Errorf("/etc/machine-id on xfs = %+v", g.MachineID)
	}
	if g.DbusID.State != "symlink" || g.DbusID.Target != "/etc/machine-id" {
		t.Errorf("/var/lib/dbus/machine-id = %+v, want a symlink to /etc/machine-id", g.DbusID)
	}
	if len(g.SSHKeys) != 1 {
		t.Errorf("ssh keys %+v, want the ed25519 pair", g.SSHKeys)
	}
	if len(g.Notes) != 0 || len(in.Notes) != 0 {
		t.Errorf("notes %q %q, want none", g.Notes, in.Notes)
	}
}

// TestSysprepRockyXFS: a default sysprep of the Rocky-like guest changes
// its xfs root (machine-id emptied with its SELinux label kept, ssh host
// keys removed), leaves /boot byte-identical, and xfs_repair -n finds
// nothing on either; the kernel mounts the root and shows the change.
func TestSysprepRockyXFS(t *testing.T) {
	img := fixture.Path(t, "guest-rocky-xfs.raw")
	const bootOff, rootOff, partSize = 1 << 20, 34603008, 32 << 20 // gen.d/xfs.sh's GPT
	raw, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	for _, off := range []int64{bootOff, rootOff} {
		if string(raw[off:off+4]) != "XFSB" {
			t.Fatalf("no xfs at byte %d", off)
		}
	}
	bootBefore := append([]byte{}, raw[bootOff:bootOff+partSize]...)
	rep, err := sysprep.Run(context.Background(), img, sysprep.Options{Operations: defaultOps()})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	t.Logf("report: %+v", rep)
	raw, err = os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw[bootOff:bootOff+partSize], bootBefore) {
		t.Error("/boot changed")
	}
	dir := t.TempDir()
	for name, off := range map[string]int64{"boot": bootOff, "root": rootOff} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, raw[off:off+partSize], 0o600); err != nil {
			t.Fatal(err)
		}
		if probs, out := oracle.XfsRepairProblems(t, p); len(probs) > 0 {
			t.Fatalf("xfs_repair -n on %s: %v\n%s", name, probs, out)
		}
	}
	dev := oracle.Loop(t, img, rootOff, partSize, true)
	mnt, _ := oracle.KernelMountOpts(t, "xfs", dev, "ro,norecovery,nouuid")
	if st, err := os.Stat(filepath.Join(mnt, "etc/machine-id")); err != nil || st.Size() != 0 {
		t.Errorf("/etc/machine-id after sysprep: %v %v", st, err)
	}
	label := make([]byte, 64)
	if n, err := unix.Lgetxattr(filepath.Join(mnt, "etc/machine-id"), "security.selinux", label); err != nil || n != 38 {
		t.Errorf("security.selinux of /etc/machine-id: %d bytes, %v", n, err)
	}
	if es, err := os.ReadDir(filepath.Join(mnt, "etc/ssh")); err != nil || len(es) != 0 {
		t.Errorf("/etc/ssh after sysprep: %v %v", es, err)
	}
	if b, err := os.ReadFile(filepath.Join(mnt, "etc/hostname")); err != nil || string(b) != "rocky-template\n" {
		t.Errorf("/etc/hostname: %q %v", b, err)
	}
}
