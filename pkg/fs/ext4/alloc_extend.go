package ext4

import (
	"fmt"

	"github.com/imgprep/imgprep/pkg/fs"
)

// Allocating blocks for new data and mapping them: extent trees on extent
// filesystems (a depth-0 root of up to 4 extents in i_block, else leaf
// blocks under index nodes), direct/indirect block maps on ext2/ext3.

// extentsPerBlock is eh_max of a non-root extent node: the entries that
// fit after the header, leaving room for the 4-byte checksum tail.
func (f *FS) extentsPerBlock() uint64 {
	return uint64((f.blockSize - extentEntrySize) / extentEntrySize)
}

// extentTreeBlocks is the number of node blocks an extent tree of n
// extents needs (0 when they fit in the inode).
func (f *FS) extentTreeBlocks(n uint64) uint64 {
	per := f.extentsPerBlock()
	var total uint64
	for n > extentRootEntries {
		n = (n + per - 1) / per
		total += n
	}
	return total
}

// indirectMetaBlocks is the number of indirect blocks a block map of
// logical blocks 0..n-1 needs.
func (f *FS) indirectMetaBlocks(n uint64) uint64 {
	apb := f.ptrsPerBlock()
	if n <= directBlocks {
		return 0
	}
	n -= directBlocks
	total := uint64(1) // single
	if n <= apb {
		return total
	}
	n -= apb
	d := min(n, apb*apb)
	total += 1 + (d+apb-1)/apb // double + its children
	if n <= apb*apb {
		return total
	}
	n -= apb * apb
	c1 := (n + apb - 1) / apb
	total += 1 + (c1+apb-1)/apb + c1 // triple + level-2 + level-1 blocks
	return total
}

// metaBlocksFor is the number of mapping blocks n data blocks need in a
// fresh map of in's kind, with a worst-case allowance for how the
// allocator splits them into extents.
func (f *FS) metaBlocksFor(in *inode, n uint64) uint64 {
	if in.flag(inodeFlagExtents) {
		return f.extentTreeBlocks(n) // one extent per block at worst
	}
	return f.indirectMetaBlocks(n)
}

// checkFileSize refuses a file of n blocks the mapping cannot hold.
func (f *FS) checkFileSize(in *inode, size int64) error {
	n := uint64((size + f.blockSize - 1) / f.blockSize)
	if in.flag(inodeFlagExtents) && n > 1<<32-1 || !in.flag(inodeFlagExtents) && n > f.maxIndirectBlocks() {
		return fmt.Errorf("%w: %d bytes is beyond the largest file", fs.ErrInvalid, size)
	}
	blocks512 := (n + f.metaBlocksFor(in, n) + 1) * uint64(f.blockSize/512)
	if !f.hugeFile && blocks512 > 1<<32-1 {
		return fmt.Errorf("%w: %d bytes need huge_file", fs.ErrInvalid, size)
	}
	return nil
}

// inodeGoal is where the data of in is best placed: the start of its
// group, or of its flex group with flex_bg (where the data of every group
// of the flex group follows their packed bitmaps and inode tables).
func (f *FS) inodeGoal(in *inode) uint64 {
	g := (in.ino - 1) / f.inodesPerGroup
	if f.sb.FeatureIncompat&incompatFlexBG != 0 && f.sb.LogGroupsPerFlex < 32 {
		g &^= 1<<f.sb.LogGroupsPerFlex - 1
	}
	return f.groupFirstBlock(g)
}

// runScanGroups bounds how many groups findRun looks at, so that a
// crowded filesystem of many groups costs a bounded number of bitmap
// reads per allocation.
const runScanGroups = 64

// allocRequest asks for count blocks near block goal.
type allocRequest struct {
	goal, count uint64
}

// findRun returns the first block, at or after r.goal (wrapping), of a
// free run of r.count blocks inside one group, looking only at the next
// runScanGroups groups that count that many free blocks; ok is false when
// none has one.
func (f *FS) findRun(r allocRequest) (start uint64, ok bool, err error) {
	goal, n := r.goal, r.count
	if goal < f.firstDataBlock || goal >= f.blocksCount {
		goal = f.firstDataBlock
	}
	g0, idx0 := f.blockGroup(goal)
	for i := uint32(0); i <= f.groups && i <= runScanGroups; i++ {
		g := (g0 + i) % f.groups
		if uint64(f.gdFreeBlocks(g)) < n {
			continue
		}
		m, err := f.loadBitmap(g, false)
		if err != nil {
			return 0, false, err
		}
		from := uint64(0)
		if i == 0 {
			from = idx0
		}
		lim := uint64(f.groupBlocks(g))
		for idx := from; idx+n <= lim; {
			if m.test(idx) {
				idx++
				continue
			}
			c := uint64(0)
			for c < n && !m.test(idx+c) {
				c++
			}
			if c == n {
				return f.groupFirstBlock(g) + idx, true, nil
			}
			idx += c
		}
	}
	return 0, false, nil
}

