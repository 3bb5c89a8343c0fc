package qcow2

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/oracle"
)

// createHost creates an image file at path with Create.
func createHost(tb testing.TB, path string, opts CreateOptions) *Image {
	tb.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Close() })
	img, err := Create(hostFile{f}, opts)
	if err != nil {
		tb.Fatalf("Create(%+v): %v", opts, err)
	}
	return img
}

// TestCreatePassesQemuImgCheck: images made by Create are clean for
// qemu-img check, and qemu-img info reports size, cluster size, version
// and backing file.
func TestCreatePassesQemuImgCheck(t *testing.T) {
	oracle.Require(t, "qemu-img")
	tests := []struct {
		name string
		opts CreateOptions
		info []string
	}{
		{"version 3 header with compression_type, 1 GiB", CreateOptions{Size: 1 << 30}, []string{"virtual size: 1 GiB", "cluster_size: 65536", "compat: 1.1", "compression type: zlib"}},
		{"version 2 (compat=0.10)", CreateOptions{Size: 100 << 20, Version: 2}, []string{"compat: 0.10"}},
		{"cluster_bits 9 with a 2 GiB disk (L1 spans clusters)", CreateOptions{Size: 2 << 30, ClusterSize: 512}, []string{"cluster_size: 512"}},
		{"cluster_bits 21", CreateOptions{Size: 10 << 30, ClusterSize: 2 << 20}, []string{"cluster_size: 2097152"}},
		{"lazy refcounts (compatible bit 0)", CreateOptions{Size: 1 << 20, LazyRefcounts: true}, []string{"lazy refcounts: true"}},
		{"zero virtual size", CreateOptions{Size: 0}, []string{"virtual size: 0 B"}},
		{"2 TiB", CreateOptions{Size: 2 << 40}, []string{"virtual size: 2 TiB"}},
		{"backing file and backing format extension", CreateOptions{Size: 4 << 20, BackingFile: "base.raw", BackingFormat: "raw"}, []string{"backing file: base.raw", "backing file format: raw"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.opts.BackingFile != "" {
				os.WriteFile(filepath.Join(dir, tc.opts.BackingFile), make([]byte, 4<<20), 0o644)
				tc.opts.Backing = dirBacking(t, dir, 0)
			}
			p := filepath.Join(dir, "new.qcow2")
			img := createHost(t, p, tc.opts)
			if err := img.Close(); err != nil {
				t.Fatal(err)
			}
			oracle.QemuImgCheck(t, p, false)
			info := qemuImg(t, "info", "-U", p)
			for _, want := range tc.info {
				if !strings.Contains(info, want) {
					t.Errorf("qemu-img info lacks %q:\n%s", want, info)
				}
			}
			img = openImage(t, p)
			if img.Size() != tc.opts.Size {
				t.Fatalf("Size = %d, want %d", img.Size(), tc.opts.Size)
			}
		})
	}
}

// TestCreateRefusesBadOptions: bad options are refused before anything is
// written.
func TestCreateRefusesBadOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts CreateOptions
		want error
	}{
		{"size not a multiple of 512", CreateOptions{Size: 1000}, ErrInvalidOptions},
		{"cluster size not a power of two", CreateOptions{Size: 1 << 20, ClusterSize: 3000}, ErrInvalidOptions},
		{"cluster size above 2 MiB", CreateOptions{Size: 1 << 20, ClusterSize: 4 << 20}, ErrInvalidOptions},
		{"version 4", CreateOptions{Size: 1 << 20, Version: 4}, ErrInvalidOptions},
		{"lazy refcounts on version 2", CreateOptions{Size: 1 << 20, Version: 2, LazyRefcounts: true}, ErrInvalidOptions},
		{"size beyond 2^56", CreateOptions{Size: 1 << 57}, ErrTooLarge},
		{"L1 table beyond 32 MiB", CreateOptions{Size: 1 << 50, ClusterSize: 512}, ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newMem(nil)
			_, err := Create(f, tc.opts)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Create: %v, want %v", err, tc.want)
			}
			if n, _ := f.Size(); n != 0 {
				t.Fatalf("Create wrote %d bytes", n)
			}
		})
	}
}

// writeCase is one write workload on an image qemu-img made.
type writeCase struct {
	name     string
	create   []string // qemu-img create/convert options
	compress bool
	backing  string // "", "raw" or "qcow2"
	snapshot bool   // take an internal snapshot before writing
	size     int64
}

