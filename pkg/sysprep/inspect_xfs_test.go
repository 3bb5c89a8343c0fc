package sysprep_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/pkg/fs"
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

// TestSysprepRockyXFSRefusedUnchanged: imgprep does not write xfs yet, so
// a default sysprep of the xfs guest fails in one line naming the
// filesystem and why, and the image is byte-identical.
func TestSysprepRockyXFSRefusedUnchanged(t *testing.T) {
	img := fixture.Path(t, "guest-rocky-xfs.raw")
	sum := fixture.SHA256(t, img)
	_, err := sysprep.Run(context.Background(), img, sysprep.Options{Operations: defaultOps()})
	if err == nil || !errors.Is(err, fs.ErrReadOnly) {
		t.Fatalf("Run: %v, want a read-only refusal", err)
	}
	if want := "xfs on partition 2 of guest-rocky-xfs.raw: imgprep cannot write xfs yet"; !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("error %q: want one line saying %q", err, want)
	}
	if fixture.SHA256(t, img) != sum {
		t.Fatal("the refused sysprep changed the image")
	}
}
