package ext4

import (
	"fmt"

	"github.com/imgprep/imgprep/pkg/fs"
)

// blockTrunc is a planned, validated truncation of a file's block map:
// nothing is changed until apply.
type blockTrunc struct {
	runs   []blockRun  // blocks to free: data and tree blocks
	writes []nodeWrite // extent nodes or indirect blocks to rewrite
	root   [15]uint32  // the new i_block
	freed  uint64      // number of blocks in runs
}

type nodeWrite struct {
	blk uint64
	b   []byte
}

func (t *blockTrunc) free(start, n uint64) {
	if n == 0 {
		return
	}
	t.freed += n
	if k := len(t.runs); k > 0 && t.runs[k-1].start+t.runs[k-1].count == start {
		t.runs[k-1].count += n
		return
	}
	t.runs = append(t.runs, blockRun{start, n})
}

// hasBlockMap reports whether in's i_block is a block map or extent tree
// (not a device number, fast symlink target or inline data).
func (f *FS) hasBlockMap(in *inode) bool {
	if in.flag(inodeFlagInlineData) {
		return false
	}
	switch {
	case in.isReg(), in.isDir():
		return true
	case in.isLink():
		return in.size() >= inodeBlockLen // else a fast symlink
	}
	return false
}

// planTruncate plans freeing every block mapped at logical block nb or
// beyond, with the tree blocks that become empty, and checks that every
// block to free is in range, in use and listed once.
func (f *FS) planTruncate(in *inode, nb uint64) (*blockTrunc, error) {
	t := &blockTrunc{root: in.d.Block}
	if !f.hasBlockMap(in) {
		return t, nil
	}
	var err error
	if in.flag(inodeFlagExtents) {
		err = f.planTruncateExtents(in, nb, t)
	} else {
		err = f.planTruncateIndirect(in, nb, t)
	}
	if err != nil {
		return nil, err
	}
	if err := f.checkRuns(t.runs); err != nil {
		return nil, err
	}
	return t, nil
}

// apply writes the changed tree blocks, frees the blocks and updates
// in.d.Block and i_blocks (the caller writes the inode).
func (f *FS) applyTruncate(in *inode, t *blockTrunc) error {
	for _, w := range t.writes {
		if err := f.writeBlock(w.blk, w.b); err != nil {
			return err
		}
	}
	in.d.Block = t.root
	f.addBlocks(in, -int64(t.freed))
	return f.applyRuns(t.runs)
}

func (f *FS) planTruncateExtents(in *inode, nb uint64, t *blockTrunc) error {
	root, err := f.loadExtentTree(in)
	if err != nil {
		return err
	}
	dirty := f.truncExtNode(in, root, nb, t)
	if root.hdr.Entries == 0 && root.hdr.Depth > 0 {
		root.hdr.Depth, root.hdr.Max, dirty = 0, extentRootEntries, true
		root.idx, root.children = nil, nil
	}
	if dirty {
		var b [inodeBlockLen]byte
		root.encode(b[:])
		for i := range t.root {
			t.root[i] = le.Uint32(b[4*i:])
		}
	}
	return nil
}

// truncExtNode drops every mapping at or past nb below n, recording
// frees and rewrites; it reports whether n changed.
func (f *FS) truncExtNode(in *inode, n *extNode, nb uint64, t *blockTrunc) bool {
	dirty := false
	if n.hdr.Depth == 0 {
		keep := n.ext[:0]
		for _, e := range n.ext {
			l, unwritten := extentLen(&e)
			s := uint64(e.Block)
			switch {
			case s >= nb:
				t.free(extentStart(&e), uint64(l))
				dirty = true
				continue
			case s+uint64(l) > nb:
				k := nb - s
				t.free(extentStart(&e)+k, uint64(l)-k)
				e.Len = uint16(k)
				if unwritten {
					e.Len += extentInitMaxLen
				}
				dirty = true
			}
			keep = append(keep, e)
		}
		n.ext = keep
		n.hdr.Entries = uint16(len(keep))
	} else {
		keepIdx, keepChild := n.idx[:0], n.children[:0]
		for i, x := range n.idx {
			c := n.children[i]
			if uint64(x.Block) >= nb {
				f.freeExtSubtree(c, t)
				dirty = true
				continue
			}
			if f.truncExtNode(in, c, nb, t) {
				if c.hdr.Entries == 0 {
					t.free(c.blk, 1)
					dirty = true
					continue
				}
				t.writes = append(t.writes, nodeWrite{c.blk, f.encodeExtBlock(in, c)})
			}
			keepIdx, keepChild = append(keepIdx, x), append(keepChild, c)
		}
		n.idx, n.children = keepIdx, keepChild
		n.hdr.Entries = uint16(len(keepIdx))
	}
	return dirty
}

