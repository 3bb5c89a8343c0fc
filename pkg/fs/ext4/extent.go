package ext4

import (
	"fmt"
	"sort"
)

// blockMapper maps a file's logical blocks to physical blocks.
type blockMapper interface {
	// lookup maps logical block l. pblk 0 means a hole (or an unwritten
	// extent, which reads as zeros); run is the number of blocks from l,
	// at least 1, that continue the same way (contiguous or hole).
	lookup(l uint32) (pblk uint64, run uint64, err error)
}

// extNode is one node of an extent tree loaded into memory.
type extNode struct {
	blk      uint64 // 0 for the root, which lives in i_block
	hdr      ExtentHeader
	idx      []ExtentIdx // interior node entries
	children []*extNode
	ext      []Extent // leaf entries
}

// extentLen is the number of blocks of e and whether it is unwritten.
func extentLen(e *Extent) (n uint32, unwritten bool) {
	if e.Len > extentInitMaxLen {
		return uint32(e.Len) - extentInitMaxLen, true
	}
	return uint32(e.Len), false
}

func extentStart(e *Extent) uint64 { return uint64(e.StartLo) | uint64(e.StartHi)<<32 }

func idxLeaf(x *ExtentIdx) uint64 { return uint64(x.LeafLo) | uint64(x.LeafHi)<<32 }

// parseExtentNode decodes an extent node (the 60-byte root or a block)
// and checks its header against the space it has. It does not follow
// children.
func parseExtentNode(b []byte) (ExtentHeader, []ExtentIdx, []Extent, error) {
	var h ExtentHeader
	if len(b) < extentEntrySize {
		return h, nil, nil, fmt.Errorf("node of %d bytes", len(b))
	}
	decode(b, &h)
	if h.Magic != extentMagic {
		return h, nil, nil, fmt.Errorf("magic 0x%04x", h.Magic)
	}
	room := (len(b) - extentEntrySize) / extentEntrySize
	if int(h.Max) > room || h.Entries > h.Max {
		return h, nil, nil, fmt.Errorf("%d entries, max %d, room for %d", h.Entries, h.Max, room)
	}
	if h.Depth > extentMaxDepth {
		return h, nil, nil, fmt.Errorf("depth %d", h.Depth)
	}
	n := int(h.Entries)
	if h.Depth > 0 {
		idx := make([]ExtentIdx, n)
		for i := range idx {
			decode(b[extentEntrySize*(i+1):], &idx[i])
			if i > 0 && idx[i].Block <= idx[i-1].Block {
				return h, nil, nil, fmt.Errorf("index %d out of order", i)
			}
		}
		return h, idx, nil, nil
	}
	ext := make([]Extent, n)
	var end uint64
	for i := range ext {
		decode(b[extentEntrySize*(i+1):], &ext[i])
		l, _ := extentLen(&ext[i])
		if l == 0 {
			return h, nil, nil, fmt.Errorf("extent %d has length 0", i)
		}
		if i > 0 && uint64(ext[i].Block) < end {
			return h, nil, nil, fmt.Errorf("extent %d overlaps or is out of order", i)
		}
		end = uint64(ext[i].Block) + uint64(l)
		if end > 1<<32 {
			return h, nil, nil, fmt.Errorf("extent %d ends past logical block 2^32", i)
		}
	}
	return h, nil, ext, nil
}

// extentTailOffset is where the checksum tail of a node with max entries
// sits.
func extentTailOffset(max uint16) int { return extentEntrySize * (int(max) + 1) }

// loadExtentTree reads the whole extent tree of in, validating every node:
// magic, entry counts, depth, block ranges, checksums, no node reached
// twice.
func (f *FS) loadExtentTree(in *inode) (*extNode, error) {
	seen := map[uint64]bool{}
	root := &extNode{}
	if err := f.loadExtentNode(in, root, in.iblock(), -1, seen); err != nil {
		return nil, err
	}
	return root, nil
}

