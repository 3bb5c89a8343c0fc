package qcow2

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/qcow2/internal/memfile"
)

// FuzzHeader opens arbitrary bytes as an image, reads and maps its start,
// and writes to it: errors, never panics, hangs or unbounded allocation.
func FuzzHeader(f *testing.F) {
	f.Add([]byte("QFI\xfb"))
	f.Fuzz(fuzzHeaderBody)
}

func fuzzHeaderBody(t *testing.T, data []byte) {
	{
		img, err := Open(bytes.NewReader(data), int64(len(data)), Options{Backing: func(string, string) (Backing, error) {
			return zeroBacking{1 << 20}, nil
		}})
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrNotQcow2) && !errors.Is(err, ErrTooLarge) &&
				!errors.Is(err, ErrUnknownFeature) && !errors.Is(err, ErrEncrypted) && !errors.Is(err, ErrExternalData) {
				t.Fatalf("Open error wraps no sentinel: %v", err)
			}
			return
		}
		n := min(img.Size(), 256<<10)
		buf := make([]byte, n)
		img.ReadAt(buf, 0)
		img.Extents(0, min(img.Size(), 64<<20))
		img.Info()
		// The write path on the same bytes.
		mf := memfile.New(data)
		w, err := OpenFile(mf, Options{Backing: func(string, string) (Backing, error) { return zeroBacking{1 << 20}, nil }})
		if err != nil {
			return
		}
		var werr error = ErrOutOfRange
		if w.Size() >= 8192 {
			_, werr = w.WriteAt(bytes.Repeat([]byte{0x5a}, 4096), 1024)
			w.WriteAt([]byte{1, 2, 3}, w.Size()-3)
		}
		if err := w.Flush(); err == nil && werr == nil {
			got := make([]byte, 4096)
			if _, err := w.ReadAt(got, 1024); err == nil && !bytes.Equal(got, bytes.Repeat([]byte{0x5a}, 4096)) {
				t.Fatal("a committed write does not read back")
			}
		}
		w.Close()
	}
}

// FuzzHeaderExtensions parses arbitrary header extension areas after a
// valid version 3 header.
func FuzzHeaderExtensions(f *testing.F) {
	f.Add([]byte{0xe2, 0x79, 0x2a, 0xca, 0, 0, 0, 3, 'r', 'a', 'w', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0x23, 0x85, 0x28, 0x75, 0, 0, 0, 24})
	f.Fuzz(func(t *testing.T, ext []byte) {
		cs := 4096
		buf := make([]byte, cs)
		hdr, _, err := buildImage(CreateOptions{Size: 1 << 20, ClusterSize: cs})
		if err != nil {
			t.Fatal(err)
		}
		copy(buf, hdr[:headerV3Size])
		copy(buf[headerV3Size:], ext)
		h := &header{}
		decodeV2(buf, &h.diskHeader)
		h.HeaderLength = headerV3Size
		h.Version = 3
		h.fileSize = 1 << 30
		if err := h.parseExtensions(buf); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("parseExtensions error wraps no sentinel: %v", err)
		}
		if len(h.backingFormat) > cs {
			t.Fatal("backing format longer than the cluster")
		}
	})
}