// allocRuns allocates n blocks near goal, preferring one contiguous run
// (up to a quarter group at a time) over filling the first holes after
// goal; when no such run exists it takes what the allocator finds. On
// failure nothing stays allocated.
func (f *FS) allocRuns(r allocRequest) ([]blockRun, error) {
	goal, n := r.goal, r.count
	var runs []blockRun
	// After findRun fails for w blocks, it is asked again only for w/2 or
	// fewer, so a fragmented filesystem costs O(log n) scans, not O(n).
	failed := uint64(1 << 63)
	for n > 0 {
		if want := min(n, uint64(f.blocksPerGroup)/4); want >= 2 && want <= failed/2 {
			if s, ok, err := f.findRun(allocRequest{goal: goal, count: want}); err != nil {
				return nil, err
			} else if ok {
				goal = s
			} else {
				failed = want
			}
		}
		s, got, err := f.allocBlocks(goal, n)
		if err != nil {
			if len(runs) > 0 {
				if ferr := f.applyRuns(runs); ferr != nil {
					return nil, ferr
				}
			}
			return nil, err
		}
		if k := len(runs); k > 0 && runs[k-1].start+runs[k-1].count == s {
			runs[k-1].count += got
		} else {
			runs = append(runs, blockRun{s, got})
		}
		n -= got
		goal = s + got
	}
	return runs, nil
}

// runsToExtents maps runs onto consecutive logical blocks from first,
// splitting at the 32768-block extent limit.
func runsToExtents(first uint32, runs []blockRun) []Extent {
	var out []Extent
	l := first
	for _, r := range runs {
		for s, n := r.start, r.count; n > 0; {
			c := min(n, extentInitMaxLen)
			out = append(out, Extent{Block: l, Len: uint16(c), StartHi: uint16(s >> 32), StartLo: uint32(s)})
			l += uint32(c)
			s += c
			n -= c
		}
	}
	return out
}

// appendExtent adds the block run at logical l after exts, merging with
// the last extent when both are contiguous.
func appendExtent(exts []Extent, l uint32, r blockRun) []Extent {
	if k := len(exts); k > 0 {
		e := &exts[k-1]
		n, unwritten := extentLen(e)
		if !unwritten && e.Block+n == l && extentStart(e)+uint64(n) == r.start && uint64(n)+r.count <= extentInitMaxLen {
			e.Len += uint16(r.count)
			return exts
		}
	}
	return append(exts, runsToExtents(l, []blockRun{r})...)
}