func (f *FS) loadExtentNode(in *inode, n *extNode, b []byte, wantDepth int, seen map[uint64]bool) error {
	off := f.inodeOffset(in.ino) + inodeBlockOff
	what := fmt.Sprintf("extent root of inode %d", in.ino)
	if n.blk != 0 {
		off = int64(n.blk) * f.blockSize
		what = fmt.Sprintf("extent node of inode %d", in.ino)
	}
	if n.blk != 0 && f.metadataCsum && le.Uint16(b) == extentMagic {
		// The checksum first: it tells damage from a format violation.
		t := extentTailOffset(le.Uint16(b[4:]))
		if t+4 > len(b) {
			return corrupt(off, what, "no room for the checksum tail")
		}
		want := crc32c(f.inodeSeed(in.ino, in.d.Generation), b[:t])
		if got := le.Uint32(b[t:]); got != want {
			return badChecksum(off, what, got, want)
		}
	}
	h, idx, ext, err := parseExtentNode(b)
	if err != nil {
		return corrupt(off, what, "%v", err)
	}
	if wantDepth >= 0 && int(h.Depth) != wantDepth {
		return corrupt(off, what, "depth %d, parent expects %d", h.Depth, wantDepth)
	}
	n.hdr, n.idx, n.ext = h, idx, ext
	for i := range ext {
		l, _ := extentLen(&ext[i])
		s := extentStart(&ext[i])
		if s < f.firstDataBlock || s >= f.blocksCount || uint64(l) > f.blocksCount-s {
			return corrupt(off, what, "extent %d maps blocks %d+%d outside the filesystem", i, s, l)
		}
	}
	if h.Depth == 0 {
		return nil
	}
	n.children = make([]*extNode, len(idx))
	buf := make([]byte, f.blockSize)
	for i := range idx {
		c := idxLeaf(&idx[i])
		if c < f.firstDataBlock || c >= f.blocksCount {
			return corrupt(off, what, "index %d points to block %d outside the filesystem", i, c)
		}
		if seen[c] {
			return corrupt(off, what, "index %d points to block %d already in the tree", i, c)
		}
		seen[c] = true
		if err := f.readBlock(c, buf); err != nil {
			return err
		}
		child := &extNode{blk: c}
		if err := f.loadExtentNode(in, child, buf, int(h.Depth)-1, seen); err != nil {
			return err
		}
		if len(child.ext) > 0 && child.ext[0].Block < idx[i].Block ||
			len(child.idx) > 0 && child.idx[0].Block < idx[i].Block {
			return corrupt(off, what, "index %d starts at %d after its child's first entry", i, idx[i].Block)
		}
		n.children[i] = child
	}
	return nil
}

// leaves appends every extent of the tree in logical order.
func (n *extNode) leaves(out []Extent) []Extent {
	if n.hdr.Depth == 0 {
		return append(out, n.ext...)
	}
	for _, c := range n.children {
		out = c.leaves(out)
	}
	return out
}

// extentMapper maps through a flattened, validated list of extents.
type extentMapper struct {
	ext []Extent
}

func (f *FS) newExtentMapper(in *inode) (*extentMapper, error) {
	root, err := f.loadExtentTree(in)
	if err != nil {
		return nil, err
	}
	ext := root.leaves(nil)
	for i := 1; i < len(ext); i++ {
		pl, _ := extentLen(&ext[i-1])
		if uint64(ext[i].Block) < uint64(ext[i-1].Block)+uint64(pl) {
			return nil, corrupt(f.inodeOffset(in.ino), fmt.Sprintf("extent tree of inode %d", in.ino),
				"extents at logical %d and %d overlap", ext[i-1].Block, ext[i].Block)
		}
	}
	return &extentMapper{ext: ext}, nil
}

func (m *extentMapper) lookup(l uint32) (uint64, uint64, error) {
	i := sort.Search(len(m.ext), func(i int) bool {
		n, _ := extentLen(&m.ext[i])
		return uint64(m.ext[i].Block)+uint64(n) > uint64(l)
	})
	if i == len(m.ext) {
		return 0, uint64(1<<32) - uint64(l), nil
	}
	e := &m.ext[i]
	if l < e.Block {
		return 0, uint64(e.Block - l), nil
	}
	n, unwritten := extentLen(e)
	run := uint64(e.Block) + uint64(n) - uint64(l)
	if unwritten {
		return 0, run, nil
	}
	return extentStart(e) + uint64(l-e.Block), run, nil
}

// mapper returns the block mapper of a file with blocks (not inline data).
func (f *FS) mapper(in *inode) (blockMapper, error) {
	if in.flag(inodeFlagExtents) {
		return f.newExtentMapper(in)
	}
	if in.flag(inodeFlagInlineData) {
		return nil, corrupt(f.inodeOffset(in.ino), fmt.Sprintf("inode %d", in.ino), "inline data has no blocks")
	}
	return &indirectMapper{f: f, in: in}, nil
}
