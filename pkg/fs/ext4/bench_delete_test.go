package ext4_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/ext4test"
	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
)

// benchVictims are the 100 files BenchmarkDelete100 removes from
// ext4-bench.img (which holds /data/f000 .. /data/f199).
func benchVictims() []string {
	v := make([]string, 100)
	for i := range v {
		v[i] = fmt.Sprintf("/data/f%03d", 2*i) // every other file: spread over the directory
	}
	return v
}

// deleteVictims opens img writable, removes every victim and syncs.
func deleteVictims(tb testing.TB, img string) {
	tb.Helper()
	fsys, done := openWrite(tb, img)
	for _, p := range benchVictims() {
		if err := fsys.Remove(p); err != nil {
			tb.Fatalf("Remove(%s): %v", p, err)
		}
	}
	done()
}

// TestDelete100LeavesCleanFS: after the benchmark's deletions, e2fsck -fn
// is clean and debugfs lists exactly the other 100 files.
func TestDelete100LeavesCleanFS(t *testing.T) {
	img := fixture.Path(t, "ext4-bench.img")
	before := ext4test.Snapshot(t, img)
	deleteVictims(t, img)
	oracle.E2fsckClean(t, img)
	ext4test.DiffTrees(before, ext4test.Snapshot(t, img)).Check(t, expectRemoved(before, benchVictims()...))

	ls := oracle.Debugfs(t, img, "ls -p /data")
	var names []string
	for _, line := range strings.Split(ls, "\n") {
		f := strings.Split(line, "/")
		if len(f) > 5 && f[1] != "0" && f[5] != "." && f[5] != ".." {
			names = append(names, f[5])
		}
	}
	if len(names) != 100 {
		t.Errorf("debugfs lists %d files in /data, want 100", len(names))
	}
	for i, n := range names {
		if want := fmt.Sprintf("f%03d", 2*i+1); i < 100 && n != want {
			t.Errorf("debugfs lists %s at position %d, want %s", n, i, want)
			break
		}
	}
}

// BenchmarkDelete100 opens a fresh copy of ext4-bench.img and removes 100
// files (open, 100 Removes, Sync: what one imgprep run does). The copy is
// not timed. scripts/bench.d/10-ext4-delete.sh compares it with debugfs.
func BenchmarkDelete100(b *testing.B) {
	tmpl := fixture.Path(b, "ext4-bench.img")
	dir := b.TempDir()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		img := filepath.Join(dir, "copy.img")
		copyFile(b, tmpl, img)
		b.StartTimer()
		deleteVictims(b, img)
	}
}

func copyFile(tb testing.TB, src, dst string) {
	tb.Helper()
	in, err := os.Open(src)
	if err != nil {
		tb.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		tb.Fatal(err)
	}
	if err := out.Close(); err != nil {
		tb.Fatal(err)
	}
}
