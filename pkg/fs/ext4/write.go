package ext4

// Write machinery. Every change to the filesystem goes through these
// primitives; the create side (create*.go, rename*.go, attr_write*.go)
// builds on them too.
//
// Caching. Inodes and directory/extent/indirect blocks are written through
// at once (writeInode, writeDirBlock, writeBlock). Allocation state — the
// block and inode bitmaps, the group descriptors and the superblock's free
// counts — is kept in memory, marked dirty, and written by Sync, with
// every checksum recomputed. Reads see the cached state.
//
// Primitives (write.go unless named):
//
//	checkWrite() error                    refuse on a read-only FS (the error wraps
//	                                      fs.ErrReadOnly and the refusal reason)
//	allocBlocks(goal, n) (start, got)     up to n contiguous blocks from goal on (at least
//	                                      1); marks them, fixes gd/sb counts, clears
//	                                      BLOCK_UNINIT (computing that bitmap first)
//	checkRuns(runs) / applyRuns(runs)     validate (in range, in use, listed once) and
//	freeRuns(runs)                        then free block runs: all or nothing
//	allocInode(parent, dir) (ino)         an inode from parent's group on; fixes counts,
//	                                      bg_used_dirs, INODE_UNINIT, itable_unused, and
//	                                      gives a BLOCK_UNINIT group a real block bitmap
//	newInode(ino, mode) *inode            zeroed, generation, extra_isize, times now,
//	                                      empty extent root for files/dirs/symlinks
//	freeInodeBit(ino, dir)                clear the bitmap bit and fix the counts
//	writeInode(in)                        encode (keeping unknown bytes and in-inode
//	                                      xattrs), checksum, write
//	addBlocks(in, delta)                  i_blocks in 512-byte or HUGE_FILE units
//	in.setCtime/setMtime/setAtime(t)      timestamps with their _extra fields
//	planTruncate(in, nb) / applyTruncate  (truncate.go) free every mapping at or past
//	                                      logical block nb, extent trees (splitting a
//	                                      partial extent, freeing emptied nodes) and
//	                                      indirect maps; planned and validated first
//	planFree(in) / applyFree(plan)        (remove.go) free an inode: blocks, tree blocks,
//	                                      xattr block reference, dtime, bitmap bit
//	inlineToBlocks(in, n)                 (truncate.go) move inline data to a block
//	lookup(dir, name) (e, loc)            (dir.go) find an entry and where it lives
//	removeDirent(dir, e, loc)             (dirwrite.go) unlink one entry: rec_len joins
//	                                      the previous entry, or inode 0 if first; only
//	                                      the htree leaf changes
//	writeDirBlock(dir, pblk, b)           (dirwrite.go) leaf checksum tail, write
//	Sync() error                          flush bitmaps (with their checksums), group
//	                                      descriptors, superblock
//
// Every multi-step change plans (reads and validates) before it writes,
// so bad input fails with nothing written.
//
// Nothing here takes locks: an FS is used by one goroutine at a time.

import (
	"fmt"
	"math/rand/v2"
	"sort"

	"github.com/imgprep/imgprep/pkg/fs"
)

type bitmapKey struct {
	group uint32
	inode bool
}

// bitmap is one cached block or inode bitmap.
type bitmap struct {
	b     []byte
	dirty bool
}

func (m *bitmap) test(i uint64) bool { return m.b[i/8]&(1<<(i%8)) != 0 }
func (m *bitmap) set(i uint64)       { m.b[i/8] |= 1 << (i % 8) }
func (m *bitmap) clear(i uint64)     { m.b[i/8] &^= 1 << (i % 8) }

// checkWrite returns the refusal error of a read-only FS.
func (f *FS) checkWrite() error {
	f.lastDir = nil // a change may follow
	if f.w == nil {
		return f.roError()
	}
	return nil
}