// freeExtSubtree frees every extent and node block below and including n.
func (f *FS) freeExtSubtree(n *extNode, t *blockTrunc) {
	if n.hdr.Depth == 0 {
		for i := range n.ext {
			l, _ := extentLen(&n.ext[i])
			t.free(extentStart(&n.ext[i]), uint64(l))
		}
	} else {
		for _, c := range n.children {
			f.freeExtSubtree(c, t)
		}
	}
	if n.blk != 0 {
		t.free(n.blk, 1)
	}
}

// encode writes n's header and entries at the start of b.
func (n *extNode) encode(b []byte) {
	clear(b)
	encode(b, &n.hdr)
	for i := range n.idx {
		encode(b[extentEntrySize*(i+1):], &n.idx[i])
	}
	for i := range n.ext {
		encode(b[extentEntrySize*(i+1):], &n.ext[i])
	}
}

// encodeExtBlock returns the block image of non-root node n with its
// checksum tail.
func (f *FS) encodeExtBlock(in *inode, n *extNode) []byte {
	b := make([]byte, f.blockSize)
	n.encode(b)
	if f.metadataCsum {
		off := extentTailOffset(n.hdr.Max)
		le.PutUint32(b[off:], crc32c(f.inodeSeed(in.ino, in.d.Generation), b[:off]))
	}
	return b
}

// planTruncateIndirect plans the truncation of an ext2/3 block map.
func (f *FS) planTruncateIndirect(in *inode, nb uint64, t *blockTrunc) error {
	for i := 0; i < directBlocks; i++ {
		if uint64(i) >= nb && t.root[i] != 0 {
			if err := f.checkPtr(in, uint64(t.root[i])); err != nil {
				return err
			}
			t.free(uint64(t.root[i]), 1)
			t.root[i] = 0
		}
	}
	apb := f.ptrsPerBlock()
	base, span := uint64(directBlocks), apb
	for lvl := 1; lvl <= 3; lvl++ {
		slot := directBlocks + lvl - 1
		if p := uint64(t.root[slot]); p != 0 && base+span > nb {
			empty, err := f.truncIndirect(in, p, lvl, base, nb, t)
			if err != nil {
				return err
			}
			if empty {
				t.free(p, 1)
				t.root[slot] = 0
			}
		}
		base += span
		span *= apb
	}
	return nil
}

func (f *FS) checkPtr(in *inode, p uint64) error {
	if p < f.firstDataBlock || p >= f.blocksCount {
		return corrupt(f.inodeOffset(in.ino), fmt.Sprintf("block map of inode %d", in.ino), "block %d outside the filesystem", p)
	}
	return nil
}

// truncIndirect truncates the level-lvl indirect block p, which maps
// logical blocks from base, at nb. It reports whether p ends up empty
// (the caller frees it).
func (f *FS) truncIndirect(in *inode, p uint64, lvl int, base, nb uint64, t *blockTrunc) (bool, error) {
	ent, err := f.readIndirect(in.ino, p)
	if err != nil {
		return false, err
	}
	childSpan := uint64(1)
	for i := 1; i < lvl; i++ {
		childSpan *= f.ptrsPerBlock()
	}
	changed, empty := false, true
	for i, c := range ent {
		if c == 0 {
			continue
		}
		cb := base + uint64(i)*childSpan
		switch {
		case cb+childSpan <= nb:
			empty = false
		case lvl == 1:
			t.free(uint64(c), 1)
			ent[i], changed = 0, true
		default:
			cempty, err := f.truncIndirect(in, uint64(c), lvl-1, cb, nb, t)
			if err != nil {
				return false, err
			}
			if cempty {
				t.free(uint64(c), 1)
				ent[i], changed = 0, true
			} else {
				empty = false
			}
		}
	}
	if changed && !empty {
		b := make([]byte, f.blockSize)
		for i, c := range ent {
			le.PutUint32(b[4*i:], c)
		}
		t.writes = append(t.writes, nodeWrite{p, b})
	}
	return empty, nil
}

