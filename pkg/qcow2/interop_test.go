package qcow2

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/oracle"
)

// TestReadParityWithQemuImgConvert: images qemu-img makes in every
// supported shape read exactly as `qemu-img convert -O raw` reads them.
func TestReadParityWithQemuImgConvert(t *testing.T) {
	oracle.Require(t, "qemu-img")
	tests := []struct {
		name string
		opts string
		size int64
		cmp  bool // convert with -c (compressed clusters)
	}{
		{"version 2 (compat=0.10), 64 KiB clusters", "compat=0.10", 3 << 20, false},
		{"version 3, cluster_bits 9 (512-byte clusters)", "cluster_size=512", 1 << 20, false},
		{"version 3, cluster_bits 12", "cluster_size=4096", 2 << 20, false},
		{"version 3, cluster_bits 21 (2 MiB clusters)", "cluster_size=2M", 5 << 20, false},
		{"compressed clusters, deflate", "cluster_size=65536", 3 << 20, true},
		{"compressed clusters, zstd (compression_type 1)", "compression_type=zstd", 3 << 20, true},
		{"compressed clusters, 4 KiB, zstd", "cluster_size=4096,compression_type=zstd", 1 << 20, true},
		{"extended L2 entries (incompatible bit 4)", "extended_l2=on,cluster_size=65536", 3 << 20, false},
		{"refcount_order 0 (1-bit refcounts)", "refcount_bits=1", 2 << 20, false},
		{"refcount_order 6 (64-bit refcounts)", "refcount_bits=64", 2 << 20, false},
		{"virtual size not a multiple of the cluster size", "cluster_size=65536", 3<<20 + 4096, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			raw, want := patternRaw(t, dir, tc.size, uint64(len(tc.name)))
			q := filepath.Join(dir, "img.qcow2")
			args := []string{"convert", "-f", "raw", "-O", "qcow2", "-o", tc.opts}
			if tc.cmp {
				args = append(args, "-c")
			}
			qemuImg(t, append(args, raw, q)...)
			img := openImage(t, q)
			got := readAll(t, img)
			ref := filepath.Join(dir, "ref.raw")
			oracle.QemuImgConvertRaw(t, q, ref)
			refData, err := os.ReadFile(ref)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, refData) || !bytes.Equal(got, want) {
				t.Fatalf("read differs from qemu-img convert -O raw (first difference at %d)", firstDiff(got, refData))
			}
			checkExtents(t, img, got)
			kinds := countKinds(t, img)
			if tc.cmp && kinds[kindCompressed] == 0 {
				t.Fatalf("no compressed clusters in the image: %v", kinds)
			}
			if strings.Contains(tc.opts, "extended_l2") && kinds[kindSubclusters] == 0 {
				t.Fatalf("no extended L2 entries in the image: %v", kinds)
			}
		})
	}
}

// TestZeroAndBackingClusters: zero clusters (v3 bit 0), zero subclusters,
// and unallocated clusters reading through a raw or qcow2 backing file.
func TestZeroAndBackingClusters(t *testing.T) {
	oracle.Require(t, "qemu-io")
	for _, tc := range []struct{ name, opts, backFmt string }{
		{"raw backing file, zero clusters", "cluster_size=65536", "raw"},
		{"qcow2 backing file, zero clusters", "cluster_size=65536", "qcow2"},
		{"extended L2, zero and unallocated subclusters over a backing file", "extended_l2=on,cluster_size=65536", "qcow2"},
		{"version 2 over a qcow2 backing file", "compat=0.10", "qcow2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			raw, _ := patternRaw(t, dir, 4<<20, 7)
			base := raw
			if tc.backFmt == "qcow2" {
				base = filepath.Join(dir, "base.qcow2")
				qemuImg(t, "convert", "-f", "raw", "-O", "qcow2", raw, base)
			}
			top := filepath.Join(dir, "top.qcow2")
			qemuImg(t, "create", "-f", "qcow2", "-o", tc.opts, "-b", filepath.Base(base), "-F", tc.backFmt, top)
			qemuIO(t, top, "write -P 0x5a 8k 12k", "write -z 64k 128k", "write -P 0x11 1M 64k", "write -z 2M 4k", "write -P 0x22 3M 100k")
			img := openImage(t, top)
			if got := img.Info(); got.BackingFile != filepath.Base(base) || got.BackingFormat != tc.backFmt {
				t.Fatalf("Info backing = %q/%q", got.BackingFile, got.BackingFormat)
			}
			got := readAll(t, img)
			ref := filepath.Join(dir, "ref.raw")
			oracle.QemuImgConvertRaw(t, top, ref)
			refData, _ := os.ReadFile(ref)
			if !bytes.Equal(got, refData) {
				t.Fatalf("read differs from qemu-img convert (first difference at %d)", firstDiff(got, refData))
			}
			checkExtents(t, img, got)
			kinds := countKinds(t, img)
			v2 := strings.Contains(tc.opts, "compat=0.10")
			if kinds[kindUnallocated]+kinds[kindSubclusters] == 0 || !v2 && kinds[kindZero]+kinds[kindSubclusters] == 0 {
				t.Fatalf("expected unallocated and zero clusters: %v", kinds)
			}
		})
	}
}

// checkExtents verifies Extents covers the disk exactly, in order, and
// that zero extents read as zeros.
func checkExtents(t *testing.T, img *Image, data []byte) {
	t.Helper()
	ext, err := img.Extents(0, img.Size())
	if err != nil {
		t.Fatal(err)
	}
	var off int64
	for i, e := range ext {
		if e.Offset != off || e.Length <= 0 {
			t.Fatalf("extent %d = %+v, want offset %d", i, e, off)
		}
		if i > 0 && ext[i-1].Zero == e.Zero {
			t.Fatalf("extents %d and %d are not merged", i-1, i)
		}
		if e.Zero && !allZero(data[e.Offset:e.Offset+e.Length]) {
			t.Fatalf("zero extent %+v holds data", e)
		}
		off += e.Length
	}
	if off != img.Size() {
		t.Fatalf("extents cover %d bytes of %d", off, img.Size())
	}
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}