// loadBitmap returns the (cached) block or inode bitmap of group g. A
// group flagged BLOCK_UNINIT or INODE_UNINIT has no valid bitmap on disk:
// its bitmap is computed instead.
func (f *FS) loadBitmap(g uint32, inodes bool) (*bitmap, error) {
	k := bitmapKey{g, inodes}
	if m, ok := f.bitmaps[k]; ok {
		return m, nil
	}
	m := &bitmap{b: make([]byte, f.blockSize)}
	flags := f.gds[g].Flags
	switch {
	case inodes && f.groupDescCsumOn() && flags&bgInodeUninit != 0:
		f.markPadding(m, uint64(f.inodesPerGroup))
	case !inodes && f.groupDescCsumOn() && flags&bgBlockUninit != 0:
		f.initBlockBitmap(g, m)
	default:
		blk, n := f.gdBlockBitmap(g), f.blocksPerGroup/8
		if inodes {
			blk, n = f.gdInodeBitmap(g), f.inodesPerGroup/8
		}
		if err := f.readBlock(blk, m.b); err != nil {
			return nil, err
		}
		if f.metadataCsum {
			got, want := f.bitmapCsumStored(g, inodes), crc32c(f.csumSeed, m.b[:n])
			if !f.is64() {
				want &= 0xFFFF
			}
			if got != want {
				what := fmt.Sprintf("block bitmap of group %d", g)
				if inodes {
					what = fmt.Sprintf("inode bitmap of group %d", g)
				}
				return nil, badChecksum(int64(blk)*f.blockSize, what, got, want)
			}
		}
	}
	f.bitmaps[k] = m
	return m, nil
}

func (f *FS) bitmapCsumStored(g uint32, inodes bool) uint32 {
	gd := &f.gds[g]
	if inodes {
		v := uint32(gd.InodeBitmapCsumLo)
		if f.is64() {
			v |= uint32(gd.InodeBitmapCsumHi) << 16
		}
		return v
	}
	v := uint32(gd.BlockBitmapCsumLo)
	if f.is64() {
		v |= uint32(gd.BlockBitmapCsumHi) << 16
	}
	return v
}

// markPadding sets the bits from n to the end of the bitmap block, as the
// kernel's ext4_mark_bitmap_end does.
func (f *FS) markPadding(m *bitmap, n uint64) {
	for i := n; i < uint64(f.blockSize)*8; i++ {
		m.set(i)
	}
}

// initBlockBitmap computes the block bitmap of a BLOCK_UNINIT group: the
// superblock and descriptor copies, every group's bitmaps and inode table
// that lie in it, and the padding past the group's last block.
func (f *FS) initBlockBitmap(g uint32, m *bitmap) {
	start := f.groupFirstBlock(g)
	end := start + uint64(f.groupBlocks(g))
	mark := func(blk uint64) {
		if blk >= start && blk < end {
			m.set(blk - start)
		}
	}
	f.groupMetaBlocks(g, mark)
	it := f.itableBlocks()
	for h := uint32(0); h < f.groups; h++ {
		mark(f.gdBlockBitmap(h))
		mark(f.gdInodeBitmap(h))
		t := f.gdInodeTable(h)
		if t+it > start && t < end {
			for b := max(t, start); b < min(t+it, end); b++ {
				mark(b)
			}
		}
	}
	f.markPadding(m, end-start)
}

// blockGroup returns the group of block blk and its index in the group.
func (f *FS) blockGroup(blk uint64) (uint32, uint64) {
	r := blk - f.firstDataBlock
	return uint32(r / uint64(f.blocksPerGroup)), r % uint64(f.blocksPerGroup)
}

// blockRun is count blocks starting at start.
type blockRun struct {
	start, count uint64
}

