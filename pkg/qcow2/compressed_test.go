package qcow2

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// TestCompressedDescriptorRange decodes compressed cluster descriptors at
// the edges of a host cluster, with the rule of QEMU's qcow2.txt: the
// offset takes bits 0..x-1 (x = 62 - (cluster_bits - 8)), the bits above
// count the 512-byte sectors beyond the one holding the offset, and the
// data runs to the end of the last sector (QEMU frees (offset & ~511,
// sectors * 512)). Each case gives the data's end and the host clusters it
// touches, each of which holds one reference for it.
func TestCompressedDescriptorRange(t *testing.T) {
	tests := []struct {
		name        string
		clusterBits uint32
		off         int64
		extra       uint64 // additional sectors
		csize       int64
		first, n    int64
	}{
		{"one sector ending at a cluster boundary", 16, 0x3FE00, 0, 512, 3, 1},
		{"two sectors crossing into the next cluster", 16, 0x3FE00, 1, 1024, 3, 2},
		{"an unaligned offset in the last sector of a cluster", 16, 0x3FF01, 0, 255, 3, 1},
		{"a whole cluster of sectors from its start", 16, 0x30000, 127, 65536, 3, 1},
		{"a whole cluster of sectors, one byte in", 16, 0x30001, 127, 65535, 3, 1},
		{"a whole cluster of sectors from the second sector", 16, 0x30200, 127, 65536, 3, 2},
		{"the largest count, 4 KiB clusters, across three clusters", 12, 0x3E00, 15, 8192, 3, 3},
		{"the largest count, 4 KiB clusters, from a cluster start", 12, 0x3000, 15, 8192, 3, 2},
		{"4 KiB clusters, the last byte of a cluster", 12, 0x3FFF, 0, 1, 3, 1},
		{"4 KiB clusters, the first byte of a cluster", 12, 0x4000, 0, 512, 4, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &header{clusterBits: tt.clusterBits, clusterSize: 1 << tt.clusterBits, l2EntryBytes: 8, fileSize: 1 << 30}
			x := 62 - (tt.clusterBits - 8)
			word := entryCompressed | tt.extra<<x | uint64(tt.off)
			m, err := h.decodeL2(l2Entry{word: word}, 0)
			if err != nil {
				t.Fatal(err)
			}
			if m.kind != kindCompressed || m.host != tt.off || m.csize != tt.csize {
				t.Fatalf("decoded %+v, want compressed data at %#x, %d bytes", m, tt.off, tt.csize)
			}
			if end := tt.off&^511 + int64(tt.extra+1)*512; m.host+m.csize != end {
				t.Fatalf("data ends at %#x, QEMU frees up to %#x", m.host+m.csize, end)
			}
			if first, n := h.hostClustersOf(m); first != tt.first || n != tt.n {
				t.Fatalf("touches clusters %d+%d, want %d+%d", first, n, tt.first, tt.n)
			}
		})
	}
}

// TestCompressedClustersReadAtTheirBoundaries reads a disk qemu-img
// compressed into 4 KiB clusters whose compressed sizes vary from a few
// hundred bytes to nearly a cluster, so that many compressed streams cross
// a host cluster boundary. Every guest cluster reads back as the source,
// and every host cluster a stream touches has, in QEMU's own refcounts,
// exactly one reference per stream the descriptors say touches it.
func TestCompressedClustersReadAtTheirBoundaries(t *testing.T) {
	dir := t.TempDir()
	const cs, clusters = 4096, 256
	rng := rand.New(rand.NewPCG(17, 4))
	src := make([]byte, cs*clusters)
	for c := 0; c < clusters; c++ {
		b := src[c*cs : (c+1)*cs]
		random := rng.IntN(cs * 3 / 4) // incompressible bytes in this cluster
		for i := range b {
			if i < random {
				b[i] = byte(rng.Uint32())
			} else {
				b[i] = "ab"[rng.IntN(2)]
			}
		}
	}
	raw, qc := filepath.Join(dir, "src.raw"), filepath.Join(dir, "c.qcow2")
	if err := os.WriteFile(raw, src, 0o644); err != nil {
		t.Fatal(err)
	}
	qemuImg(t, "convert", "-c", "-f", "raw", "-O", "qcow2", "-o", "cluster_size=4096", raw, qc)
	img := openImage(t, qc)

	img.mu.Lock()
	rc, err := img.loadRefcounts()
	if err != nil {
		img.mu.Unlock()
		t.Fatal(err)
	}
	refs := map[int64]uint64{} // host cluster -> streams touching it
	crossing := 0
	for gc := int64(0); gc < clusters; gc++ {
		m, err := img.lookup(gc)
		if err != nil {
			img.mu.Unlock()
			t.Fatal(err)
		}
		if m.kind != kindCompressed {
			continue
		}
		first, n := img.h.hostClustersOf(m)
		if n > 1 {
			crossing++
		}
		for c := first; c < first+n; c++ {
			refs[c]++
		}
	}
	for c, want := range refs {
		got, err := rc.get(c)
		if err != nil {
			img.mu.Unlock()
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("host cluster %d: QEMU counts %d references, the descriptors touch it %d times", c, got, want)
		}
	}
	img.mu.Unlock()
	if crossing < 10 {
		t.Fatalf("only %d compressed clusters cross a host cluster boundary: the test needs more", crossing)
	}
	for gc := 0; gc < clusters; gc++ {
		got := make([]byte, cs)
		if n, err := img.ReadAt(got, int64(gc*cs)); err != nil || n != cs {
			t.Fatalf("ReadAt cluster %d: %d, %v", gc, n, err)
		}
		if !bytes.Equal(got, src[gc*cs:(gc+1)*cs]) {
			t.Errorf("guest cluster %d reads differently from the source", gc)
		}
	}
}
