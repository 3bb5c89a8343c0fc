package qcow2

import (
	"fmt"
	"sort"
)

// refcountGet reads entry i of a refcount block with 2^order bits per
// entry. Sub-byte entries are packed least significant bits first, as
// QEMU's get_refcount_ro0..2 read them.
func refcountGet(block []byte, i int64, order uint32) uint64 {
	switch order {
	case 0, 1, 2:
		bits := int64(1) << order
		per := 8 / bits
		shift := uint((i % per) * bits)
		return uint64(block[i/per]>>shift) & (1<<bits - 1)
	case 3:
		return uint64(block[i])
	case 4:
		return uint64(be.Uint16(block[i*2:]))
	case 5:
		return uint64(be.Uint32(block[i*4:]))
	default:
		return be.Uint64(block[i*8:])
	}
}

// refcountPut stores v (which must fit) in entry i.
func refcountPut(block []byte, i int64, order uint32, v uint64) {
	switch order {
	case 0, 1, 2:
		bits := int64(1) << order
		per := 8 / bits
		shift := uint((i % per) * bits)
		mask := byte(1<<bits-1) << shift
		block[i/per] = block[i/per]&^mask | byte(v)<<shift&mask
	case 3:
		block[i] = byte(v)
	case 4:
		be.PutUint16(block[i*2:], uint16(v))
	case 5:
		be.PutUint32(block[i*4:], uint32(v))
	default:
		be.PutUint64(block[i*8:], v)
	}
}

// refcounts is the in-memory view of the refcount structure, loaded
// lazily: the refcount table on the first allocation, each refcount block
// when a cluster it covers is looked at.
type refcounts struct {
	img          *Image
	table        []uint64 // in memory; may be longer than the table on disk
	tableOff     int64
	tableEntries int64 // capacity of the table on disk
	dirtyEntries map[int64]bool
	blocks       map[int64]*refblock
	perBlock     int64 // entries per refcount block
	order        uint32
	max          uint64
	// next is where the next run of new clusters goes: the end of the
	// file at the first write (floor), then past every run allocated
	// since. Nothing at or past floor was in the file, so whatever the
	// refcounts say of it is a leak (refcounts past the end of the file,
	// which qemu-img check reports as leaked clusters): new clusters are
	// appended there without reading those refcounts, as QEMU appends at
	// the end of the file, and their refcounts are overwritten with 1.
	next int64
	// floor is the first cluster past the end of the file at the first
	// write. Below it the allocator only reuses clusters this Image freed
	// itself (reusable): a hole whose refcount is 0 may still be
	// referenced by a corrupt table, and finding out would mean reading
	// every L2 table.
	floor    int64
	reusable []int64
	// meta holds the host clusters of the metadata in use (header, L1
	// and L2 tables, refcount table and blocks, snapshot tables). A
	// cluster the refcounts call free but that is in meta means the
	// refcounts are wrong; allocating it would overwrite metadata.
	meta *metaMap
}

type refblock struct {
	data  []byte
	dirty bool
}

func (img *Image) loadRefcounts() (*refcounts, error) {
	if img.rc != nil {
		return img.rc, nil
	}
	h := img.h
	n := int64(h.RefcountTableClusters) * h.clusterSize / 8
	buf := make([]byte, n*8)
	if err := img.readFull(buf, int64(h.RefcountTableOffset), "refcount table"); err != nil {
		return nil, err
	}
	rc := &refcounts{
		img:          img,
		table:        make([]uint64, n),
		tableOff:     int64(h.RefcountTableOffset),
		tableEntries: n,
		dirtyEntries: map[int64]bool{},
		blocks:       map[int64]*refblock{},
		perBlock:     h.clusterSize * 8 / int64(h.refcountBits),
		order:        h.RefcountOrder,
		max:          1<<h.refcountBits - 1,
		next:         ceilDiv(img.h.fileSize, img.h.clusterSize),
		floor:        ceilDiv(img.h.fileSize, img.h.clusterSize),
	}
	if h.refcountBits == 64 {
		rc.max = ^uint64(0)
	}
	for i := range rc.table {
		rc.table[i] = be.Uint64(buf[i*8:])
	}
	img.rc = rc
	rc.buildMeta()
	return rc, nil
}

// block returns refcount block ri, reading it if needed; nil when the
// table has no block there.
func (rc *refcounts) block(ri int64) (*refblock, error) {
	if b, ok := rc.blocks[ri]; ok {
		return b, nil
	}
	if ri < 0 || ri >= int64(len(rc.table)) || rc.table[ri] == 0 {
		return nil, nil
	}
	img := rc.img
	off, err := rc.blockOffset(ri)
	if err != nil {
		return nil, err
	}
	b := &refblock{data: make([]byte, img.h.clusterSize)}
	if err := img.readFull(b.data, off, "refcount block"); err != nil {
		return nil, err
	}
	rc.blocks[ri] = b
	return b, nil
}

// blockOffset validates refcount table entry ri and returns the block's
// offset (0 if none).
func (rc *refcounts) blockOffset(ri int64) (int64, error) {
	e := rc.table[ri]
	if e == 0 {
		return 0, nil
	}
	at := rc.tableOff + ri*8
	if e&reftableReserved != 0 || e > uint64(maxVirtualSize) {
		return 0, corrupt(at, "refcount table entry", "reserved bits set in %#016x", e)
	}
	off := int64(e &^ reftableReserved)
	cs := rc.img.h.clusterSize
	if off%cs != 0 || off < cs || off > rc.img.h.fileSize-cs {
		return 0, corrupt(at, "refcount table entry", "refcount block offset %#x is unaligned, in the header or past the end of the file", off)
	}
	return off, nil
}

