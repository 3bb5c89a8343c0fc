package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
)

// dirtyGuest is the GPT fixture (ESP, ext4 root, ext4 /var) with a
// committed, unreplayed transaction in the root's journal that rewrites
// /etc/hostname ("template") as "replayed": what a VM killed after a
// synced write leaves. It returns the image and the root's offset.
func dirtyGuest(t *testing.T, dir string) (string, int64) {
	t.Helper()
	img := fixture.PathIn(t, "disk-gpt.raw", dir)
	root := oracle.Partitions(t, img)[2].Start
	oracle.DirtyJournal(t, img, root, "/etc/hostname", []byte("replayed\n"))
	if b, _ := oracle.DebugfsCat(t, oracle.Device(img, root), "/etc/hostname"); string(b) != "template\n" {
		t.Fatalf("the on-disk hostname is %q before any replay", b)
	}
	return img, root
}

// TestAcceptanceReadOnlyCommandsReadTheReplayedJournal: inspect and
// audit read a dirty ext4 through the journal replayed in memory (the
// host name the guest will see after boot, not the stale on-disk one),
// say so, and leave the image byte-identical.
func TestAcceptanceReadOnlyCommandsReadTheReplayedJournal(t *testing.T) {
	dir := t.TempDir()
	img, _ := dirtyGuest(t, dir)
	sum := fixture.SHA256(t, img)
	r := mustRun(t, 0, "inspect", img)
	for _, want := range []string{"hostname: replayed", "ext4 on partition 2: mounted at /", "journal replayed in memory (1 transactions, 1 blocks)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("inspect does not say %q:\n%s", want, r.stdout)
		}
	}
	j := mustRun(t, 0, "inspect", "--json", img)
	if !strings.Contains(j.stdout, `"note":"journal replayed in memory (1 transactions, 1 blocks)"`) {
		t.Errorf("inspect --json has no note of the replay:\n%s", j.stdout)
	}
	other := filepath.Join(dir, "copy.raw")
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(other, b, 0o644); err != nil {
		t.Fatal(err)
	}
	a := runReal(t, "", "audit", img, other)
	for _, want := range []string{"hostname replayed shared by 2 images", "note: " + img + ": ext4 on partition 2: journal replayed in memory (1 transactions, 1 blocks)"} {
		if !strings.Contains(a.stdout, want) {
			t.Errorf("audit does not say %q:\n%s", want, a.stdout)
		}
	}
	if fixture.SHA256(t, img) != sum {
		t.Error("reading through the replay changed the image")
	}
}

// TestAcceptanceSysprepReplaysTheJournal: sysprep writes the replay into
// its transaction with its own changes: afterwards e2fsck -fn is clean,
// needs_recovery is clear, the journal is empty (start 0) with its
// sequence moved on, and the replayed host name is on disk.
func TestAcceptanceSysprepReplaysTheJournal(t *testing.T) {
	img, root := dirtyGuest(t, t.TempDir())
	dev := oracle.Device(img, root)
	seq := dumpe2fsField(t, dev, "Journal sequence:")
	mustRun(t, 0, "sysprep", img)
	oracle.E2fsckClean(t, dev)
	if f := dumpe2fsField(t, dev, "Filesystem features:"); strings.Contains(f, "needs_recovery") {
		t.Errorf("needs_recovery still set: %s", f)
	}
	if s := dumpe2fsField(t, dev, "Journal start:"); s != "0" {
		t.Errorf("journal start %s, want 0", s)
	}
	if s := dumpe2fsField(t, dev, "Journal sequence:"); s == seq {
		t.Errorf("journal sequence still %s", s)
	}
	if b, _ := oracle.DebugfsCat(t, dev, "/etc/hostname"); string(b) != "replayed\n" {
		t.Errorf("hostname on disk %q after sysprep, want the replayed one", b)
	}
}

// dumpe2fsField returns the value of a dumpe2fs -h line.
func dumpe2fsField(t *testing.T, dev, field string) string {
	t.Helper()
	out, errOut, code := oracle.Run(t, "dumpe2fs", "-h", dev)
	if code != 0 {
		t.Fatalf("dumpe2fs -h %s: %s", dev, errOut)
	}
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, field); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("dumpe2fs -h %s: no %q", dev, field)
	return ""
}
