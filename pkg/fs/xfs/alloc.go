package xfs

import (
	"encoding/binary"
	"fmt"
	"sort"
)

// Freeing blocks and inodes into single-leaf btrees (xfs_alloc.c's
// xfs_free_ag_extent and xfs_ialloc.c's xfs_difree, without splits).

const (
	allocRecLen = 8  // xfs_alloc_rec: startblock, blockcount
	inoRecLen   = 16 // xfs_inobt_rec
	nullAGIno   = 0xffffffff
)

// agBlock reads short-form btree block agbno of AG ag with the given
// magic, checked, and returns it with its byte offset.
func (f *FS) agBlock(ag uint32, agbno uint32, magic string) ([]byte, int64, error) {
	fsb := uint64(ag)<<f.g.agBlkLog | uint64(agbno)
	b, err := f.readBlocks(fsb, 1, magic+" block")
	if err != nil {
		return nil, 0, err
	}
	off, _ := f.fsbOffset(fsb, 1, "")
	var h sblockHeader
	if _, err := binary.Decode(b, binary.BigEndian, &h); err != nil || string(h.Magic[:]) != magic {
		return nil, 0, f.corruptAt(off, magic+" block", "bad magic")
	}
	if err := f.checkCRC(b, sblockCRCOff, off, magic+" block"); err != nil {
		return nil, 0, err
	}
	if h.Owner != ag || h.BlkNo != uint64(off>>9) || h.Level != 0 {
		return nil, 0, f.corruptAt(off, magic+" block", "owner %d, daddr %d, level %d", h.Owner, h.BlkNo, h.Level)
	}
	return b, off, nil
}

// putSBlock records a short-form btree block with its CRC.
func (f *FS) putSBlock(b []byte, off int64) {
	binary.LittleEndian.PutUint32(b[sblockCRCOff:], cksum(b, sblockCRCOff))
	f.put(off, b)
}

// leafRecs returns the records of recLen bytes of leaf block b, read at
// off, checking that they fit in it.
func (f *FS) leafRecs(b []byte, off int64, recLen int) ([][]byte, error) {
	n := int(binary.BigEndian.Uint16(b[6:]))
	if n > (len(b)-sblockSize)/recLen {
		return nil, f.corruptAt(off, string(b[:4])+" block", "%d records", n)
	}
	out := make([][]byte, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, append([]byte{}, b[sblockSize+recLen*i:sblockSize+recLen*(i+1)]...))
	}
	return out, nil
}

// setRecs writes recs back into leaf block b, or fails when they do not
// fit (a split this package does not make).
func (f *FS) setRecs(b []byte, recs [][]byte, recLen int) error {
	if sblockSize+recLen*len(recs) > len(b) {
		return f.notYet("split a btree block")
	}
	clear(b[sblockSize:])
	for i, r := range recs {
		copy(b[sblockSize+recLen*i:], r)
	}
	binary.BigEndian.PutUint16(b[6:], uint16(len(recs)))
	return nil
}

// agHeader reads AG ag's header sector i (1 AGF, 2 AGI).
func (f *FS) agHeader(ag uint32, i int64) ([]byte, int64, error) {
	off := int64(ag)*int64(f.g.agBlocks)<<f.g.blockLog + i*int64(f.g.sectSize)
	b, err := f.readAt(off, f.g.sectSize)
	return b, off, err
}

func (f *FS) putHeader(b []byte, off int64, crcOff int) {
	binary.LittleEndian.PutUint32(b[crcOff:], cksum(b, crcOff))
	f.put(off, b)
}

// addSBCounter adds d to the superblock's 64-bit counter at off.
func (f *FS) addSBCounter(off int, d int64) error {
	b, err := f.readAt(0, f.g.sectSize)
	if err != nil {
		return err
	}
	binary.BigEndian.PutUint64(b[off:], uint64(int64(binary.BigEndian.Uint64(b[off:]))+d))
	f.putHeader(b, 0, sbCRCOff)
	_, err = binary.Decode(b, binary.BigEndian, f.sb)
	return err
}

// freeFork frees every extent of fork w of in and returns the number of
// blocks freed. Btree-format forks are refused.
func (f *FS) freeFork(in *inode, w int) (uint64, error) {
	format := in.d.Format
	if w == 1 {
		format = uint8(in.d.AFormat)
	}
	if format != fmtExtents {
		if format == fmtBtree {
			return 0, f.notYet("free a btree-format fork")
		}
		return 0, nil
	}
	ext, err := f.extents(in, w)
	if err != nil {
		return 0, err
	}
	var n uint64
	for _, e := range ext {
		ag, bno := f.agOf(e.start)
		if err := f.freeExtent(ag, uint32(bno), uint32(e.count)); err != nil {
			return 0, err
		}
		n += e.count
	}
	return n, nil
}

