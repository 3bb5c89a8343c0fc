package sysprep_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/ops"
	"github.com/imgprep/imgprep/pkg/sysprep"
	"github.com/imgprep/imgprep/pkg/txn"
)

// The two-disk VM of testdata/images/gen.d/multidisk.sh: partitions start
// at 1 MiB; the second disk's data partition follows its 5 MiB /var.
const (
	vmPart1 = 1 << 20
	vmPart2 = vmPart1 + 5<<20
)

func vmDisks(t *testing.T) (disk1, disk2 string) {
	t.Helper()
	dir := t.TempDir()
	return fixture.PathIn(t, "vm-disk1.raw", dir), fixture.PathIn(t, "vm-disk2.raw", dir)
}

func partition(img string, off int) string { return fmt.Sprintf("%s?offset=%d", img, off) }

// TestRunTwoDisksOneGuest: sysprep of a VM's two disks finds /var on the
// second through the root's fstab and prepares it; e2fsck finds every
// filesystem of both disks clean, and debugfs sees the changes where the
// guest keeps them.
func TestRunTwoDisksOneGuest(t *testing.T) {
	d1, d2 := vmDisks(t)
	rep, err := sysprep.Run(context.Background(), d1, sysprep.Options{Disks: []string{d2}, Operations: defaultOps()})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Guests) != 1 || !rep.Committed || len(rep.Disks) != 1 {
		t.Fatalf("report %+v", rep)
	}
	changed := map[string]string{}
	for _, c := range rep.Changes() {
		changed[c.Path] = c.Filesystem
	}
	for p, fs := range map[string]string{
		"/var/lib/dhcp/dhclient.ens3.leases":                 "ext4 on partition 1 of vm-disk2.raw",
		"/var/lib/netdata/registry/netdata.public.unique.id": "ext4 on partition 1 of vm-disk2.raw",
		"/var/lib/dbus/machine-id":                           "ext4 on partition 1 of vm-disk2.raw",
		"/etc/machine-id":                                    "ext4 on partition 1 of vm-disk1.raw",
	} {
		if got, ok := changed[p]; !ok || !strings.HasPrefix(got, fs) {
			t.Errorf("change of %s on %q, want on %s (changes %v)", p, got, fs, changed)
		}
	}
	for _, dev := range []string{partition(d1, vmPart1), partition(d2, vmPart1), partition(d2, vmPart2)} {
		oracle.E2fsckClean(t, dev)
	}
	if _, ok := oracle.DebugfsCat(t, partition(d2, vmPart1), "/lib/dhcp/dhclient.ens3.leases"); ok {
		t.Error("the DHCP lease is still on the second disk")
	}
	if _, ok := oracle.DebugfsCat(t, partition(d2, vmPart1), "/lib/netdata/registry/netdata.public.unique.id"); ok {
		t.Error("the Netdata GUID is still on the second disk")
	}
	if b, ok := oracle.DebugfsCat(t, partition(d2, vmPart2), "/keep.txt"); !ok || string(b) != "application data, kept\n" {
		t.Errorf("/srv/data/keep.txt = %q, %v", b, ok)
	}
	if b, ok := oracle.DebugfsCat(t, partition(d1, vmPart1), "/etc/machine-id"); !ok || len(b) != 0 {
		t.Errorf("/etc/machine-id on the first disk = %q, %v; want empty", b, ok)
	}
}

// TestInspectTwoDisks: inspect sees the second disk's identity files and
// warns about the fstab entry that is on neither disk; the first disk
// alone warns about /var too.
func TestInspectTwoDisks(t *testing.T) {
	d1, d2 := vmDisks(t)
	in, err := sysprep.Inspect(context.Background(), d1, sysprep.Options{Disks: []string{d2}})
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Guests) != 1 || len(in.Info.Disks) != 1 || in.Info.Disks[0].Chain[0].Path != d2 {
		t.Fatalf("inspection %+v", in)
	}
	g := in.Guests[0]
	if g.Netdata.GUID != "6e4c2d1f-8a3b-11ee-9d5e-0242ac120003" || g.DbusID.State != "set" {
		t.Errorf("the second disk's identity was not read: %+v %+v", g.Netdata, g.DbusID)
	}
	if len(g.Notes) != 1 || !strings.Contains(g.Notes[0], "/backup") || !strings.Contains(g.Notes[0], "no filesystem on these disks matches") {
		t.Errorf("notes %q, want one about /backup", g.Notes)
	}
	alone, err := sysprep.Inspect(context.Background(), d1, sysprep.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var points []string
	notes := alone.Guests[0].Notes
	for _, n := range notes {
		if strings.HasPrefix(n, "fstab mounts ") {
			points = append(points, strings.Fields(n)[2])
		}
	}
	if strings.Join(points, " ") != "/var /srv/data /backup" {
		t.Errorf("the first disk alone: notes %q, want /var, /srv/data and /backup missing", notes)
	}
	if last := notes[len(notes)-1]; !strings.HasPrefix(last, "not read: /var/lib/dbus/machine-id") || !strings.HasSuffix(last, ": the filesystem fstab mounts at /var is missing") {
		t.Errorf("note %q, want the files under the missing /var", last)
	}
}

// spoilCommit is an operation that makes the second disk's commit fail:
// it leaves a journal where that disk's commit must create one.
type spoilCommit struct{ disk string }

func (spoilCommit) Name() string        { return "zz-spoil-commit" }
func (spoilCommit) Description() string { return "test: make the second disk's commit fail" }
func (spoilCommit) Default() bool       { return false }
func (s spoilCommit) Apply(context.Context, ops.Guest) ([]ops.Change, error) {
	return nil, os.WriteFile(txn.JournalPathFor(s.disk), []byte("in the way"), 0o600)
}

// TestRunTwoDisksAllOrNothing: when the second disk cannot be committed,
// the first, already prepared, is rolled back: neither disk changes.
func TestRunTwoDisksAllOrNothing(t *testing.T) {
	d1, d2 := vmDisks(t)
	sum1, sum2 := fixture.SHA256(t, d1), fixture.SHA256(t, d2)
	list := append(defaultOps(), spoilCommit{d2})
	_, err := sysprep.Run(context.Background(), d1, sysprep.Options{Disks: []string{d2}, Operations: list})
	if err == nil || !strings.Contains(err.Error(), "no disk was changed") || !strings.Contains(err.Error(), d2) {
		t.Fatalf("Run: %v, want the second disk's commit failure and no disk changed", err)
	}
	if fixture.SHA256(t, d1) != sum1 || fixture.SHA256(t, d2) != sum2 {
		t.Fatal("a disk changed")
	}
	if _, err := os.Stat(txn.JournalPathFor(d1)); !os.IsNotExist(err) {
		t.Fatalf("the first disk's journal is left: %v", err)
	}
	oracle.E2fsckClean(t, partition(d1, vmPart1))
}

// TestRunTwoDisksDryRun: a dry run of both disks reports the changes on
// each and writes neither.
func TestRunTwoDisksDryRun(t *testing.T) {
	d1, d2 := vmDisks(t)
	sum1, sum2 := fixture.SHA256(t, d1), fixture.SHA256(t, d2)
	rep, err := sysprep.Run(context.Background(), d1, sysprep.Options{Disks: []string{d2}, Operations: defaultOps(), DryRun: true})
	if err != nil || rep.Committed || rep.BytesStaged == 0 {
		t.Fatalf("dry run: %v, %+v", err, rep)
	}
	if fixture.SHA256(t, d1) != sum1 || fixture.SHA256(t, d2) != sum2 {
		t.Fatal("a dry run changed a disk")
	}
}
