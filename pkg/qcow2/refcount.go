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
	freeHint     int64 // no free cluster below this index
	// meta holds the host clusters of the metadata in use (header, L1
	// and L2 tables, refcount table and blocks, snapshot tables). A
	// cluster the refcounts call free but that is in meta means the
	// refcounts are wrong; allocating it would overwrite metadata.
	meta map[int64]bool
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
		freeHint:     1,
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

// buildMeta records the clusters of every metadata structure in use.
func (rc *refcounts) buildMeta() {
	img := rc.img
	h := img.h
	cs := h.clusterSize
	m := map[int64]bool{0: true}
	addRange := func(off, n int64) {
		if n <= 0 {
			return
		}
		for c := off / cs; c <= (off+n-1)/cs && c-off/cs < 1<<22; c++ {
			m[c] = true
		}
	}
	addRange(int64(h.L1TableOffset), int64(h.L1Size)*8)
	addRange(rc.tableOff, rc.tableEntries*8)
	for _, e := range rc.table {
		if off := int64(e &^ reftableReserved); off != 0 {
			m[off/cs] = true
		}
	}
	for _, e := range img.l1 {
		if off := int64(e & offsetMask); off != 0 {
			m[off/cs] = true
		}
	}
	addRange(int64(h.SnapshotsOffset), img.snapshotTableBytes)
	for _, s := range img.snapshots {
		addRange(s.L1TableOffset, s.L1Size*8)
	}
	rc.meta = m
}

// block returns refcount block ri, reading it if needed; nil when the
// table has no block there.
func (rc *refcounts) block(ri int64) (*refblock, error) {
	if b, ok := rc.blocks[ri]; ok {
		return b, nil
	}
	if ri >= int64(len(rc.table)) || rc.table[ri] == 0 {
		return nil, nil
	}
	img := rc.img
	at := rc.tableOff + ri*8
	e := rc.table[ri]
	if e&reftableReserved != 0 {
		return nil, corrupt(at, "refcount table entry", "reserved bits set in %#016x", e)
	}
	off := int64(e &^ reftableReserved)
	if off%img.h.clusterSize != 0 || off < img.h.clusterSize || off > img.h.fileSize-img.h.clusterSize {
		return nil, corrupt(at, "refcount table entry", "refcount block offset %#x is unaligned, in the header or past the end of the file", off)
	}
	b := &refblock{data: make([]byte, img.h.clusterSize)}
	if err := img.readFull(b.data, off, "refcount block"); err != nil {
		return nil, err
	}
	rc.blocks[ri] = b
	return b, nil
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

// newBlock creates the refcount block covering host cluster c and places
// it at c, so the block counts itself.
func (rc *refcounts) newBlock(c int64) error {
	ri := c / rc.perBlock
	for int64(len(rc.table)) <= ri {
		rc.table = append(rc.table, 0)
	}
	rc.table[ri] = uint64(c) << rc.img.h.clusterBits
	rc.dirtyEntries[ri] = true
	if rc.meta[c] {
		return corrupt(c<<rc.img.h.clusterBits, "refcount", "cluster has no refcount block but holds metadata in use")
	}
	rc.blocks[ri] = &refblock{data: make([]byte, rc.img.h.clusterSize), dirty: true}
	rc.meta[c] = true
	return rc.set(c, 1)
}

// alloc finds n contiguous free clusters, sets their refcounts to 1 and
// returns the host offset of the first. A range with no refcount block
// gets a new block placed at its first cluster examined.
func (rc *refcounts) alloc(n int64) (int64, error) {
	start := rc.freeHint
	if start < 1 {
		start = 1
	}
	limit := int64(maxVirtualSize) >> rc.img.h.clusterBits // host offsets are 56 bits
	for c := start; c+n <= limit; {
		ok := true
		for k := int64(0); k < n; k++ {
			ck := c + k
			ri := ck / rc.perBlock
			b, err := rc.block(ri)
			if err != nil {
				return 0, err
			}
			if b == nil {
				if err := rc.newBlock(ck); err != nil {
					return 0, err
				}
				ok, c = false, ck+1
				break
			}
			if refcountGet(b.data, ck%rc.perBlock, rc.order) != 0 {
				ok, c = false, ck+1
				break
			}
		}
		if !ok {
			continue
		}
		for k := int64(0); k < n; k++ {
			if rc.meta[c+k] {
				return 0, corrupt((c+k)<<rc.img.h.clusterBits, "refcount", "cluster has refcount 0 but holds metadata in use")
			}
		}
		for k := int64(0); k < n; k++ {
			if err := rc.set(c+k, 1); err != nil {
				return 0, err
			}
		}
		if n == 1 {
			rc.freeHint = c + 1
		}
		return c << rc.img.h.clusterBits, nil
	}
	return 0, fmt.Errorf("%w: no %d free clusters below host offset 2^56", ErrTooLarge, n)
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
		if v == 1 && c < rc.freeHint {
			rc.freeHint = c
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
