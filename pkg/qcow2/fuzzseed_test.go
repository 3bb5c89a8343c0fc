//go:build fuzzseeds

package qcow2

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/qcow2/internal/memfile"
)

// TestGenerateFuzzSeeds rewrites the committed seed corpora from images
// made by qemu-img and by Create:
//
//	go test -tags fuzzseeds -run TestGenerateFuzzSeeds ./pkg/qcow2
func TestGenerateFuzzSeeds(t *testing.T) {
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
