package vfat

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/fs"
)

// TestFreedClustersAreCountedFreeByFsckFat checks, on every FAT type,
// that each change frees or takes exactly the clusters its sizes say,
// counted by fsck.fat (a cluster left allocated at the end of a chain, or
// one freed too many, moves its count).
func TestFreedClustersAreCountedFreeByFsckFat(t *testing.T) {
	clusters := func(f *FS, size int) int { return int((int64(size) + f.clusterSize - 1) / f.clusterSize) }
	tests := []struct {
		name string
		do   func(f *FS) error
		// delta is the change of the used-cluster count.
		delta func(f *FS) int
	}{
		{"Remove frees every cluster of a multi-cluster file",
			func(f *FS) error { return f.Remove("/EFI/BOOT/BOOTX64.EFI") },
			func(f *FS) int { return -clusters(f, len(seq(1000))) }},
		{"Remove frees the fragmented chain to its last cluster",
			func(f *FS) error { return f.Remove("/frag.bin") },
			func(f *FS) int { return -clusters(f, len(seq(700))) }},
		{"Truncate to zero frees the whole chain",
			func(f *FS) error { return f.Truncate("/frag.bin", 0) },
			func(f *FS) int { return -clusters(f, len(seq(700))) }},
		{"Truncate inside the chain keeps the first cluster only",
			func(f *FS) error { return f.Truncate("/frag.bin", 100) },
			func(f *FS) int { return 1 - clusters(f, len(seq(700))) }},
		{"WriteFile replaces the chain by one of the new size",
			func(f *FS) error { return f.WriteFile("/README", []byte(seq(3000)), fs.WriteOptions{}) },
			func(f *FS) int { return clusters(f, len(seq(3000))) - 1 }},
		{"RemoveAll frees a directory's files and its own clusters",
			func(f *FS) error { return f.RemoveAll("/deep") },
			// /deep, a, b and c are one cluster each; d.txt is one.
			func(f *FS) int { return -5 }},
	}
	for _, im := range fatImages {
		for _, tt := range tests {
			t.Run(im.name+"/"+tt.name, func(t *testing.T) {
				f, p, _ := openFileRW(t, im.name)
				before := fsckFatClean(t, p)
				if err := tt.do(f); err != nil {
					t.Fatal(err)
				}
				after := fsckFatClean(t, p)
				if want := tt.delta(f); after-before != want {
					t.Fatalf("fsck.fat counts %d clusters in use, was %d: a change of %d, want %d", after, before, after-before, want)
				}
			})
		}
	}
}

// mdirLine matches one entry of mdir's listing: short name, extension,
// size or <DIR>, date and time (to the minute), then the long name if any.
var mdirLine = regexp.MustCompile(`^(\S+)\s+(?:\S+\s+)?(<DIR>|\d+)\s+(\d{4}-\d{2}-\d{2})\s+(\d+:\d{2})\s*(.*)$`)

// mdirTimes returns, for each entry mdir lists in dir, its date and time
// as "2006-01-02 15:04" keyed by its long name, or its short name when it
// has none.
func mdirTimes(tb testing.TB, img, dir string) map[string]string {
	tb.Helper()
	out, errOut, code := oracle.Run(tb, "mdir", "-i", img, "::"+dir)
	if code != 0 {
		tb.Fatalf("mdir %s: exit %d: %s", dir, code, errOut)
	}
	got := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		m := mdirLine.FindStringSubmatch(strings.TrimRight(l, " "))
		if m == nil {
			continue
		}
		name := m[5]
		if name == "" {
			name = m[1]
		}
		hm := m[4]
		if len(hm) == 4 {
			hm = "0" + hm
		}
		got[strings.ToLower(name)] = m[3] + " " + hm
	}
	return got
}

// TestRemoveStampsTheParentDirectory: removing an entry sets its
// directory's modification time (and access date) to the clock, as
// Linux's fat_remove_entries does; the directory's own entry, in its
// parent, holds those times. The root has no entry and nothing else
// changes. mtools reads the times back.
func TestRemoveStampsTheParentDirectory(t *testing.T) {
	stamp := clock.Format("2006-01-02 15:04")
	tests := []struct {
		name    string
		do      func(f *FS) error
		dir     string // the directory listing the stamped entry
		stamped string // the directory whose times must be the clock's
	}{
		{"Remove of a file", func(f *FS) error { return f.Remove("/loader/random-seed") }, "/", "loader"},
		{"Remove of a file in a nested directory", func(f *FS) error { return f.Remove("/deep/a/b/c/d.txt") }, "/deep/a/b", "c"},
		{"Remove of an empty directory", func(f *FS) error {
			if err := f.Remove("/deep/a/b/c/d.txt"); err != nil {
				return err
			}
			return f.Remove("/deep/a/b/c")
		}, "/deep/a", "b"},
		{"RemoveAll of a tree stamps the directory that held it", func(f *FS) error { return f.RemoveAll("/deep/a") }, "/", "deep"},
		{"RemoveAll of a directory of long names", func(f *FS) error { return f.RemoveAll("/many/file number 7.txt") }, "/", "many"},
		{"Remove at the root changes no other entry", func(f *FS) error { return f.Remove("/README") }, "/", ""},
	}
	for _, im := range fatImages {
		for _, tt := range tests {
			t.Run(im.name+"/"+tt.name, func(t *testing.T) {
				f, p, _ := openFileRW(t, im.name)
				before := mdirTimes(t, p, tt.dir)
				if tt.stamped != "" && before[tt.stamped] == stamp {
					t.Fatalf("%s already has the clock's time %s: the test would prove nothing", tt.stamped, stamp)
				}
				if err := tt.do(f); err != nil {
					t.Fatal(err)
				}
				fsckFatClean(t, p)
				after := mdirTimes(t, p, tt.dir)
				for name, was := range before {
					now, ok := after[name]
					switch {
					case !ok:
						// The removed entry itself.
					case name == tt.stamped && now != stamp:
						t.Errorf("mdir %s: %s at %s, want the clock's %s", tt.dir, name, now, stamp)
					case name != tt.stamped && now != was:
						t.Errorf("mdir %s: %s moved from %s to %s", tt.dir, name, was, now)
					}
				}
				if tt.stamped == "" {
					return
				}
				// Our reader sees the seconds and the access date too.
				dp := strings.TrimSuffix(tt.dir, "/") + "/" + tt.stamped
				a, err := f.Stat(dp)
				if err != nil {
					t.Fatal(err)
				}
				day := time.Date(clock.Year(), clock.Month(), clock.Day(), 0, 0, 0, 0, time.UTC)
				if !a.Mtime.Equal(clock) || !a.Atime.Equal(day) {
					t.Errorf("%s: mtime %v, atime %v; want %v and %v", dp, a.Mtime, a.Atime, clock, day)
				}
			})
		}
	}
}
