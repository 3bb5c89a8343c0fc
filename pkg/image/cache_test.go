package image

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"
)

// memDisk is an Image over a byte slice that counts the reads reaching
// it.
type memDisk struct {
	b     []byte
	reads int
}

func (m *memDisk) ReadAt(p []byte, off int64) (int, error) {
	m.reads++
	return readClamped(bytes.NewReader(m.b), int64(len(m.b)), p, off)
}

func (m *memDisk) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(m.b)) {
		return 0, ErrOutOfRange
	}
	return copy(m.b[off:], p), nil
}

func (m *memDisk) Size() int64  { return int64(len(m.b)) }
func (m *memDisk) Flush() error { return nil }
func (m *memDisk) Close() error { return nil }

// TestBlockCacheAgreesWithTheDisk: random small and large reads and
// writes through a cache of three blocks over a disk whose size is not a
// multiple of the block size read exactly what the disk holds, short
// reads with io.EOF across its end included.
func TestBlockCacheAgreesWithTheDisk(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	size := 9*cacheBlockSize + 1234
	model := make([]byte, size)
	for i := range model {
		model[i] = byte(r.Uint32())
	}
	d := &memDisk{b: append([]byte(nil), model...)}
	c := newBlockCache(d, 3)
	for i := range 5000 {
		off := int64(r.IntN(size + 100))
		n := 1 + r.IntN(3*cacheBlockSize)
		if r.IntN(50) == 0 {
			n = cacheMaxRead + 1 + r.IntN(1000)
		}
		if r.IntN(3) == 0 {
			if off+int64(n) > int64(size) {
				continue
			}
			p := make([]byte, n)
			for j := range p {
				p[j] = byte(r.Uint32())
			}
			if w, err := c.WriteAt(p, off); err != nil || w != n {
				t.Fatalf("step %d: WriteAt = %d, %v", i, w, err)
			}
			copy(model[off:], p)
			continue
		}
		p := make([]byte, n)
		got, err := c.ReadAt(p, off)
		want := max(0, min(n, size-int(off)))
		if got != want || (want < n && err != io.EOF) || (want == n && err != nil) {
			t.Fatalf("step %d: ReadAt(%d bytes at %d) = %d, %v; want %d", i, n, off, got, err, want)
		}
		if want > 0 && !bytes.Equal(p[:got], model[off:off+int64(got)]) {
			t.Fatalf("step %d: ReadAt(%d bytes at %d) differs from the disk", i, n, off)
		}
	}
	if len(c.blocks) > 3 {
		t.Fatalf("%d blocks cached, over the bound of 3", len(c.blocks))
	}
}

// TestBlockCacheReadsEachBlockOnce: rereading metadata-sized pieces of a
// region that fits the cache reaches the disk once per run of missing
// blocks, however often it is read and written.
func TestBlockCacheReadsEachBlockOnce(t *testing.T) {
	d := &memDisk{b: make([]byte, 64*cacheBlockSize)}
	c := newBlockCache(d, 64)
	p := make([]byte, 256)
	for range 3 {
		for off := int64(0); off < 64*cacheBlockSize; off += 256 {
			if _, err := c.ReadAt(p, off); err != nil {
				t.Fatal(err)
			}
			if _, err := c.WriteAt(p[:16], off); err != nil {
				t.Fatal(err)
			}
		}
	}
	if d.reads != 64 {
		t.Fatalf("%d reads reached the disk, want 64 (one per block)", d.reads)
	}
}
