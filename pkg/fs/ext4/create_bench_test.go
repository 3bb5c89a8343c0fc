package ext4

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/pkg/fs"
)

// benchPayload is the 4 KiB written per file by the create benchmarks
// (scripts/bench.d/11-ext4-create.sh writes the same with debugfs).
var benchPayload = pattern(4096, 42)

// createFiles opens img for writing, creates /data/newNNN (n files of
// benchPayload), syncs and closes it.
func createFiles(tb testing.TB, img string, n int) {
	tb.Helper()
	fh, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		tb.Fatal(err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		tb.Fatal(err)
	}
	f, err := OpenWritable(fh, st.Size(), Options{})
	if err != nil {
		tb.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if err := f.WriteFile(fmt.Sprintf("/data/new%03d", i), benchPayload, fs.WriteOptions{Perm: 0o644}); err != nil {
			tb.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		tb.Fatal(err)
	}
}

func copyImage(tb testing.TB, src, dst string) {
	tb.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkCreate100 times opening ext4-bench.img, writing 100 new 4 KiB
// files into /data (next to its 200 files) and Sync. The copy of the
// image is not timed.
func BenchmarkCreate100(b *testing.B) {
	tmpl := fixture.Path(b, "ext4-bench.img")
	img := filepath.Join(b.TempDir(), "copy.img")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		copyImage(b, tmpl, img)
		b.StartTimer()
		createFiles(b, img, 100)
	}
}

// BenchmarkDxHash times the half_md4 hash of a 40-byte name.
func BenchmarkDxHash(b *testing.B) {
	name := []byte("entry-with-a-fairly-long-name-0042-abcde")
	seed := [4]uint32{1, 2, 3, 4}
	for i := 0; i < b.N; i++ {
		dxHash(name, dxHashHalfMD4, seed)
	}
}
