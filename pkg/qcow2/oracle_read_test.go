package qcow2_test

import (
	"encoding/json"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/lima-vm/go-qcow2reader"
	limaimage "github.com/lima-vm/go-qcow2reader/image"
	limaqcow2 "github.com/lima-vm/go-qcow2reader/image/qcow2"

	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/qcow2"
)

// limaZstd registers a zstd decompressor with go-qcow2reader, which has
// none by default (its registry is its own package state, not ours).
var limaZstd sync.Once

// limaRaw returns the virtual disk of the image at path as go-qcow2reader
// reads it; it resolves backing files itself, relative to the image.
func limaRaw(tb testing.TB, path string) []byte {
	tb.Helper()
	limaZstd.Do(func() {
		limaqcow2.SetDecompressor(limaqcow2.CompressionTypeZstd, func(r io.Reader) (io.ReadCloser, error) {
			d, err := zstd.NewReader(r)
			if err != nil {
				return nil, err
			}
			return d.IOReadCloser(), nil
		})
	})
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	img, err := qcow2reader.OpenWithType(f, limaimage.Type("qcow2"))
	if err != nil {
		tb.Fatalf("go-qcow2reader open %s: %v", path, err)
	}
	defer img.Close()
	if err := img.Readable(); err != nil {
		tb.Fatalf("go-qcow2reader %s: not readable: %v", path, err)
	}
	return readAll(tb, img, img.Size())
}

// TestReadParity: "each guest cluster reads as the spec's L1/L2 lookup says";
// judged by two readers we did not write, qemu-img convert -O raw and
// go-qcow2reader, over every fixture: whole-disk reads, random unaligned
// reads, and the Extents report (a zero extent reads as zeros).
func TestReadParity(t *testing.T) {
	oracle.Require(t, "qemu-img")
	for _, fx := range readFixtures {
		t.Run(fx.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path, _ := fx.place(t, dir)
			want := qemuRaw(t, path)
			img := openRO(t, path)
			if img.Size() != int64(len(want)) {
				t.Fatalf("Size() = %d, qemu-img's raw is %d bytes", img.Size(), len(want))
			}
			got := readAll(t, img, img.Size())
			sameBytes(t, "whole-disk read vs qemu-img convert", got, want)
			sameBytes(t, "go-qcow2reader vs qemu-img convert", limaRaw(t, path), want)

			// Random unaligned reads crossing cluster boundaries.
			rng := rand.New(rand.NewPCG(uint64(len(fx.name)), 7))
			size := img.Size()
			for range 300 {
				off := rng.Int64N(size)
				n := 1 + rng.Int64N(min(size-off, 300<<10))
				buf := make([]byte, n)
				if k, err := img.ReadAt(buf, off); k != int(n) || (err != nil && err != io.EOF) {
					t.Fatalf("ReadAt(%d at %d) = %d, %v", n, off, k, err)
				}
				sameBytes(t, "ReadAt at "+strconv.FormatInt(off, 10), buf, want[off:off+n])
			}
			// Reading at the end.
			if k, err := img.ReadAt(make([]byte, 10), size); k != 0 || err != io.EOF {
				t.Errorf("ReadAt at the virtual size = %d, %v; want 0, io.EOF", k, err)
			}
			if k, err := img.ReadAt(make([]byte, 10), size-4); k != 4 || err != io.EOF {
				t.Errorf("ReadAt straddling the end = %d, %v; want 4, io.EOF", k, err)
			}

			// Extents: they tile the disk, and zero extents read as zeros.
			ext, err := img.Extents(0, size)
			if err != nil {
				t.Fatalf("Extents: %v", err)
			}
			var next int64
			var zeros int64
			for _, e := range ext {
				if e.Offset != next || e.Length <= 0 {
					t.Fatalf("Extents do not tile the disk: %+v after %d", e, next)
				}
				next = e.Offset + e.Length
				if e.Zero {
					zeros += e.Length
					for i := e.Offset; i < next; i++ {
						if want[i] != 0 {
							t.Fatalf("extent %+v says zero, byte %d is %#x", e, i, want[i])
						}
					}
				}
			}
			if next != size {
				t.Fatalf("Extents end at %d, want %d", next, size)
			}
			if zeros == 0 && !fx.preallocated {
				t.Errorf("no zero extents in a fixture that is mostly unallocated")
			}
		})
	}
}