// freeExtent returns count blocks at agbno of AG ag to the free-space
// btrees, merging with free neighbours, and updates the AGF and the
// superblock's free block count.
func (f *FS) freeExtent(ag, agbno, count uint32) error {
	hdr, hoff, err := f.agHeader(ag, 1)
	if err != nil {
		return err
	}
	var a agf
	binary.Decode(hdr, binary.BigEndian, &a)
	if a.Levels[0] != 1 || a.Levels[1] != 1 {
		return f.notYet("free space into a free-space btree of more than one level")
	}
	if f.sb.FeaturesRoCompat&roCompatReflink != 0 {
		if a.RefcountLevel != 1 {
			return f.notYet("free possibly shared extents")
		}
		rb, _, err := f.agBlock(ag, a.RefcountRoot, "R3FC")
		if err != nil {
			return err
		}
		if binary.BigEndian.Uint16(rb[6:]) != 0 {
			return f.notYet("free extents on a filesystem with shared extents")
		}
	}
	bno, bnoOff, err := f.agBlock(ag, a.Roots[0], "AB3B")
	if err != nil {
		return err
	}
	cnt, cntOff, err := f.agBlock(ag, a.Roots[1], "AB3C")
	if err != nil {
		return err
	}
	rec := func(start, n uint32) []byte {
		r := make([]byte, allocRecLen)
		binary.BigEndian.PutUint32(r, start)
		binary.BigEndian.PutUint32(r[4:], n)
		return r
	}
	get := func(r []byte) (uint32, uint32) { return binary.BigEndian.Uint32(r), binary.BigEndian.Uint32(r[4:]) }
	brecs, err := f.leafRecs(bno, bnoOff, allocRecLen)
	if err != nil {
		return err
	}
	i := sort.Search(len(brecs), func(i int) bool { s, _ := get(brecs[i]); return s >= agbno })
	end := agbno + count
	if i < len(brecs) {
		if s, _ := get(brecs[i]); s < end {
			return f.corruptAt(bnoOff, "AB3B block", "blocks %d+%d freed twice", agbno, count)
		}
	}
	if i > 0 {
		if s, n := get(brecs[i-1]); s+n > agbno {
			return f.corruptAt(bnoOff, "AB3B block", "blocks %d+%d freed twice", agbno, count)
		}
	}
	var gone [][2]uint32 // old records the merge removes, for the cntbt
	start, n := agbno, count
	if i > 0 {
		if s, l := get(brecs[i-1]); s+l == agbno {
			start, n = s, n+l
			gone = append(gone, [2]uint32{s, l})
			brecs = append(brecs[:i-1], brecs[i:]...)
			i--
		}
	}
	if i < len(brecs) {
		if s, l := get(brecs[i]); s == end {
			n += l
			gone = append(gone, [2]uint32{s, l})
			brecs = append(brecs[:i], brecs[i+1:]...)
		}
	}
	brecs = append(brecs[:i], append([][]byte{rec(start, n)}, brecs[i:]...)...)
	crecs, err := f.leafRecs(cnt, cntOff, allocRecLen)
	if err != nil {
		return err
	}
	for _, g := range gone {
		j := -1
		for k, r := range crecs {
			if s, l := get(r); s == g[0] && l == g[1] {
				j = k
			}
		}
		if j < 0 {
			return f.corruptAt(cntOff, "AB3C block", "no record for free extent %d+%d", g[0], g[1])
		}
		crecs = append(crecs[:j], crecs[j+1:]...)
	}
	j := sort.Search(len(crecs), func(k int) bool {
		s, l := get(crecs[k])
		return l > n || (l == n && s >= start)
	})
	crecs = append(crecs[:j], append([][]byte{rec(start, n)}, crecs[j:]...)...)
	if err := f.setRecs(bno, brecs, allocRecLen); err != nil {
		return err
	}
	if err := f.setRecs(cnt, crecs, allocRecLen); err != nil {
		return err
	}
	f.putSBlock(bno, bnoOff)
	f.putSBlock(cnt, cntOff)
	_, longest := get(crecs[len(crecs)-1])
	binary.BigEndian.PutUint32(hdr[52:], a.FreeBlks+count)
	binary.BigEndian.PutUint32(hdr[56:], longest)
	f.putHeader(hdr, hoff, agfCRCOff)
	return f.addSBCounter(144, int64(count)) // sb_fdblocks
}