// FuzzL1L2Entries decodes arbitrary table entries under every cluster
// size and entry width: a valid mapping always lies past the header
// cluster and inside the file.
func FuzzL1L2Entries(f *testing.F) {
	f.Add(uint8(16), false, uint64(0x8000000000050000), uint64(0x8000000000060000), uint64(0))
	f.Add(uint8(16), true, uint64(0x80000000000a0000), uint64(0x0000000000070000), uint64(0x0000ffff0000ffff))
	f.Add(uint8(12), false, uint64(0), uint64(0x4000000000003a00)|uint64(3)<<58, uint64(0))
	f.Add(uint8(9), false, uint64(0), uint64(1), uint64(0))
	f.Fuzz(func(t *testing.T, bits uint8, ext bool, l1, word, bitmap uint64) {
		cb := uint32(minClusterBits + bits%(maxClusterBits-minClusterBits+1))
		if ext && cb < 14 {
			cb = 14
		}
		const fileSize = 1 << 30
		h := &header{clusterBits: cb, clusterSize: 1 << cb, extendedL2: ext, l2EntryBytes: 8, fileSize: fileSize}
		if ext {
			h.l2EntryBytes = 16
		}
		if off, err := h.decodeL1(l1, 0); err == nil && off != 0 {
			if off%h.clusterSize != 0 || off < h.clusterSize || off+h.clusterSize > fileSize {
				t.Fatalf("L1 entry %#x decoded to bad offset %#x", l1, off)
			}
		}
		m, err := h.decodeL2(l2Entry{word, bitmap}, 0)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decodeL2 error wraps no sentinel: %v", err)
			}
			return
		}
		switch m.kind {
		case kindNormal:
			if m.host%h.clusterSize != 0 || m.host < h.clusterSize || m.host >= fileSize {
				t.Fatalf("entry %#x: bad host %#x", word, m.host)
			}
		case kindCompressed:
			if m.host < h.clusterSize || m.host >= fileSize || m.csize <= 0 || m.csize > 2*h.clusterSize {
				t.Fatalf("entry %#x: bad compressed %#x+%d", word, m.host, m.csize)
			}
			first, n := h.hostClustersOf(m)
			if n < 1 || n > 3 || first != m.host>>cb {
				t.Fatalf("compressed entry %#x spans %d clusters from %d", word, n, first)
			}
		case kindSubclusters:
			if m.alloc&m.zero != 0 || m.alloc != 0 && m.host == 0 {
				t.Fatalf("entry %#x/%#x: bad subclusters", word, bitmap)
			}
		}
	})
}

// FuzzRefcounts stores refcounts of every width and checks that only the
// entry written changes.
func FuzzRefcounts(f *testing.F) {
	f.Add(uint8(4), []byte{0, 1, 0, 2, 0, 3}, uint16(1), uint64(7))
	f.Add(uint8(0), []byte{0xff, 0x0f}, uint16(9), uint64(0))
	f.Add(uint8(6), make([]byte, 64), uint16(3), uint64(1<<40))
	f.Fuzz(func(t *testing.T, order uint8, block []byte, index uint16, v uint64) {
		o := uint32(order % (maxRefcountOrder + 1))
		bits := int64(1) << o
		entries := int64(len(block)) * 8 / bits
		if entries == 0 {
			return
		}
		i := int64(index) % entries
		mask := uint64(1)<<bits - 1
		if bits == 64 {
			mask = ^uint64(0)
		}
		before := make([]uint64, entries)
		for k := range before {
			before[k] = refcountGet(block, int64(k), o)
			if before[k] > mask {
				t.Fatalf("refcount %d exceeds %d bits", before[k], bits)
			}
		}
		refcountPut(block, i, o, v&mask)
		for k := range before {
			got := refcountGet(block, int64(k), o)
			want := before[k]
			if int64(k) == i {
				want = v & mask
			}
			if got != want {
				t.Fatalf("order %d entry %d = %d, want %d", o, k, got, want)
			}
		}
	})
}