// checkRuns checks, changing nothing, that every block of runs is inside
// the data area, currently in use, and listed once.
func (f *FS) checkRuns(runs []blockRun) error {
	rs := append([]blockRun(nil), runs...)
	sort.Slice(rs, func(i, j int) bool { return rs[i].start < rs[j].start })
	for i, r := range rs {
		if r.count == 0 || r.start < f.firstDataBlock || r.start >= f.blocksCount || r.count > f.blocksCount-r.start {
			return corrupt(-1, "block list", "blocks %d+%d outside the filesystem", r.start, r.count)
		}
		if i > 0 && rs[i-1].start+rs[i-1].count > r.start {
			return corrupt(-1, "block list", "block %d is referenced twice", r.start)
		}
		if m, ok := f.overlapsMeta(r); ok {
			return corrupt(int64(m.start)*f.blockSize, "block list",
				"blocks %d+%d overlap filesystem metadata at %d+%d", r.start, r.count, m.start, m.count)
		}
		for b := r.start; b < r.start+r.count; {
			g, idx := f.blockGroup(b)
			m, err := f.loadBitmap(g, false)
			if err != nil {
				return err
			}
			for ; b < r.start+r.count && idx < uint64(f.blocksPerGroup); b, idx = b+1, idx+1 {
				if !m.test(idx) {
					return corrupt(int64(f.gdBlockBitmap(g))*f.blockSize, fmt.Sprintf("block bitmap of group %d", g),
						"block %d is referenced but free", b)
				}
			}
		}
	}
	return nil
}

// freeRuns frees every block of runs, all or (after checkRuns fails) none.
func (f *FS) freeRuns(runs []blockRun) error {
	if err := f.checkRuns(runs); err != nil {
		return err
	}
	return f.applyRuns(runs)
}

// applyRuns frees every block of runs, which checkRuns has accepted.
func (f *FS) applyRuns(runs []blockRun) error {
	var total uint64
	for _, r := range runs {
		for b := r.start; b < r.start+r.count; {
			g, idx := f.blockGroup(b)
			m, err := f.loadBitmap(g, false)
			if err != nil {
				return err
			}
			var n uint32
			for ; b < r.start+r.count && idx < uint64(f.blocksPerGroup); b, idx = b+1, idx+1 {
				m.clear(idx)
				n++
			}
			m.dirty = true
			f.gds[g].Flags &^= bgBlockUninit
			f.setGdFreeBlocks(g, f.gdFreeBlocks(g)+n)
			total += uint64(n)
		}
	}
	if total > 0 {
		f.setFreeBlocks(f.freeBlocks() + total)
	}
	return nil
}

// allocBlocks allocates up to n (at least 1) contiguous free blocks,
// searching from goal onwards and wrapping around. It fails with
// fs.ErrNoSpace when no block is free.
func (f *FS) allocBlocks(goal, n uint64) (start, got uint64, err error) {
	if err := f.checkWrite(); err != nil {
		return 0, 0, err
	}
	if n == 0 {
		n = 1
	}
	if goal < f.firstDataBlock || goal >= f.blocksCount {
		goal = f.firstDataBlock
	}
	g0, idx0 := f.blockGroup(goal)
	for i := uint32(0); i <= f.groups; i++ {
		g := (g0 + i) % f.groups
		if f.gdFreeBlocks(g) == 0 {
			continue
		}
		m, err := f.loadBitmap(g, false)
		if err != nil {
			return 0, 0, err
		}
		from := uint64(0)
		if i == 0 {
			from = idx0
		}
		lim := uint64(f.groupBlocks(g))
		for idx := from; idx < lim; idx++ {
			if m.test(idx) {
				continue
			}
			c := uint64(0)
			for idx+c < lim && c < n && !m.test(idx+c) {
				m.set(idx + c)
				c++
			}
			m.dirty = true
			f.gds[g].Flags &^= bgBlockUninit
			f.setGdFreeBlocks(g, f.gdFreeBlocks(g)-uint32(c))
			f.setFreeBlocks(f.freeBlocks() - c)
			return f.groupFirstBlock(g) + idx, c, nil
		}
	}
	return 0, 0, fmt.Errorf("%s: %w", f.name, fs.ErrNoSpace)
}