// truncate sets the size of regular file ino, freeing the blocks past the
// new end. Growing leaves a hole.
func (f *FS) truncate(ino fs.Ino, size int64) error {
	if size < 0 {
		return fmt.Errorf("%w: negative size %d", fs.ErrInvalid, size)
	}
	in, err := f.inodeOf(ino)
	if err != nil {
		return err
	}
	if err := checkRegular(in); err != nil {
		return err
	}
	if in.flag(inodeFlagVerity) {
		return fmt.Errorf("%w: verity file", ErrUnsupportedFeature)
	}
	cur := in.size()
	if in.flag(inodeFlagInlineData) {
		if err := f.truncateInline(in, cur, size); err != nil {
			return err
		}
	} else if size < cur {
		bs := f.blockSize
		nb := uint64((size + bs - 1) / bs)
		t, err := f.planTruncate(in, nb)
		if err != nil {
			return err
		}
		if size%bs != 0 {
			if err := f.zeroTail(in, size); err != nil {
				return err
			}
		}
		if err := f.applyTruncate(in, t); err != nil {
			return err
		}
	} else if size > 1<<32*f.blockSize || !in.flag(inodeFlagExtents) && uint64(size/f.blockSize) > f.maxIndirectBlocks() {
		return fmt.Errorf("%w: size %d beyond the largest file", fs.ErrInvalid, size)
	}
	in.setSize(size)
	if size > 1<<31-1 && f.sb.FeatureROCompat&roCompatLargeFile == 0 {
		f.sb.FeatureROCompat |= roCompatLargeFile // as the kernel on a first large file
		f.sbDirty = true
	}
	now := f.now()
	in.setMtime(now)
	in.setCtime(now)
	return f.writeInode(in)
}

func (f *FS) maxIndirectBlocks() uint64 {
	apb := f.ptrsPerBlock()
	return directBlocks + apb + apb*apb + apb*apb*apb
}

// zeroTail zeroes the bytes of the block holding offset size that lie
// past it, so that growing the file later reads zeros there.
func (f *FS) zeroTail(in *inode, size int64) error {
	m, err := f.mapper(in)
	if err != nil {
		return err
	}
	pblk, _, err := m.lookup(uint32(size / f.blockSize))
	if err != nil || pblk == 0 {
		return err
	}
	b := make([]byte, f.blockSize)
	if err := f.readBlock(pblk, b); err != nil {
		return err
	}
	clear(b[size%f.blockSize:])
	return f.writeBlock(pblk, b)
}

// truncateInline changes the size of an inline-data file within the room
// it already has (i_block plus the system.data value), zeroing the bytes
// past the new size.
func (f *FS) truncateInline(in *inode, cur, size int64) error {
	_, extra, x, err := f.inlineData(in)
	if err != nil {
		return err
	}
	room := int64(inodeBlockLen + len(extra))
	if size > room {
		return f.inlineToBlocks(in, cur)
	}
	if size < cur {
		data := in.raw[inodeBlockOff : inodeBlockOff+inodeBlockLen]
		if size < inodeBlockLen {
			clear(data[size:])
		}
		if len(extra) > 0 {
			from := max(size-inodeBlockLen, 0)
			clear(extra[from:])
			f.rehashIbodyEntry(in, x, extra)
		}
		in.syncBlockFromRaw()
	}
	return nil
}

// inlineToBlocks moves the first cur bytes of an inline-data file into a
// data block (extent-mapped when the filesystem has extents) and drops
// its system.data attribute, as the kernel's ext4_convert_inline_data.
// The caller sets the new size and writes the inode.
func (f *FS) inlineToBlocks(in *inode, cur int64) error {
	ib, extra, _, err := f.inlineData(in)
	if err != nil {
		return err
	}
	data := append(append([]byte{}, ib...), extra...)[:cur]
	if err := f.checkSpace(false, 1); err != nil {
		return err
	}
	if err := f.removeIbodyXattr(in, 7, "data"); err != nil {
		return err
	}
	in.d.Flags &^= inodeFlagInlineData
	in.d.Block = [15]uint32{}
	clear(in.iblock())
	in.setSize(0)
	if f.sb.FeatureIncompat&incompatExtents != 0 {
		in.d.Flags |= inodeFlagExtents
		if _, err := f.buildExtentTree(in, nil, 0); err != nil {
			return err
		}
	}
	return f.writeNewData(in, data)
}