// TestGenerateFuzzSeeds rewrites the committed seed corpora from images
// made by qemu-img and by Create. Run with IMGPREP_GEN_FUZZ=1.
func TestGenerateFuzzSeeds(t *testing.T) {
	if os.Getenv("IMGPREP_GEN_FUZZ") != "1" {
		t.Skip("set IMGPREP_GEN_FUZZ=1 to regenerate testdata/fuzz seeds")
	}
	oracle.Require(t, "qemu-img")
	dir := t.TempDir()
	raw := filepath.Join(dir, "src.raw")
	data := make([]byte, 64<<10)
	for i := range data {
		if i < 700 || i >= 40000 && i < 40100 {
			data[i] = "seed"[i%4]
		}
	}
	os.WriteFile(raw, data, 0o644)
	var seeds [][]byte
	// Compressed conversions keep the seeds small (the fuzzer minimizes
	// every interesting input, and big inputs stall it).
	for i, o := range []string{
		"cluster_size=512", "cluster_size=512,compat=0.10", "cluster_size=1024",
		"cluster_size=512,compression_type=zstd",
		"cluster_size=512,refcount_bits=1", "cluster_size=512,refcount_bits=64",
	} {
		p := filepath.Join(dir, fmt.Sprintf("s%d.qcow2", i))
		qemuImg(t, "convert", "-c", "-f", "raw", "-O", "qcow2", "-o", o, raw, p)
		if i == 0 {
			qemuImg(t, "snapshot", "-c", "s", p)
			qemuIO(t, p, "write -z 0 4k")
		}
		b, _ := os.ReadFile(p)
		seeds = append(seeds, b)
	}
	for _, v := range []int{2, 3} {
		mf := memfile.New(nil)
		img, err := Create(mf, CreateOptions{Size: 64 << 10, ClusterSize: 512, Version: v})
		if err != nil {
			t.Fatal(err)
		}
		img.WriteAt(bytes.Repeat([]byte{7}, 700), 300)
		img.Close()
		seeds = append(seeds, mf.Bytes())
	}
	mf := memfile.New(nil)
	img, err := Create(mf, CreateOptions{Size: 64 << 10, ClusterSize: 512, BackingFile: "base.raw", BackingFormat: "raw", Backing: func(string, string) (Backing, error) { return zeroBacking{1 << 20}, nil }})
	if err != nil {
		t.Fatal(err)
	}
	img.WriteAt(bytes.Repeat([]byte{9}, 1000), 700)
	img.Close()
	seeds = append(seeds, mf.Bytes())
	writeCorpus(t, "FuzzHeader", seeds...)
	var exts [][]byte
	for _, s := range seeds[:2] {
		exts = append(exts, s[headerV3Size:512])
	}
	writeCorpus(t, "FuzzHeaderExtensions", exts...)

	// Table entries of every kind, valid and not, for each entry width.
	type entry struct {
		bits             uint8 // cluster_bits - 9
		ext              bool
		l1, word, bitmap uint64
	}
	comp := func(cb uint, off, sectors uint64) uint64 {
		return entryCompressed | sectors<<(62-(cb-8)) | off
	}
	entries := []entry{
		{7, false, entryCopied | 0x50000, entryCopied | 0x60000, 0},            // standard, COPIED
		{7, false, 0x50000, 0x60000 | entryZero, 0},                            // preallocated zero
		{7, false, 0, entryZero, 0},                                            // zero, no host
		{7, false, 0x50001, 0x60100, 0},                                        // reserved bits
		{7, false, 0x100, 0x200, 0},                                            // unaligned
		{7, false, 0x8000, 0x8000, 0},                                          // in the header cluster
		{7, false, 0, comp(16, 0x70123, 3), 0},                                 // compressed, 64 KiB
		{0, false, 0, comp(9, 0x1234, 1), 0},                                   // compressed, 512 B
		{3, false, 0, comp(12, 0x9876, 7), 0},                                  // compressed, 4 KiB
		{12, false, 0, comp(21, 0x400000, 4095), 0},                            // compressed, 2 MiB
		{7, true, entryCopied | 0xa0000, 0x70000, 0x0000ffff0000ffff},          // extended, overlapping
		{7, true, entryCopied | 0xa0000, 0x70000, 0xffff00000000ffff},          // extended, alloc + zero
		{7, true, 0, 0, 0xffffffff00000000},                                    // extended, all zero
		{7, true, 0, 0, 0x1},                                                   // extended, alloc without host
		{7, false, 0xffffffffffffffff, 0xffffffffffffffff, 0xffffffffffffffff}, // all ones
	}
	var lines []string
	for _, e := range entries {
		lines = append(lines, fmt.Sprintf("uint8(%d)\nbool(%v)\nuint64(%d)\nuint64(%d)\nuint64(%d)\n", e.bits, e.ext, e.l1, e.word, e.bitmap))
	}
	writeTypedCorpus(t, "FuzzL1L2Entries", lines...)
	lines = lines[:0]
	for order := 0; order <= maxRefcountOrder; order++ {
		block := make([]byte, 64)
		for i := range block {
			block[i] = byte(i * 37)
		}
		lines = append(lines, fmt.Sprintf("uint8(%d)\n[]byte(%s)\nuint16(%d)\nuint64(%d)\n", order, strconv.Quote(string(block)), order*5+1, uint64(1)<<(1<<order)-1))
	}
	writeTypedCorpus(t, "FuzzRefcounts", lines...)
}

// writeTypedCorpus writes corpus files whose bodies are already encoded.
func writeTypedCorpus(t *testing.T, name string, bodies ...string) {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", name)
	os.MkdirAll(dir, 0o755)
	for i, b := range bodies {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte("go test fuzz v1\n"+b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func writeCorpus(t *testing.T, name string, seeds ...[]byte) {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", name)
	os.MkdirAll(dir, 0o755)
	for i, s := range seeds {
		body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(s)) + ")\n"
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