// TestReadParitySnapshotIsNotActive: an internal snapshot's L1 table is not
// the active one; the active disk reads the writes made after the snapshot.
func TestReadParitySnapshotIsNotActive(t *testing.T) {
	oracle.Require(t, "qemu-img")
	dir := t.TempDir()
	path := chainFixture{name: "qcow2-snapshot.qcow2"}
	p, _ := path.place(t, dir)
	img := openRO(t, p)
	snaps := img.Snapshots()
	if len(snaps) != 1 || snaps[0].Name != "snap1" {
		t.Fatalf("Snapshots() = %+v, want one named snap1", snaps)
	}
	if snaps[0].DateSec != 1700000000 {
		t.Errorf("snapshot date = %d, the fixture fixed it to 1700000000", snaps[0].DateSec)
	}
	// The snapshot as qemu-img sees it differs from the active disk.
	snapRaw := filepath.Join(dir, "snap.raw")
	if _, errOut, code := oracle.Run(t, "qemu-img", "convert", "-U", "-l", "snapshot.name=snap1", "-O", "raw", p, snapRaw); code != 0 {
		t.Fatalf("qemu-img convert -l snap1: %s", errOut)
	}
	snap, err := os.ReadFile(snapRaw)
	if err != nil {
		t.Fatal(err)
	}
	active := readAll(t, img, img.Size())
	if string(snap) == string(active) {
		t.Fatal("the active disk reads like the snapshot: the fixture's later writes are missing")
	}
}

// qemuInfo is the part of qemu-img info --output=json that Info reports.
type qemuInfo struct {
	VirtualSize    int64  `json:"virtual-size"`
	ClusterSize    int    `json:"cluster-size"`
	BackingFile    string `json:"backing-filename"`
	BackingFormat  string `json:"backing-filename-format"`
	Dirty          bool   `json:"dirty-flag"`
	Snapshots      []any  `json:"snapshots"`
	FormatSpecific struct {
		Data struct {
			Compat          string `json:"compat"`
			CompressionType string `json:"compression-type"`
			LazyRefcounts   bool   `json:"lazy-refcounts"`
			RefcountBits    int    `json:"refcount-bits"`
			Corrupt         bool   `json:"corrupt"`
			ExtendedL2      bool   `json:"extended-l2"`
			Bitmaps         []any  `json:"bitmaps"`
		} `json:"data"`
	} `json:"format-specific"`
}

// TestInfoMatchesQemuImgInfo: the header facts (qcow2.rst "Header") as
// qemu-img info --output=json reports them, for every readable fixture and
// the hostile ones that open read-only (dirty, corrupt bit, bitmaps).
func TestInfoMatchesQemuImgInfo(t *testing.T) {
	oracle.Require(t, "qemu-img")
	fixtures := append([]chainFixture(nil), readFixtures...)
	for _, name := range []string{"qcow2-hostile-dirty.qcow2", "qcow2-hostile-corruptbit.qcow2", "qcow2-hostile-bitmaps.qcow2"} {
		fixtures = append(fixtures, chainFixture{name: name})
	}
	for _, fx := range fixtures {
		t.Run(fx.name, func(t *testing.T) {
			dir := t.TempDir()
			path, _ := fx.place(t, dir)
			out, errOut, code := oracle.Run(t, "qemu-img", "info", "-U", "--output=json", path)
			if code != 0 {
				t.Fatalf("qemu-img info: %s", errOut)
			}
			var q qemuInfo
			if err := json.Unmarshal([]byte(out), &q); err != nil {
				t.Fatalf("qemu-img info output: %v", err)
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			st, _ := f.Stat()
			img, err := qcow2.Open(f, st.Size(), qcow2.Options{ReadOnly: true, Name: fx.name,
				Backing: newResolver(t, dir, 16).open})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer img.Close()
			info := img.Info()
			qd := q.FormatSpecific.Data
			version := map[string]int{"0.10": 2, "1.1": 3}[qd.Compat]
			compression := map[string]string{"zlib": "deflate", "zstd": "zstd"}[qd.CompressionType]
			if qd.Compat == "0.10" {
				compression = "deflate"
			}
			for _, c := range []struct {
				field     string
				got, want any
			}{
				{"version", info.Version, version},
				{"cluster size", info.ClusterSize, q.ClusterSize},
				{"virtual size", info.VirtualSize, q.VirtualSize},
				{"Size()", img.Size(), q.VirtualSize},
				{"backing file", info.BackingFile, q.BackingFile},
				{"backing format", info.BackingFormat, q.BackingFormat},
				{"compression type", info.CompressionType, compression},
				{"refcount bits", info.RefcountBits, qd.RefcountBits},
				{"lazy refcounts", info.LazyRefcounts, qd.LazyRefcounts},
				{"extended L2", info.ExtendedL2, qd.ExtendedL2},
				{"corrupt bit", info.Corrupt, qd.Corrupt},
				{"dirty bit", info.Dirty, q.Dirty},
				{"snapshots", info.Snapshots, len(q.Snapshots)},
				{"bitmaps", info.Bitmaps, len(qd.Bitmaps) > 0},
			} {
				if c.got != c.want {
					t.Errorf("%s: Info says %v, qemu-img info %v", c.field, c.got, c.want)
				}
			}
		})
	}
}
