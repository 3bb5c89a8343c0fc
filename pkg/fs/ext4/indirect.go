package ext4

import "fmt"

// ext2/ext3 block maps: i_block[0..11] are direct blocks, i_block[12] the
// single, [13] the double and [14] the triple indirect block. Each
// indirect block is an array of little-endian uint32 block numbers.

const (
	directBlocks = 12
	indSingle    = 12
	indDouble    = 13
	indTriple    = 14
)

// indirectMapper maps through an inode's block map, caching the last
// indirect block read at each level.
type indirectMapper struct {
	f     *FS
	in    *inode
	cache [3]struct {
		blk uint64
		ent []uint32
	}
}

// ptrsPerBlock is the number of block numbers in an indirect block.
func (f *FS) ptrsPerBlock() uint64 { return uint64(f.blockSize / 4) }

// indirectPath splits logical block l into the i_block slot and the
// indexes inside each indirect level; depth is 0 for direct blocks.
func (f *FS) indirectPath(l uint64) (slot int, idx [3]uint64, depth int, ok bool) {
	apb := f.ptrsPerBlock()
	if l < directBlocks {
		return int(l), idx, 0, true
	}
	l -= directBlocks
	if l < apb {
		idx[0] = l
		return indSingle, idx, 1, true
	}
	l -= apb
	if l < apb*apb {
		idx[0], idx[1] = l/apb, l%apb
		return indDouble, idx, 2, true
	}
	l -= apb * apb
	if l < apb*apb*apb {
		idx[0], idx[1], idx[2] = l/(apb*apb), l/apb%apb, l%apb
		return indTriple, idx, 3, true
	}
	return 0, idx, 0, false
}

// readIndirect reads indirect block blk as block numbers, validating them.
func (f *FS) readIndirect(ino uint32, blk uint64) ([]uint32, error) {
	if blk < f.firstDataBlock || blk >= f.blocksCount {
		return nil, corrupt(f.inodeOffset(ino), fmt.Sprintf("block map of inode %d", ino),
			"indirect block %d outside the filesystem", blk)
	}
	buf := make([]byte, f.blockSize)
	if err := f.readBlock(blk, buf); err != nil {
		return nil, err
	}
	ent := make([]uint32, len(buf)/4)
	for i := range ent {
		ent[i] = le.Uint32(buf[4*i:])
		if ent[i] != 0 && (uint64(ent[i]) < f.firstDataBlock || uint64(ent[i]) >= f.blocksCount) {
			return nil, corrupt(int64(blk)*f.blockSize+int64(4*i), fmt.Sprintf("indirect block of inode %d", ino),
				"entry %d points to block %d outside the filesystem", i, ent[i])
		}
	}
	return ent, nil
}

func (m *indirectMapper) lookup(l uint32) (uint64, uint64, error) {
	f := m.f
	slot, idx, depth, ok := f.indirectPath(uint64(l))
	if !ok {
		return 0, uint64(1<<32) - uint64(l), nil // past the map: a hole to the end
	}
	p := uint64(m.in.d.Block[slot])
	if p != 0 && (p < f.firstDataBlock || p >= f.blocksCount) {
		return 0, 0, corrupt(f.inodeOffset(m.in.ino), fmt.Sprintf("inode %d", m.in.ino),
			"i_block[%d] points to block %d outside the filesystem", slot, p)
	}
	if p == 0 {
		if depth == 0 {
			return 0, zeros(m.in.d.Block[:directBlocks], slot), nil
		}
		return 0, m.holeRun(idx, depth, 0), nil
	}
	if depth == 0 {
		return p, contiguous(m.in.d.Block[:directBlocks], slot), nil
	}
	for lvl := 0; lvl < depth; lvl++ {
		c := &m.cache[lvl]
		if c.ent == nil || c.blk != p {
			ent, err := f.readIndirect(m.in.ino, p)
			if err != nil {
				return 0, 0, err
			}
			c.blk, c.ent = p, ent
		}
		p = uint64(c.ent[idx[lvl]])
		if p == 0 {
			if lvl == depth-1 {
				return 0, zeros(c.ent, int(idx[lvl])), nil
			}
			return 0, m.holeRun(idx, depth, lvl+1), nil
		}
	}
	return p, contiguous(m.cache[depth-1].ent, int(idx[depth-1])), nil
}

// zeros counts the zero entries from ent[i] on: a hole read in one step.
func zeros(ent []uint32, i int) uint64 {
	n := uint64(1)
	for j := i + 1; j < len(ent) && ent[j] == 0; j++ {
		n++
	}
	return n
}

// contiguous counts the entries from ent[i] on that continue ent[i]
// block by block, so that readers can read them with one call.
func contiguous(ent []uint32, i int) uint64 {
	n := uint64(1)
	for j := i + 1; j < len(ent) && ent[j] != 0 && ent[j] == ent[i]+uint32(j-i); j++ {
		n++
	}
	return n
}

// holeRun is the number of blocks from the one at idx to the end of the
// hole made by a zero pointer at level lvl (0: the i_block slot), so that
// readers skip a sparse region in one step.
func (m *indirectMapper) holeRun(idx [3]uint64, depth, lvl int) uint64 {
	apb := m.f.ptrsPerBlock()
	// Blocks covered by one pointer at level lvl, and the offset of the
	// block inside it.
	span, off := uint64(1), uint64(0)
	for i := depth - 1; i >= lvl; i-- {
		off += idx[i] * span
		span *= apb
	}
	return span - off
}