// get returns the refcount of host cluster c.
func (rc *refcounts) get(c int64) (uint64, error) {
	b, err := rc.block(c / rc.perBlock)
	if err != nil || b == nil {
		return 0, err
	}
	return refcountGet(b.data, c%rc.perBlock, rc.order), nil
}

// set stores the refcount of host cluster c; its block must exist.
func (rc *refcounts) set(c int64, v uint64) error {
	b, err := rc.block(c / rc.perBlock)
	if err != nil {
		return err
	}
	if b == nil {
		return fmt.Errorf("qcow2: internal error: no refcount block for cluster %d", c)
	}
	if v > rc.max {
		return fmt.Errorf("%w: refcount of cluster %d would exceed %d", ErrTooLarge, c, rc.max)
	}
	refcountPut(b.data, c%rc.perBlock, rc.order, v)
	b.dirty = true
	return nil
}

// alloc finds n contiguous free clusters, sets their refcounts to 1 and
// returns the host offset of the first. A single cluster this Image freed
// is reused; otherwise the run is appended at next, past the end of the
// file (see next), costing no scan of what the refcounts say is in use
// there. Ranges of the run without a refcount block get new blocks placed
// right after the run (k clusters), so that a run longer than a block's
// range still fits and every new block is counted by itself or a
// neighbour.
func (rc *refcounts) alloc(n int64) (int64, error) {
	bits := rc.img.h.clusterBits
	for n == 1 && len(rc.reusable) > 0 {
		c := rc.reusable[len(rc.reusable)-1]
		rc.reusable = rc.reusable[:len(rc.reusable)-1]
		v, err := rc.get(c)
		if err != nil {
			return 0, err
		}
		if _, ok := rc.meta.kinds[c]; v == 0 && !ok {
			if err := rc.set(c, 1); err != nil {
				return 0, err
			}
			return c << bits, nil
		}
	}
	limit := int64(maxVirtualSize) >> bits // host offsets are 56 bits
	c := max(rc.next, rc.floor, 1)
	missing, err := rc.missingBlocks(c, n)
	if err != nil {
		return 0, err
	}
	total := n + int64(len(missing))
	if c+total > limit {
		return 0, fmt.Errorf("%w: no %d free clusters below host offset 2^56", ErrTooLarge, n)
	}
	for x := c; x < c+total; x++ {
		if k, ok := rc.meta.kinds[x]; ok {
			// Only this Image places metadata past the end of the file,
			// and always below next.
			return 0, corrupt(x<<bits, "refcount", "cluster past the end of the file already holds %v", k)
		}
	}
	for i, ri := range missing {
		at := c + n + int64(i)
		for int64(len(rc.table)) <= ri {
			rc.table = append(rc.table, 0)
		}
		rc.table[ri] = uint64(at) << bits
		rc.dirtyEntries[ri] = true
		rc.blocks[ri] = &refblock{data: make([]byte, rc.img.h.clusterSize), dirty: true}
		rc.meta.add(at, metaRefblock)
	}
	for k := int64(0); k < total; k++ {
		if err := rc.set(c+k, 1); err != nil {
			return 0, err
		}
	}
	rc.next = c + total
	return c << bits, nil
}

// missingBlocks lists the refcount ranges without a block that a run of n
// clusters at c, followed by one cluster per such block, touches.
func (rc *refcounts) missingBlocks(c, n int64) ([]int64, error) {
	var missing []int64
	for {
		end := c + n + int64(len(missing)) // exclusive
		missing = missing[:0]
		for ri := c / rc.perBlock; ri <= (end-1)/rc.perBlock; ri++ {
			b, err := rc.block(ri)
			if err != nil {
				return nil, err
			}
			if b == nil {
				missing = append(missing, ri)
			}
		}
		if c+n+int64(len(missing)) <= end {
			return missing, nil
		}
	}
}

// decrement drops one reference from each cluster of r.
func (rc *refcounts) decrement(r release) error {
	for c := r.first; c < r.first+r.n; c++ {
		v, err := rc.get(c)
		if err != nil {
			return err
		}
		if v == 0 {
			return corrupt(c<<rc.img.h.clusterBits, "refcount", "cluster being freed already has refcount 0")
		}
		if err := rc.set(c, v-1); err != nil {
			return err
		}
		if v == 1 {
			rc.reusable = append(rc.reusable, c)
		}
	}
	return nil
}

// writeBlocks writes every dirty refcount block in place.
func (rc *refcounts) writeBlocks() error {
	keys := make([]int64, 0, len(rc.blocks))
	for ri, b := range rc.blocks {
		if b.dirty {
			keys = append(keys, ri)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	for _, ri := range keys {
		b := rc.blocks[ri]
		if err := rc.img.writeFile(b.data, int64(rc.table[ri]&^reftableReserved)); err != nil {
			return err
		}
		b.dirty = false
	}
	return nil
}

// trim drops clean blocks when many are loaded, bounding memory.
func (rc *refcounts) trim() {
	const keep = 64
	if len(rc.blocks) <= keep {
		return
	}
	for ri, b := range rc.blocks {
		if !b.dirty {
			delete(rc.blocks, ri)
		}
	}
}
