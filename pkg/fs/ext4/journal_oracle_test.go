package ext4_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/ext4test"
	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/fs/ext4"
	"github.com/imgprep/imgprep/pkg/fs/ext4/jbd2"
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

// journalFixtures are the images e2fsck -fy replays without complaint
// (testdata/images/gen.d/jbd2.sh and ext4.sh).
var journalFixtures = []string{"ext4-needs-recovery.img", "jbd2-csum3.img", "jbd2-csum2-32bit.img",
	"jbd2-csum1.img", "jbd2-ext3.img", "jbd2-wrap.img", "jbd2-async.img"}

// wantAfterReplay is what the jbd2 fixtures' files begin with after a
// replay (see gen.d/jbd2.sh): T2's revoke cancels T1's copy of x but not
// T3's of y, T3's z replaces T1's, T4 restores e's escaped magic, T5 was
// never committed. jbd2-async.img stops before T4.
func wantAfterReplay(name string) map[string]string {
	w := map[string]string{"/data/x": "old-x", "/data/y": "Y3", "/data/z": "Z3",
		"/data/e": "\xc0\x3b\x39\x98", "/data/w": "W4", "/data/u": "old-u"}
	if name == "jbd2-async.img" {
		w["/data/e"], w["/data/w"] = "old-e", "old-w"
	}
	return w
}

// TestJournalFixturesReplayAsDocumented: independently of e2fsck, the
// replayed files hold what the generator's transactions say, through
// both the read-only overlay and the written replay.
func TestJournalFixturesReplayAsDocumented(t *testing.T) {
	for _, name := range journalFixtures[1:] {
		t.Run(name, func(t *testing.T) {
			img := fixture.Path(t, name)
			sum := fixture.SHA256(t, img)
			f, size := fixture.Open(t, img, os.O_RDONLY)
			ro, err := ext4.Open(f, size)
			if err != nil {
				t.Fatal(err)
			}
			if n := ro.Info().Note; !strings.Contains(n, "replayed in memory") {
				t.Errorf("read-only Info().Note = %q, want it to say the journal was replayed in memory", n)
			}
			check := func(how string, fsys *ext4.FS) {
				for p, want := range wantAfterReplay(name) {
					b, err := fsys.ReadFile(p)
					if err != nil {
						t.Fatalf("%s: %s: %v", how, p, err)
					}
					if !strings.HasPrefix(string(b), want) {
						t.Errorf("%s: %s begins %q, want %q", how, p, b[:min(len(b), 8)], want)
					}
				}
			}
			check("read-only overlay", ro)
			if fixture.SHA256(t, img) != sum {
				t.Fatal("reading through the replay changed the image")
			}
			check("written replay", replayByUs(t, img))
		})
	}
}

// TestJournalRefusals: what imgprep does not replay is refused for
// writing in one line naming the filesystem and the reason, with nothing
// written, and read-only opening still reads the on-disk view.
func TestJournalRefusals(t *testing.T) {
	for _, c := range []struct {
		image, reason string
		want          []error
	}{
		{"jbd2-badcommit.img", "transaction 3 is corrupt", []error{ext4.ErrNeedsRecovery, jbd2.ErrCorrupt}},
		{"jbd2-fastcommit.img", "fast_commit", []error{ext4.ErrNeedsRecovery, jbd2.ErrUnsupported}},
		{"ext4-orphans.img", "has orphan inodes", []error{ext4.ErrOrphansPresent}},
	} {
		t.Run(c.image, func(t *testing.T) {
			img := fixture.Path(t, c.image)
			sum := fixture.SHA256(t, img)
			f, size := fixture.Open(t, img, os.O_RDWR)
			cf := &countingFile{f: f}
			_, err := ext4.OpenWritable(cf, size, ext4.Options{Name: "ext4 on partition 2"})
			if err == nil {
				t.Fatal("OpenWritable succeeded")
			}
			for _, w := range c.want {
				if !errors.Is(err, w) {
					t.Errorf("OpenWritable: %v, want an error wrapping %v", err, w)
				}
			}
			var re *ext4.RefusalError
			msg := err.Error()
			if !errors.As(err, &re) || !strings.HasPrefix(msg, "refusing to write: ext4 on partition 2 ") ||
				!strings.Contains(msg, c.reason) || strings.Contains(msg, "\n") ||
				strings.Count(msg, "refusing") != 1 || strings.Count(msg, "ext4 on partition 2") != 1 {
				t.Errorf("refusal %q: want one *RefusalError line naming the filesystem once and saying %q", msg, c.reason)
			}
			if n := cf.writes.Load(); n != 0 || fixture.SHA256(t, img) != sum {
				t.Fatalf("a refused OpenWritable wrote %d times", n)
			}
			ro, err := ext4.Open(f, size)
			if err != nil {
				t.Fatal(err)
			}
			if inf := ro.Info(); !strings.Contains(inf.WhyReadOnly, c.reason) {
				t.Errorf("Info().WhyReadOnly = %q, want %q", inf.WhyReadOnly, c.reason)
			}
			if _, err := ro.ReadFile("/etc/machine-id"); err != nil {
				t.Errorf("reading the on-disk view: %v", err)
			}
		})
	}
}