// TestWritesPassQemuImgCheck: writes through WriteAt+Flush to images of
// every shape leave qemu-img check clean (no leaks, no corruption) and the
// disk reading, for qemu-img too, as a raw mirror of the same writes.
func TestWritesPassQemuImgCheck(t *testing.T) {
	oracle.Require(t, "qemu-img")
	cases := []writeCase{
		{name: "version 3 standard clusters", create: []string{"cluster_size=65536"}, size: 4 << 20},
		{name: "version 2", create: []string{"compat=0.10"}, size: 4 << 20},
		{name: "512-byte clusters: new refcount blocks and a bigger refcount table", create: []string{"cluster_size=512"}, size: 4 << 20},
		{name: "2 MiB clusters", create: []string{"cluster_size=2M"}, size: 8 << 20},
		{name: "compressed clusters (deflate) are copied on write", create: []string{"cluster_size=4096"}, compress: true, size: 2 << 20},
		{name: "compressed clusters (zstd)", create: []string{"compression_type=zstd"}, compress: true, size: 4 << 20},
		{name: "extended L2 entries", create: []string{"extended_l2=on"}, size: 4 << 20},
		{name: "extended L2 over a qcow2 backing file", create: []string{"extended_l2=on"}, backing: "qcow2", size: 4 << 20},
		{name: "backing file raw: backed clusters are copied from it", create: []string{"cluster_size=65536"}, backing: "raw", size: 4 << 20},
		{name: "internal snapshot: shared clusters keep their refcounts", create: []string{"cluster_size=65536"}, snapshot: true, size: 4 << 20},
		{name: "internal snapshot with 4 KiB clusters", create: []string{"cluster_size=4096"}, snapshot: true, size: 2 << 20},
	}
	for order := 0; order <= 6; order++ {
		cases = append(cases, writeCase{name: fmt.Sprintf("refcount_order %d", order), create: []string{fmt.Sprintf("refcount_bits=%d,cluster_size=1024", 1<<order)}, size: 2 << 20})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			runWriteCase(t, tc)
		})
	}
}

func runWriteCase(t *testing.T, tc writeCase) {
	dir := t.TempDir()
	raw, mirror := patternRaw(t, dir, tc.size, 11)
	p := filepath.Join(dir, "img.qcow2")
	opts := strings.Join(tc.create, ",")
	if tc.backing != "" {
		base := raw
		if tc.backing == "qcow2" {
			base = filepath.Join(dir, "base.qcow2")
			qemuImg(t, "convert", "-f", "raw", "-O", "qcow2", raw, base)
		}
		qemuImg(t, "create", "-f", "qcow2", "-o", opts, "-b", filepath.Base(base), "-F", tc.backing, p)
		qemuIO(t, p, "write -P 0x33 64k 64k", "write -z 1M 64k")
		copy(mirror[64<<10:128<<10], bytes.Repeat([]byte{0x33}, 64<<10))
		clear(mirror[1<<20 : 1<<20+64<<10])
	} else {
		args := []string{"convert", "-f", "raw", "-O", "qcow2", "-o", opts}
		if tc.compress {
			args = append(args, "-c")
		}
		qemuImg(t, append(args, raw, p)...)
	}
	if tc.snapshot {
		qemuImg(t, "snapshot", "-c", "before", p)
	}
	snapRef := filepath.Join(dir, "snap.raw")
	if tc.snapshot {
		qemuImg(t, "convert", "-U", "-O", "raw", "-l", "snapshot.name=before", p, snapRef)
	}
	f := openHost(t, p)
	img, err := OpenFile(f, Options{Name: "img.qcow2", Backing: dirBacking(t, dir, 0)})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(uint64(len(tc.name)), 3))
	for round := 0; round < 3; round++ {
		for i := 0; i < 12; i++ {
			n := 1 + rng.Int64N(200<<10)
			if i%4 == 0 {
				n = 512 * (1 + rng.Int64N(8))
			}
			n = min(n, tc.size)
			off := rng.Int64N(tc.size - n + 1)
			buf := make([]byte, n)
			for k := range buf {
				buf[k] = byte(round*16 + i + 1)
			}
			if _, err := img.WriteAt(buf, off); err != nil {
				t.Fatalf("WriteAt(%d, %d): %v", n, off, err)
			}
			copy(mirror[off:], buf)
		}
		if round == 1 {
			// A read before the commit sees the pending writes.
			if got := readAll(t, img); !bytes.Equal(got, mirror) {
				t.Fatalf("read before Flush differs at %d", firstDiff(got, mirror))
			}
		}
		if err := img.Flush(); err != nil {
			t.Fatal(err)
		}
		oracle.QemuImgCheck(t, p, false)
	}
	if err := img.Close(); err != nil {
		t.Fatal(err)
	}
	oracle.QemuImgCheck(t, p, false)
	ref := filepath.Join(dir, "ref.raw")
	oracle.QemuImgConvertRaw(t, p, ref)
	refData, _ := os.ReadFile(ref)
	if !bytes.Equal(refData, mirror) {
		t.Fatalf("qemu-img reads the written image differently from the mirror (first difference at %d)", firstDiff(refData, mirror))
	}
	if got := readAll(t, openImage(t, p)); !bytes.Equal(got, mirror) {
		t.Fatalf("reopened image differs from the mirror at %d", firstDiff(got, mirror))
	}
	if tc.snapshot {
		after := filepath.Join(dir, "snap-after.raw")
		qemuImg(t, "convert", "-U", "-O", "raw", "-l", "snapshot.name=before", p, after)
		a, _ := os.ReadFile(snapRef)
		b, _ := os.ReadFile(after)
		if !bytes.Equal(a, b) {
			t.Fatalf("the internal snapshot changed (first difference at %d)", firstDiff(a, b))
		}
	}
}
