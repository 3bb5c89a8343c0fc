package image

import (
	"io"
	"sync"
)

// The block cache sits on the virtual disk, under every partition and
// filesystem of an image, so that the metadata the filesystems read again
// and again (inode tables, directory blocks, bitmaps, descriptors) comes
// from the image file once per run. Small reads go through it in aligned
// blocks; writes go through to the disk (the transaction, when staging)
// and then update the blocks cached, so a read always sees the last
// write. Large reads (file contents) bypass it. It holds at most
// cacheBlocks blocks, the least recently used going first.

const (
	cacheBlockSize = 4096
	cacheBlocks    = 1024 // 4 MiB
	cacheMaxRead   = 64 << 10
)

type cacheBlock struct {
	idx        int64
	data       []byte // cacheBlockSize bytes, fewer for the disk's last block
	prev, next *cacheBlock
}

type blockCache struct {
	d    Image
	size int64

	mu     sync.Mutex
	blocks map[int64]*cacheBlock
	head   cacheBlock // sentinel: head.next is the most recently used
	max    int
}

func newBlockCache(d Image, maxBlocks int) *blockCache {
	c := &blockCache{d: d, size: d.Size(), blocks: map[int64]*cacheBlock{}, max: maxBlocks}
	c.head.next, c.head.prev = &c.head, &c.head
	return c
}

func (c *blockCache) unlink(b *cacheBlock) {
	b.prev.next, b.next.prev = b.next, b.prev
}

func (c *blockCache) pushFront(b *cacheBlock) {
	b.prev, b.next = &c.head, c.head.next
	c.head.next.prev = b
	c.head.next = b
}

// ReadAt reads the virtual disk as d does.
func (c *blockCache) ReadAt(p []byte, off int64) (int, error) {
	if len(p) > cacheMaxRead || off < 0 || off >= c.size || len(p) == 0 {
		return readClamped(c.d, c.size, p, off)
	}
	want := len(p)
	if rest := c.size - off; int64(want) > rest {
		p = p[:rest]
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	end := off + int64(len(p))
	first, last := off/cacheBlockSize, (end-1)/cacheBlockSize
	for idx := first; idx <= last; {
		b := c.blocks[idx]
		if b == nil {
			// Read the run of missing blocks at once.
			j := idx + 1
			for j <= last && c.blocks[j] == nil {
				j++
			}
			if err := c.fill(idx, j); err != nil {
				return 0, err
			}
			continue
		}
		c.unlink(b)
		c.pushFront(b)
		base := idx * cacheBlockSize
		lo, hi := max(off, base), min(end, base+int64(len(b.data)))
		copy(p[lo-off:hi-off], b.data[lo-base:hi-base])
		idx++
	}
	if len(p) < want {
		return len(p), io.EOF
	}
	return len(p), nil
}

// fill reads blocks [from, to) from the disk into the cache.
func (c *blockCache) fill(from, to int64) error {
	lo, hi := from*cacheBlockSize, min(c.size, to*cacheBlockSize)
	buf := make([]byte, hi-lo)
	if n, err := c.d.ReadAt(buf, lo); n != len(buf) {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	for idx := from; idx < to; idx++ {
		// Each block its own copy: a block kept must not pin the others'.
		s := (idx - from) * cacheBlockSize
		b := &cacheBlock{idx: idx, data: append([]byte(nil), buf[s:min(int64(len(buf)), s+cacheBlockSize)]...)}
		c.blocks[idx] = b
		c.pushFront(b)
	}
	for len(c.blocks) > c.max {
		old := c.head.prev
		c.unlink(old)
		delete(c.blocks, old.idx)
	}
	return nil
}

// WriteAt writes through to the disk, then updates the blocks cached.
func (c *blockCache) WriteAt(p []byte, off int64) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := c.d.WriteAt(p, off)
	if len(p) == 0 || off < 0 {
		return n, err
	}
	end := off + int64(len(p))
	for idx := off / cacheBlockSize; idx*cacheBlockSize < end; idx++ {
		b := c.blocks[idx]
		if b == nil {
			continue
		}
		base := idx * cacheBlockSize
		lo, hi := max(off, base), min(end, base+int64(len(b.data)))
		if hi-off > int64(n) {
			// Not all written: what the disk holds there is unknown.
			c.unlink(b)
			delete(c.blocks, idx)
			continue
		}
		if lo < hi {
			copy(b.data[lo-base:hi-base], p[lo-off:hi-off])
		}
	}
	return n, err
}
