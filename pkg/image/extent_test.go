package image_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/image"
)

// qemuMapEntry is one entry of qemu-img map --output=json.
type qemuMapEntry struct {
	Start  int64 `json:"start"`
	Length int64 `json:"length"`
	Zero   bool  `json:"zero"`
	Data   bool  `json:"data"`
}

// qemuMap returns qemu-img's map of the image at path.
func qemuMap(tb testing.TB, path, format string) []qemuMapEntry {
	tb.Helper()
	out, errOut, code := oracle.Run(tb, "qemu-img", "map", "--output=json", "-f", format, path)
	if code != 0 {
		tb.Fatalf("qemu-img map %s: exit %d: %s", path, code, errOut)
	}
	var m []qemuMapEntry
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		tb.Fatalf("qemu-img map %s: %v\n%s", path, err, out)
	}
	return m
}

// checkAgainstQemuMap fails unless ext covers [off, off+length) exactly,
// in order, never calls zero what qemu-img map calls data, and finds at
// least three quarters of the zeros qemu-img finds there (a filesystem or
// format may be coarser, never finer).
func checkAgainstQemuMap(tb testing.TB, ext []image.Extent, m []qemuMapEntry, off, length int64) {
	tb.Helper()
	pos := off
	var ours, theirs int64
	for _, e := range ext {
		if e.Offset != pos || e.Length <= 0 {
			tb.Fatalf("extent %+v: want one starting at %d (map %+v)", e, pos, ext)
		}
		pos += e.Length
		if !e.Zero {
			continue
		}
		ours += e.Length
		for _, q := range m {
			if !q.Zero && q.Start < e.Offset+e.Length && e.Offset < q.Start+q.Length {
				tb.Errorf("zero extent %d+%d overlaps qemu-img's data %d+%d", e.Offset, e.Length, q.Start, q.Length)
			}
		}
	}
	if pos != off+length {
		tb.Fatalf("extents end at %d, want %d", pos, off+length)
	}
	for _, q := range m {
		if q.Zero {
			lo, hi := max(q.Start, off), min(q.Start+q.Length, off+length)
			theirs += max(0, hi-lo)
		}
	}
	if ours*4 < theirs*3 {
		tb.Errorf("%d bytes reported zero, qemu-img map finds %d", ours, theirs)
	}
}

// sparseRaw writes a raw file of 8 64-KiB blocks with data in blocks 1, 4
// and 5, the rest holes.
func sparseRaw(tb testing.TB, path string) {
	tb.Helper()
	const blk = 64 << 10
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(8 * blk); err != nil {
		tb.Fatal(err)
	}
	full := make([]byte, blk)
	for i := range full {
		full[i] = 0xaa
	}
	for _, b := range []int64{1, 4, 5} {
		if _, err := f.WriteAt(full, b*blk); err != nil {
			tb.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		tb.Fatal(err)
	}
}

func TestExtentsReportDataAndZerosAsQemuImgMapDoes(t *testing.T) {
	oracle.Require(t, "qemu-img")
	const blk = 64 << 10
	tests := []struct {
		name   string
		format string
		make   func(tb testing.TB, dir string) string
	}{
		{"a raw file's holes (SEEK_DATA, SEEK_HOLE)", "raw", func(tb testing.TB, dir string) string {
			p := filepath.Join(dir, "sparse.raw")
			sparseRaw(tb, p)
			return p
		}},
		{"qcow2 unallocated clusters read from a raw backing file's holes", "qcow2", func(tb testing.TB, dir string) string {
			sparseRaw(tb, filepath.Join(dir, "base.raw"))
			p := filepath.Join(dir, "over.qcow2")
			copyQemuImg(tb, "create", "-q", "-f", "qcow2", "-b", "base.raw", "-F", "raw", p)
			out, errOut, code := oracle.Run(tb, "qemu-io", "-f", "qcow2", "-c", "write -P 1 384k 64k", "-c", "write -z 64k 64k", p)
			if code != 0 {
				tb.Fatalf("qemu-io: %s%s", out, errOut)
			}
			return p
		}},
		{"qcow2 data, zero-flag and unallocated clusters", "qcow2", func(tb testing.TB, dir string) string {
			return fixture.Path(tb, "disk-gpt.qcow2")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.make(t, t.TempDir())
			h, err := image.Open(p, image.OpenOptions{Format: tc.format})
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			m := qemuMap(t, p, tc.format)
			for _, r := range []struct{ off, length int64 }{
				{0, h.Size()},
				{blk, 2 * blk},
				{3*blk + 512, 2*blk + 4096},
				{h.Size() - blk, blk},
				{h.Size(), 0},
			} {
				t.Run(fmt.Sprintf("%d+%d", r.off, r.length), func(t *testing.T) {
					ext, err := h.Extents(r.off, r.length)
					if err != nil {
						t.Fatal(err)
					}
					checkAgainstQemuMap(t, ext, m, r.off, r.length)
				})
			}
		})
	}
}

func TestExtentsOfARawDryRunCountStagedWritesAsData(t *testing.T) {
	const blk = 64 << 10
	p := filepath.Join(t.TempDir(), "sparse.raw")
	sparseRaw(t, p)
	h, err := image.Open(p, image.OpenOptions{Format: "raw", DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	// Block 2 and the start of block 7 are holes in the file.
	if _, err := h.WriteAt([]byte("staged"), 2*blk+100); err != nil {
		t.Fatal(err)
	}
	if _, err := h.WriteAt([]byte("end"), 7*blk); err != nil {
		t.Fatal(err)
	}
	ext, err := h.Extents(0, h.Size())
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range []int64{2*blk + 100, 2*blk + 105, 7 * blk, 7*blk + 2} {
		for _, e := range ext {
			if e.Zero && e.Offset <= at && at < e.Offset+e.Length {
				t.Errorf("staged byte %d lies in zero extent %+v", at, e)
			}
		}
	}
	var zero int64
	for _, e := range ext {
		if e.Zero {
			zero += e.Length
		}
	}
	if zero == 0 {
		t.Errorf("no zero extent left: %+v", ext)
	}
}

func TestExtentsRefuseRangesOutsideTheDiskAndClosedHandles(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sparse.raw")
	sparseRaw(t, p)
	h, err := image.Open(p, image.OpenOptions{Format: "raw"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct{ off, length int64 }{{-1, 10}, {0, h.Size() + 1}, {h.Size() + 1, 0}, {10, -1}} {
		if _, err := h.Extents(r.off, r.length); !errors.Is(err, image.ErrOutOfRange) {
			t.Errorf("Extents(%d, %d) = %v, want ErrOutOfRange", r.off, r.length, err)
		}
	}
	h.Close()
	if _, err := h.Extents(0, 1); !errors.Is(err, image.ErrFinished) {
		t.Errorf("Extents after Close = %v, want ErrFinished", err)
	}
}

// BenchmarkExtents maps the whole virtual disk of a qcow2 overlay over a
// sparse raw backing file (the table walk and the backing file's
// SEEK_DATA/SEEK_HOLE), as a full clone does before copying.
func BenchmarkExtents(b *testing.B) {
	dir := b.TempDir()
	sparseRaw(b, filepath.Join(dir, "base.raw"))
	top := filepath.Join(dir, "top.qcow2")
	copyQemuImg(b, "create", "-q", "-f", "qcow2", "-b", "base.raw", "-F", "raw", top)
	h, err := image.Open(top, image.OpenOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Extents(0, h.Size()); err != nil {
			b.Fatal(err)
		}
	}
}
