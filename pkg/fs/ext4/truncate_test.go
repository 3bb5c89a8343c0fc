package ext4

import (
	"bytes"
	"os"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
)

// TestTruncateLeavesE2fsckClean: shrinking files (cutting inside an
// extent, at block boundaries, through indirect levels, through a hole,
// inline data) and growing one leaves e2fsck clean, and debugfs reads the
// kept prefix followed by zeros.
func TestTruncateLeavesE2fsckClean(t *testing.T) {
	oracle.Require(t, "e2fsck")
	src := sourceTree(t, 0)
	cuts := []struct {
		path string
		size int64
	}{
		{"/etc/ssh/f300000", 123457},
		{"/deep/a/big", 5000},
		{"/deep/a/b/sparse", 3<<20 + 3},
		{"/etc/ssh/f70000", 0},
		{"/etc/ssh/f4097", 4096},
		{"/etc/ssh/f4096", 4095},
		{"/etc/ssh/f61", 10},
		{"/etc/ssh/f60", 0},
		{"/etc/ssh/f1025", 2000},
		{"/etc/ssh/f1024", 1 << 20},
		{"/etc/ssh/f59", 10000}, // inline data moves to a block
	}
	for _, cfg := range testConfigs() {
		t.Run(cfg.name, func(t *testing.T) {
			img := mkfs(t, cfg, src)
			f, _ := openRW(t, img)
			for _, c := range cuts {
				if err := f.Truncate(c.path, c.size); err != nil {
					t.Fatalf("Truncate(%s, %d): %v", c.path, c.size, err)
				}
			}
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			oracle.E2fsckClean(t, img)
			for _, c := range cuts {
				orig, _ := os.ReadFile(src + c.path)
				want := make([]byte, c.size)
				copy(want, orig)
				got, ok := debugfsCatSized(t, img, c.path)
				if !ok || !bytes.Equal(got, want) {
					t.Errorf("debugfs cat %s after Truncate(%d): %d bytes, want %d", c.path, c.size, len(got), len(want))
				}
				if r, err := f.ReadFile(c.path); err != nil || !bytes.Equal(r, want) {
					t.Errorf("ReadFile %s after Truncate(%d): %d bytes, %v", c.path, c.size, len(r), err)
				}
			}
		})
	}
}

// TestTruncateDeepTrees: the committed fixtures with an extent tree of
// depth 1 (ext4-fragmented) and a triple-indirect map (ext3-1k) are cut
// at several points and then emptied, e2fsck clean after each step.
func TestTruncateDeepTrees(t *testing.T) {
	oracle.Require(t, "e2fsck")
	for _, tc := range []struct {
		fixture string
		path    string
		sizes   []int64
	}{
		{"ext4-fragmented.img", "/frag", []int64{200000, 150001, 1025, 0}},
		{"ext4-fragmented.img", "/striped", []int64{40000, 1, 0}},
		{"ext3-1k.img", "/data/triple", []int64{70 << 20, 64 << 20, 300 << 10, 13 << 10, 12 << 10, 0}},
		{"ext3-1k.img", "/data/mib", []int64{300 << 10, 12<<10 + 1, 0}},
		{"ext2.img", "/data/mib", []int64{600 << 10, 200 << 10, 0}},
	} {
		t.Run(tc.fixture+tc.path, func(t *testing.T) {
			img := fixture.Path(t, tc.fixture)
			ro := openRO(t, img)
			fl, err := ro.Open(tc.path) // ReadFile refuses a file larger than the filesystem
			if err != nil {
				t.Fatal(err)
			}
			orig := make([]byte, fl.Size())
			if _, err := fl.ReadAt(orig, 0); err != nil {
				t.Fatal(err)
			}
			if want, ok := debugfsCatSized(t, img, tc.path); !ok || !bytes.Equal(want, orig) {
				t.Fatalf("ReadFile %s disagrees with debugfs cat before any change", tc.path)
			}
			for _, size := range tc.sizes {
				f, _ := openRW(t, img)
				if err := f.Truncate(tc.path, size); err != nil {
					t.Fatalf("Truncate(%d): %v", size, err)
				}
				if err := f.Sync(); err != nil {
					t.Fatal(err)
				}
				oracle.E2fsckClean(t, img)
				want := make([]byte, size)
				copy(want, orig)
				if got, ok := debugfsCatSized(t, img, tc.path); !ok || !bytes.Equal(got, want) {
					t.Fatalf("debugfs cat after Truncate(%d): %d bytes, want %d", size, len(got), len(want))
				}
			}
			f, _ := openRW(t, img)
			if err := f.Remove(tc.path); err != nil {
				t.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			oracle.E2fsckClean(t, img)
		})
	}
}