// allocInode allocates a free inode, preferring parent's group, and fixes
// the free counts, bg_used_dirs (for a directory), INODE_UNINIT and
// bg_itable_unused. The caller must write the inode (newInode +
// writeInode) before Sync.
func (f *FS) allocInode(parent uint32, dir bool) (uint32, error) {
	if err := f.checkWrite(); err != nil {
		return 0, err
	}
	g0 := uint32(0)
	if f.validIno(parent) {
		g0 = (parent - 1) / f.inodesPerGroup
	}
	for i := uint32(0); i < f.groups; i++ {
		g := (g0 + i) % f.groups
		if f.gdFreeInodes(g) == 0 {
			continue
		}
		m, err := f.loadBitmap(g, true)
		if err != nil {
			return 0, err
		}
		first := uint64(0)
		if g == 0 {
			first = uint64(f.sb.FirstIno) - 1
			if f.sb.RevLevel == 0 {
				first = 10
			}
		}
		for idx := first; idx < uint64(f.inodesPerGroup); idx++ {
			if m.test(idx) {
				continue
			}
			if f.groupDescCsumOn() && f.gds[g].Flags&bgBlockUninit != 0 {
				// As the kernel's ext4_new_inode: a group getting its first
				// inode gets a real block bitmap.
				bm, err := f.loadBitmap(g, false)
				if err != nil {
					return 0, err
				}
				bm.dirty = true
				f.gds[g].Flags &^= bgBlockUninit
			}
			m.set(idx)
			m.dirty = true
			f.gds[g].Flags &^= bgInodeUninit
			f.setGdFreeInodes(g, f.gdFreeInodes(g)-1)
			if dir {
				f.setGdUsedDirs(g, f.gdUsedDirs(g)+1)
			}
			if f.groupDescCsumOn() {
				if unused := f.gdItableUnused(g); idx >= uint64(f.inodesPerGroup-unused) {
					f.setGdItableUnused(g, f.inodesPerGroup-uint32(idx)-1)
				}
			}
			f.sb.FreeInodesCount--
			f.sbDirty = true
			return g*f.inodesPerGroup + uint32(idx) + 1, nil
		}
	}
	return 0, fmt.Errorf("%s: no free inode: %w", f.name, fs.ErrNoSpace)
}

// newInode returns a zeroed inode ino with mode, a fresh generation, the
// filesystem's wanted i_extra_isize, and every timestamp set to now.
// Regular files, directories and symlinks on extent filesystems get an
// empty extent root. The caller fills it and calls writeInode.
func (f *FS) newInode(ino uint32, mode uint16) *inode {
	in := &inode{ino: ino, raw: make([]byte, f.inodeSize)}
	in.d.Mode = mode
	in.d.Generation = rand.Uint32()
	if f.inodeSize > goodOldInodeSize {
		extra := uint16(inodeStructSize - goodOldInodeSize)
		if w := f.sb.WantExtraIsize; w >= 4 && int(w) <= f.inodeSize-goodOldInodeSize && w%4 == 0 {
			extra = w
		}
		in.d.ExtraIsize = extra
	}
	now := f.now()
	in.setAtime(now)
	in.setCtime(now)
	in.setMtime(now)
	if in.extraCovers(152) {
		in.d.Crtime, in.d.CrtimeExtra = encodeTime(now)
	}
	if f.sb.FeatureIncompat&incompatExtents != 0 && mode&0xF000 != 0x2000 && mode&0xF000 != 0x6000 &&
		mode&0xF000 != 0x1000 && mode&0xF000 != 0xC000 {
		in.d.Flags |= inodeFlagExtents
		in.d.Block[0] = uint32(extentMagic) | uint32(0)<<16 // eh_magic, eh_entries 0
		in.d.Block[1] = uint32(extentRootEntries)           // eh_max 4, eh_depth 0
	}
	return in
}

