package ext4_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/imgprep/imgprep/internal/ext4test"
	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/fs/ext4"
)

// superblockVolatile are the superblock fields (offset, length) e2fsck
// -fy sets for its own run, not as part of the replay: the write time,
// the mount count, the last check time, the lifetime writes, and the
// checksum covering them.
var superblockVolatile = [][2]int{{0x30, 4}, {0x34, 2}, {0x40, 4}, {0x178, 8}, {0x3FC, 4}}

// replayByE2fsck replays the journal of a copy of img with e2fsck -fy and
// returns the copy.
func replayByE2fsck(t *testing.T, img string) string {
	t.Helper()
	ref := filepath.Join(t.TempDir(), "e2fsck.img")
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ref, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := oracle.Run(t, "e2fsck", "-fy", ref)
	if code > 1 {
		t.Fatalf("e2fsck -fy on the reference copy: exit %d\n%s%s", code, out, errOut)
	}
	return ref
}

// replayByUs opens img for writing, which replays its journal.
func replayByUs(t *testing.T, img string) *ext4.FS {
	t.Helper()
	f, size := fixture.Open(t, img, os.O_RDWR)
	fsys, err := ext4.OpenWritable(f, size, ext4.Options{Name: filepath.Base(img)})
	if err != nil {
		t.Fatalf("OpenWritable: %v", err)
	}
	return fsys
}

// sameImages compares two images byte for byte, the superblock's
// volatile fields aside, and describes the first differences.
func sameImages(t *testing.T, ours, theirs string) {
	t.Helper()
	a, err := os.ReadFile(ours)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(theirs)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != len(b) {
		t.Fatalf("sizes differ: %d, %d", len(a), len(b))
	}
	for _, v := range superblockVolatile {
		off := 1024 + v[0]
		copy(a[off:off+v[1]], b[off:off+v[1]])
	}
	if bytes.Equal(a, b) {
		return
	}
	var diffs []string
	for off := 0; off < len(a) && len(diffs) < 20; off++ {
		if a[off] != b[off] {
			diffs = append(diffs, fmt.Sprintf("byte %d (block %d of 4K, sb field 0x%x): ours 0x%02x, e2fsck 0x%02x", off, off/4096, off-1024, a[off], b[off]))
		}
	}
	t.Errorf("our replay differs from e2fsck -fy's:\n%s", bytes.Join(func() [][]byte {
		var o [][]byte
		for _, d := range diffs {
			o = append(o, []byte(d))
		}
		return o
	}(), []byte("\n")))
}

// TestJournalReplayMatchesE2fsck: for every journal fixture, our replay
// (OpenWritable) leaves the image e2fsck -fy leaves, byte for byte but
// for the fields e2fsck sets for its own run; debugfs reads the same
// tree from both; and e2fsck -fn finds nothing to fix after ours.
func TestJournalReplayMatchesE2fsck(t *testing.T) {
	oracle.Require(t, "e2fsck")
	for _, name := range journalFixtures {
		t.Run(name, func(t *testing.T) {
			img := fixture.Path(t, name)
			ref := replayByE2fsck(t, img)
			fsys := replayByUs(t, img)
			if note := fsys.Info().Note; note == "" {
				t.Errorf("Info().Note is empty after a replay")
			}
			sameImages(t, img, ref)
			ext4test.Parity(t, ext4test.Snapshot(t, img), ext4test.Snapshot(t, ref))
			oracle.E2fsckClean(t, img)
		})
	}
}

var journalFixtures = []string{"ext4-needs-recovery.img"}