// freeInode frees inode in: its blocks, its inobt and finobt bit, the
// AGI's and superblock's counts, and the inode itself.
func (f *FS) freeInode(in *inode) error {
	if in.d.NextUnlinked != nullAGIno {
		return fmt.Errorf("%w: inode %d is on an unlinked list", ErrCorrupt, in.ino)
	}
	if in.d.AFormat != fmtLocal && in.attr != nil && in.d.AFormat != fmtExtents {
		return f.notYet("free a btree-format attribute fork")
	}
	if in.d.Format == fmtBtree {
		return f.notYet("free a btree-format data fork")
	}
	if in.d.Format == fmtExtents {
		if _, err := f.freeFork(in, 0); err != nil {
			return err
		}
	}
	if in.attr != nil && in.d.AFormat == fmtExtents {
		if _, err := f.freeFork(in, 1); err != nil {
			return err
		}
	}
	agShift := f.g.agBlkLog + f.g.inoPBLog
	ag := uint32(in.ino >> agShift)
	agino := uint32(in.ino & (1<<agShift - 1))
	hdr, hoff, err := f.agHeader(ag, 2)
	if err != nil {
		return err
	}
	var a agi
	binary.Decode(hdr, binary.BigEndian, &a)
	if a.Level != 1 {
		return f.notYet("free inodes into an inode btree of more than one level")
	}
	ib, ioff, err := f.agBlock(ag, a.Root, "IAB3")
	if err != nil {
		return err
	}
	recs, err := f.leafRecs(ib, ioff, inoRecLen)
	if err != nil {
		return err
	}
	k := -1
	for i, r := range recs {
		if s := binary.BigEndian.Uint32(r); agino >= s && agino < s+64 {
			k = i
		}
	}
	if k < 0 {
		return f.corruptAt(ioff, "IAB3 block", "no inode chunk holds inode %d", in.ino)
	}
	r := recs[k]
	bit := agino - binary.BigEndian.Uint32(r)
	free := binary.BigEndian.Uint64(r[8:])
	if free&(1<<bit) != 0 || binary.BigEndian.Uint16(r[4:])&(1<<(bit/4)) != 0 {
		return f.corruptAt(ioff, "IAB3 block", "inode %d already free", in.ino)
	}
	free |= 1 << bit
	binary.BigEndian.PutUint64(r[8:], free)
	r[7]++ // ir_freecount (sparse inode record)
	if err := f.setRecs(ib, recs, inoRecLen); err != nil {
		return err
	}
	f.putSBlock(ib, ioff)
	if f.sb.FeaturesRoCompat&roCompatFinobt != 0 {
		if a.FreeLevel != 1 {
			return f.notYet("update a free inode btree of more than one level")
		}
		fb, foff, err := f.agBlock(ag, a.FreeRoot, "FIB3")
		if err != nil {
			return err
		}
		frecs, err := f.leafRecs(fb, foff, inoRecLen)
		if err != nil {
			return err
		}
		start := binary.BigEndian.Uint32(r)
		j := sort.Search(len(frecs), func(i int) bool { return binary.BigEndian.Uint32(frecs[i]) >= start })
		if j < len(frecs) && binary.BigEndian.Uint32(frecs[j]) == start {
			frecs[j] = r
		} else {
			frecs = append(frecs[:j], append([][]byte{r}, frecs[j:]...)...)
		}
		if err := f.setRecs(fb, frecs, inoRecLen); err != nil {
			return err
		}
		f.putSBlock(fb, foff)
	}
	binary.BigEndian.PutUint32(hdr[28:], a.FreeCount+1)
	f.putHeader(hdr, hoff, agiCRCOff)
	if err := f.addSBCounter(136, 1); err != nil { // sb_ifree
		return err
	}
	// The inode itself, as xfs_ifree leaves it.
	raw := in.raw
	binary.BigEndian.PutUint16(raw[2:], 0) // di_mode
	raw[5], raw[83] = fmtExtents, fmtExtents
	binary.BigEndian.PutUint32(raw[16:], 0) // di_nlink
	binary.BigEndian.PutUint64(raw[56:], 0) // di_size
	binary.BigEndian.PutUint64(raw[64:], 0) // di_nblocks
	binary.BigEndian.PutUint32(raw[72:], 0) // di_extsize
	binary.BigEndian.PutUint32(raw[76:], 0) // di_nextents
	binary.BigEndian.PutUint16(raw[80:], 0) // di_anextents
	raw[82] = 0                             // di_forkoff
	binary.BigEndian.PutUint32(raw[84:], 0)
	binary.BigEndian.PutUint16(raw[88:], 0)
	binary.BigEndian.PutUint16(raw[90:], 0)          // di_flags
	binary.BigEndian.PutUint32(raw[92:], in.d.Gen+1) // di_gen
	binary.BigEndian.PutUint64(raw[120:], in.d.Flags2&diflag2Bigtime)
	clear(raw[dinodeSize:])
	f.stamp(in, f.now(), true)
	f.putInode(in)
	return nil
}