// freeInodeBit clears ino's bitmap bit and fixes the counts.
func (f *FS) freeInodeBit(ino uint32, dir bool) error {
	g, idx := (ino-1)/f.inodesPerGroup, uint64((ino-1)%f.inodesPerGroup)
	m, err := f.loadBitmap(g, true)
	if err != nil {
		return err
	}
	if !m.test(idx) {
		return corrupt(int64(f.gdInodeBitmap(g))*f.blockSize, fmt.Sprintf("inode bitmap of group %d", g),
			"inode %d is in use but marked free", ino)
	}
	m.clear(idx)
	m.dirty = true
	f.setGdFreeInodes(g, f.gdFreeInodes(g)+1)
	if dir {
		if u := f.gdUsedDirs(g); u > 0 {
			f.setGdUsedDirs(g, u-1)
		}
	}
	f.sb.FreeInodesCount++
	f.sbDirty = true
	return nil
}

// Sync writes the cached allocation state: dirty bitmaps (checksums into
// their descriptors), dirty group descriptors, and the superblock.
func (f *FS) Sync() error {
	if f.w == nil {
		return nil
	}
	for k, m := range f.bitmaps {
		if !m.dirty {
			continue
		}
		gd := &f.gds[k.group]
		blk, n := f.gdBlockBitmap(k.group), f.blocksPerGroup/8
		if k.inode {
			blk, n = f.gdInodeBitmap(k.group), f.inodesPerGroup/8
		}
		if f.metadataCsum {
			c := crc32c(f.csumSeed, m.b[:n])
			if k.inode {
				gd.InodeBitmapCsumLo = uint16(c)
				if f.is64() {
					gd.InodeBitmapCsumHi = uint16(c >> 16)
				}
			} else {
				gd.BlockBitmapCsumLo = uint16(c)
				if f.is64() {
					gd.BlockBitmapCsumHi = uint16(c >> 16)
				}
			}
		}
		f.gdDirty[k.group] = true
		if err := f.writeBlock(blk, m.b); err != nil {
			return err
		}
		m.dirty = false
	}
	if err := f.writeGroupDescs(); err != nil {
		return err
	}
	if f.sbDirty {
		encode(f.sbRaw, &f.sb)
		if f.metadataCsum {
			f.sb.Checksum = sbChecksum(f.sbRaw)
			le.PutUint32(f.sbRaw[sbChecksumOffset:], f.sb.Checksum)
		}
		if err := f.writeAt(f.sbRaw, superblockOffset); err != nil {
			return err
		}
		f.sbDirty = false
	}
	if f.uuidBackups {
		if err := f.writeUUIDBackups(); err != nil {
			return err
		}
		f.uuidBackups = false
	}
	return nil
}

// overlapsMeta reports the fixed metadata run r overlaps, if any: a file
// claiming a bitmap or inode table block is corrupt, and freeing that
// block would make it worse.
func (f *FS) overlapsMeta(r blockRun) (blockRun, bool) {
	if f.meta == nil {
		it := f.itableBlocks()
		for g := uint32(0); g < f.groups; g++ {
			f.groupMetaBlocks(g, func(b uint64) { f.meta = append(f.meta, blockRun{b, 1}) })
			f.meta = append(f.meta, blockRun{f.gdBlockBitmap(g), 1}, blockRun{f.gdInodeBitmap(g), 1},
				blockRun{f.gdInodeTable(g), it})
		}
		sort.Slice(f.meta, func(i, j int) bool { return f.meta[i].start < f.meta[j].start })
	}
	// The first run starting at or after r's end; any overlap is before
	// it. Metadata runs do not overlap each other on a sound filesystem,
	// and the longest is an inode table, so look back a few.
	i := sort.Search(len(f.meta), func(i int) bool { return f.meta[i].start >= r.start+r.count })
	for j := i - 1; j >= 0 && j >= i-4*int(f.groups+1); j-- {
		m := f.meta[j]
		if m.start+m.count > r.start {
			return m, true
		}
		if m.start+f.itableBlocks() <= r.start {
			break
		}
	}
	return blockRun{}, false
}
