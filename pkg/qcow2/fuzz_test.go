package qcow2

import (
	"bytes"
	"errors"
	"testing"

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
