package sysprep_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/pkg/storage"
	"github.com/imgprep/imgprep/pkg/sysprep"
)

// inspectFixture inspects a copy of a committed fixture with the real
// stack and checks the copy was not changed.
func inspectFixture(t *testing.T, name string) *sysprep.Inspection {
	t.Helper()
	img := fixture.Path(t, name)
	sum := fixture.SHA256(t, img)
	in, err := sysprep.Inspect(context.Background(), img, sysprep.Options{})
	if err != nil {
		t.Fatalf("Inspect(%s): %v", name, err)
	}
	if fixture.SHA256(t, img) != sum {
		t.Fatalf("Inspect changed %s", name)
	}
	return in
}

// TestInspectXFSVarShowsWhatItReads: the root (ext4) is read in full, and
// so is the xfs /var, which is empty: its identity files are "missing",
// with no note.
func TestInspectXFSVarShowsWhatItReads(t *testing.T) {
	in := inspectFixture(t, "guest-varxfs.raw")
	if len(in.Guests) != 1 {
		t.Fatalf("%d guests, want 1: %+v", len(in.Guests), in)
	}
	g := in.Guests[0]
	if g.MachineID.State != "set" || g.MachineID.Value != "4c8ab9d6b1d24a0c9e0f3b2a1c5d7e9f" {
		t.Errorf("/etc/machine-id on the ext4 root = %+v, want it read", g.MachineID)
	}
	if g.Hostname == "" || len(g.SSHKeys) == 0 || g.OS == "" {
		t.Errorf("the root's facts were not all read: hostname %q, %d keys, os %q", g.Hostname, len(g.SSHKeys), g.OS)
	}
	if g.DbusID.State != "missing" {
		t.Errorf("/var/lib/dbus/machine-id on the empty xfs = %+v, want missing", g.DbusID)
	}
	if len(g.Notes) != 0 {
		t.Errorf("notes %q, want none", g.Notes)
	}
	if len(in.Notes) != 0 {
		t.Errorf("image notes %q, want none", in.Notes)
	}
}

// TestInspectNoOSSaysSoPlainly: a disk with no guest (an empty xfs) is
// described, with the note "no operating system found".
func TestInspectNoOSSaysSoPlainly(t *testing.T) {
	in := inspectFixture(t, "guest-xfsroot.raw")
	if len(in.Guests) != 0 || len(in.Info.Filesystems) != 1 {
		t.Fatalf("guests %d, filesystems %+v", len(in.Guests), in.Info.Filesystems)
	}
	want := "no operating system found"
	if len(in.Notes) != 1 || in.Notes[0] != want {
		t.Fatalf("notes %q, want [%q]", in.Notes, want)
	}
}

// TestInspectWarnsAboutMissingFstabDisks: disk-gpt's fstab mounts /srv
// from a UUID that is on no disk.
func TestInspectWarnsAboutMissingFstabDisks(t *testing.T) {
	in := inspectFixture(t, "disk-gpt.qcow2")
	if len(in.Guests) != 1 {
		t.Fatalf("%d guests", len(in.Guests))
	}
	want := "fstab mounts /srv from /dev/disk/by-uuid/0bad0bad-0000-4000-8000-000000000000, which is missing: no filesystem on this disk matches UUID=0bad0bad-0000-4000-8000-000000000000"
	if n := in.Guests[0].Notes; len(n) != 1 || n[0] != want {
		t.Fatalf("notes %q, want [%q]", n, want)
	}
}

// TestInspectReadsAnImageAnotherProcessWrites: while a writer holds the
// image (here imgprep's own write open, which shares nothing, so even a
// plain read-only open is refused), Inspect reads it as qemu-img -U would
// and notes it.
func TestInspectReadsAnImageAnotherProcessWrites(t *testing.T) {
	img := fixture.Path(t, "disk-gpt.qcow2")
	w, err := storage.OpenFile(img, storage.OpenOptions{Write: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	in, err := sysprep.Inspect(context.Background(), img, sysprep.Options{})
	if err != nil {
		t.Fatalf("Inspect of an image being written: %v", err)
	}
	if len(in.Guests) != 1 || in.Guests[0].MachineID.State != "set" {
		t.Fatalf("guests %+v", in.Guests)
	}
	if len(in.Notes) != 1 || !strings.Contains(in.Notes[0], "another process is writing it (QEMU holds its write lock") ||
		!strings.Contains(in.Notes[0], "qemu-img -U") {
		t.Fatalf("notes %q, want the in-use warning", in.Notes)
	}
	// A run that writes is still refused.
	if _, err := sysprep.Run(context.Background(), img, sysprep.Options{Operations: defaultOps()}); !errors.Is(err, storage.ErrInUse) {
		t.Fatalf("Run on an image being written: %v, want ErrInUse", err)
	}
}