// buildExtentTree stores exts (in logical order) as in's extent tree:
// in i_block when 4 or fewer, else in node blocks allocated near goal and
// written here. It returns the number of node blocks used; the caller
// accounts them in i_blocks.
func (f *FS) buildExtentTree(in *inode, exts []Extent, goal uint64) (uint64, error) {
	need := f.extentTreeBlocks(uint64(len(exts)))
	var blocks []uint64
	if need > 0 {
		runs, err := f.allocRuns(allocRequest{goal: goal, count: need})
		if err != nil {
			return 0, err
		}
		for _, r := range runs {
			for i := uint64(0); i < r.count; i++ {
				blocks = append(blocks, r.start+i)
			}
		}
	}
	per := int(f.extentsPerBlock())
	root := &extNode{hdr: ExtentHeader{Magic: extentMagic, Max: extentRootEntries}}
	if len(exts) <= extentRootEntries {
		root.ext = exts
		root.hdr.Entries = uint16(len(exts))
	} else {
		// Level by level from the leaves: each level's nodes become the
		// index entries of the next.
		type ref struct {
			first uint32
			blk   uint64
		}
		var refs []ref
		depth := uint16(0)
		for k := 0; k < len(exts); k += per {
			chunk := exts[k:min(k+per, len(exts))]
			n := &extNode{blk: blocks[0], ext: chunk,
				hdr: ExtentHeader{Magic: extentMagic, Entries: uint16(len(chunk)), Max: uint16(per)}}
			blocks = blocks[1:]
			if err := f.writeBlock(n.blk, f.encodeExtBlock(in, n)); err != nil {
				return 0, err
			}
			refs = append(refs, ref{chunk[0].Block, n.blk})
		}
		for len(refs) > extentRootEntries {
			depth++
			var next []ref
			for k := 0; k < len(refs); k += per {
				chunk := refs[k:min(k+per, len(refs))]
				n := &extNode{blk: blocks[0], hdr: ExtentHeader{Magic: extentMagic, Entries: uint16(len(chunk)),
					Max: uint16(per), Depth: depth}}
				blocks = blocks[1:]
				for _, c := range chunk {
					n.idx = append(n.idx, ExtentIdx{Block: c.first, LeafLo: uint32(c.blk), LeafHi: uint16(c.blk >> 32)})
				}
				if err := f.writeBlock(n.blk, f.encodeExtBlock(in, n)); err != nil {
					return 0, err
				}
				next = append(next, ref{chunk[0].first, n.blk})
			}
			refs = next
		}
		root.hdr.Depth = depth + 1
		root.hdr.Entries = uint16(len(refs))
		for _, c := range refs {
			root.idx = append(root.idx, ExtentIdx{Block: c.first, LeafLo: uint32(c.blk), LeafHi: uint16(c.blk >> 32)})
		}
	}
	root.encode(in.iblock())
	in.syncBlockFromRaw()
	in.d.Flags |= inodeFlagExtents
	return need, nil
}

// extentNodeBlocks lists the node blocks (not the root) of tree n.
func extentNodeBlocks(n *extNode, out []blockRun) []blockRun {
	if n.blk != 0 {
		out = append(out, blockRun{n.blk, 1})
	}
	for _, c := range n.children {
		out = extentNodeBlocks(c, out)
	}
	return out
}

// indirectMap edits an ext2/3 block map, creating indirect blocks as
// needed. Indirect blocks are cached and written by flush.
type indirectMap struct {
	f     *FS
	in    *inode
	goal  uint64
	ents  map[uint64][]uint32
	dirty map[uint64]bool
	added uint64 // indirect blocks allocated
}

func (f *FS) newIndirectMap(in *inode, goal uint64) *indirectMap {
	return &indirectMap{f: f, in: in, goal: goal, ents: map[uint64][]uint32{}, dirty: map[uint64]bool{}}
}

func (m *indirectMap) load(blk uint64) ([]uint32, error) {
	if e, ok := m.ents[blk]; ok {
		return e, nil
	}
	e, err := m.f.readIndirect(m.in.ino, blk)
	if err != nil {
		return nil, err
	}
	m.ents[blk] = e
	return e, nil
}

func (m *indirectMap) newBlock() (uint64, error) {
	s, _, err := m.f.allocBlocks(m.goal, 1)
	if err != nil {
		return 0, err
	}
	m.goal = s + 1
	m.ents[s] = make([]uint32, m.f.ptrsPerBlock())
	m.dirty[s] = true
	m.added++
	return s, nil
}

// blockMapping is one logical block mapped to a physical one.
type blockMapping struct {
	logical, physical uint64
}

// set records mapping b in the block map.
func (m *indirectMap) set(b blockMapping) error {
	l, pblk := b.logical, b.physical
	slot, idx, depth, ok := m.f.indirectPath(l)
	if !ok {
		return fmt.Errorf("%w: logical block %d beyond the block map", fs.ErrInvalid, l)
	}
	if depth == 0 {
		m.in.d.Block[slot] = uint32(pblk)
		return nil
	}
	p := uint64(m.in.d.Block[slot])
	if p == 0 {
		nb, err := m.newBlock()
		if err != nil {
			return err
		}
		p = nb
		m.in.d.Block[slot] = uint32(p)
	}
	for lvl := 0; lvl < depth; lvl++ {
		ent, err := m.load(p)
		if err != nil {
			return err
		}
		if lvl == depth-1 {
			ent[idx[lvl]] = uint32(pblk)
			m.dirty[p] = true
			return nil
		}
		c := uint64(ent[idx[lvl]])
		if c == 0 {
			if c, err = m.newBlock(); err != nil {
				return err
			}
			ent[idx[lvl]] = uint32(c)
			m.dirty[p] = true
		}
		p = c
	}
	return nil
}

// flush writes every changed indirect block.
func (m *indirectMap) flush() error {
	b := make([]byte, m.f.blockSize)
	for blk := range m.dirty {
		for i, v := range m.ents[blk] {
			le.PutUint32(b[4*i:], v)
		}
		if err := m.f.writeBlock(blk, b); err != nil {
			return err
		}
	}
	clear(m.dirty)
	return nil
}

// writeNewData gives in, which maps no blocks, the contents data: blocks
// allocated near in's group, the data written, the map built, i_blocks
// and i_size set. The caller has checked the free space.
func (f *FS) writeNewData(in *inode, data []byte) error {
	size := int64(len(data))
	if err := f.checkFileSize(in, size); err != nil {
		return err
	}
	n := uint64((size + f.blockSize - 1) / f.blockSize)
	in.setSize(size)
	if size > 1<<31-1 && f.sb.FeatureROCompat&roCompatLargeFile == 0 {
		f.sb.FeatureROCompat |= roCompatLargeFile
		f.sbDirty = true
	}
	if n == 0 {
		return nil
	}
	goal := f.inodeGoal(in)
	runs, err := f.allocRuns(allocRequest{goal: goal, count: n})
	if err != nil {
		return err
	}
	off := int64(0)
	for _, r := range runs {
		end := min(off+int64(r.count)*f.blockSize, size)
		full := (end - off) / f.blockSize * f.blockSize
		if full > 0 {
			if err := f.writeAt(data[off:off+full], int64(r.start)*f.blockSize); err != nil {
				return err
			}
		}
		if rest := end - off - full; rest > 0 {
			b := make([]byte, f.blockSize)
			copy(b, data[off+full:end])
			if err := f.writeAt(b, int64(r.start)*f.blockSize+full); err != nil {
				return err
			}
		}
		off = end
	}
	last := runs[len(runs)-1]
	meta := uint64(0)
	if in.flag(inodeFlagExtents) {
		meta, err = f.buildExtentTree(in, runsToExtents(0, runs), last.start+last.count)
		if err != nil {
			return err
		}
	} else {
		m := f.newIndirectMap(in, last.start+last.count)
		l := uint64(0)
		for _, r := range runs {
			for i := uint64(0); i < r.count; i++ {
				if err := m.set(blockMapping{logical: l, physical: r.start + i}); err != nil {
					return err
				}
				l++
			}
		}
		if err := m.flush(); err != nil {
			return err
		}
		meta = m.added
	}
	f.addBlocks(in, int64(n+meta))
	return nil
}

// appendBlock maps a newly allocated block at logical block l (the end of
// the file) of in and returns it. It keeps in's kind of map; an extent
// tree is rebuilt (its node blocks replaced) when the new block cannot
// extend the last extent. i_blocks is updated; the caller writes in.
func (f *FS) appendBlock(in *inode, l uint32) (uint64, error) {
	in.syncRawFromBlock()
	goal := f.inodeGoal(in)
	m, err := f.mapper(in)
	if err != nil {
		return 0, err
	}
	if l > 0 {
		if p, _, err := m.lookup(l - 1); err == nil && p != 0 {
			goal = p + 1
		}
	}
	s, _, err := f.allocBlocks(goal, 1)
	if err != nil {
		return 0, err
	}
	if in.flag(inodeFlagExtents) {
		root, err := f.loadExtentTree(in)
		if err != nil {
			return 0, err
		}
		exts := appendExtent(root.leaves(nil), l, blockRun{s, 1})
		old := extentNodeBlocks(root, nil)
		used, err := f.buildExtentTree(in, exts, s+1)
		if err != nil {
			return 0, err
		}
		if len(old) > 0 {
			if err := f.freeRuns(old); err != nil {
				return 0, err
			}
		}
		f.addBlocks(in, 1+int64(used)-int64(len(old)))
		return s, nil
	}
	im := f.newIndirectMap(in, s+1)
	if err := im.set(blockMapping{logical: uint64(l), physical: s}); err != nil {
		return 0, err
	}
	if err := im.flush(); err != nil {
		return 0, err
	}
	f.addBlocks(in, 1+int64(im.added))
	return s, nil
}

// syncRawFromBlock copies in.d.Block into in.raw, so that code reading
// i_block from the raw bytes (the extent tree loader) sees a root set in
// memory, as newInode's.
func (in *inode) syncRawFromBlock() {
	for i, v := range in.d.Block {
		le.PutUint32(in.raw[inodeBlockOff+4*i:], v)
	}
}
