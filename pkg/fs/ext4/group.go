package ext4

import (
	"encoding/binary"
	"fmt"
)

// decodeBE fills v from b, big-endian (the jbd2 journal).
func decodeBE(b []byte, v any) {
	if _, err := binary.Decode(b, binary.BigEndian, v); err != nil {
		panic("ext4: decode: " + err.Error())
	}
}

// groupFirstBlock is the first block of group g.
func (f *FS) groupFirstBlock(g uint32) uint64 {
	return f.firstDataBlock + uint64(g)*uint64(f.blocksPerGroup)
}

// groupBlocks is the number of blocks in group g (the last may be short).
func (f *FS) groupBlocks(g uint32) uint32 {
	if g == f.groups-1 {
		return uint32(f.blocksCount - f.groupFirstBlock(g))
	}
	return f.blocksPerGroup
}

// descBlocks is the number of blocks the group descriptor table needs.
func (f *FS) descBlocks() uint32 {
	return (f.groups + f.descPerBlock - 1) / f.descPerBlock
}

// hasSuper reports whether group g holds a superblock backup (and, without
// meta_bg, a copy of the descriptor table).
func (f *FS) hasSuper(g uint32) bool {
	if g == 0 {
		return true
	}
	if f.sb.FeatureCompat&compatSparseSuper2 != 0 {
		return g == f.sb.BackupBgs[0] || g == f.sb.BackupBgs[1]
	}
	if g <= 1 || f.sb.FeatureROCompat&roCompatSparseSuper == 0 {
		return true
	}
	if g&1 == 0 {
		return false
	}
	for _, base := range []uint32{3, 5, 7} {
		n := base
		for n < g {
			if n > (1<<32-1)/base {
				break
			}
			n *= base
		}
		if n == g {
			return true
		}
	}
	return false
}

// gdtBlock is the block holding the primary copy of descriptor block i.
func (f *FS) gdtBlock(i uint32) uint64 {
	sbBlock := f.firstDataBlock
	if sbBlock == 0 && f.blockSize == 1024 {
		sbBlock = 1 // bigalloc with 1 KiB blocks: the superblock is still block 1
	}
	if f.sb.FeatureIncompat&incompatMetaBG == 0 || i < f.sb.FirstMetaBg {
		return sbBlock + 1 + uint64(i)
	}
	// meta_bg: descriptor block i lives in the first group of meta group i.
	g := i * f.descPerBlock
	blk := f.groupFirstBlock(g)
	if f.hasSuper(g) {
		blk++
	}
	return blk
}

// groupMetaBlocks calls fn for every block of group g that holds the
// superblock, descriptors or reserved descriptor blocks (as
// ext2fs_super_and_bgd_loc2 counts them).
func (f *FS) groupMetaBlocks(g uint32, fn func(blk uint64)) {
	start := f.groupFirstBlock(g)
	hasSuper := f.hasSuper(g)
	if hasSuper {
		fn(start)
	}
	metaBG := f.sb.FeatureIncompat&incompatMetaBG != 0
	var oldDesc uint64
	if metaBG {
		oldDesc = uint64(f.sb.FirstMetaBg)
	} else {
		oldDesc = uint64(f.descBlocks()) + uint64(f.sb.ReservedGDTBlocks)
	}
	mg := g / f.descPerBlock
	if hasSuper && (!metaBG || mg < f.sb.FirstMetaBg) {
		for i := uint64(0); i < oldDesc; i++ {
			fn(start + 1 + i)
		}
	}
	if metaBG && mg >= f.sb.FirstMetaBg {
		r := g % f.descPerBlock
		if r == 0 || r == 1 || r == f.descPerBlock-1 {
			b := start
			if hasSuper {
				b++
			}
			fn(b)
		}
	}
}

// loadGroupDescs reads and validates every group descriptor.
func (f *FS) loadGroupDescs() error {
	nb := f.descBlocks()
	if uint64(nb) > f.blocksCount {
		return corrupt(superblockOffset, "superblock", "%d descriptor blocks", nb)
	}
	f.gds = make([]GroupDesc, f.groups)
	buf := make([]byte, f.blockSize)
	for i := uint32(0); i < nb; i++ {
		blk := f.gdtBlock(i)
		if err := f.readBlock(blk, buf); err != nil {
			return err
		}
		for j := uint32(0); j < f.descPerBlock; j++ {
			g := i*f.descPerBlock + j
			if g >= f.groups {
				break
			}
			raw := buf[int(j)*f.descSize : int(j+1)*f.descSize]
			off := int64(blk)*f.blockSize + int64(j)*int64(f.descSize)
			if err := f.parseGroupDesc(g, raw, off); err != nil {
				return err
			}
		}
	}
	return nil
}

// parseGroupDesc decodes descriptor g from raw and validates it.
func (f *FS) parseGroupDesc(g uint32, raw []byte, off int64) error {
	gd := &f.gds[g]
	var full [gdSize64]byte
	copy(full[:], raw)
	decode(full[:], gd)
	what := fmt.Sprintf("group descriptor %d", g)
	if f.metadataCsum || f.gdtCsum {
		if want := f.gdChecksum(g, raw); gd.Checksum != want {
			return badChecksum(off, what, uint32(gd.Checksum), uint32(want))
		}
	}
	for _, loc := range []struct {
		name string
		blk  uint64
		n    uint64
	}{
		{"block bitmap", f.gdBlockBitmap(g), 1},
		{"inode bitmap", f.gdInodeBitmap(g), 1},
		{"inode table", f.gdInodeTable(g), f.itableBlocks()},
	} {
		if loc.blk <= f.firstDataBlock && f.firstDataBlock > 0 || loc.blk == 0 ||
			loc.blk >= f.blocksCount || loc.n > f.blocksCount-loc.blk {
			return corrupt(off, what, "%s at block %d outside the filesystem", loc.name, loc.blk)
		}
	}
	if f.gdFreeInodes(g) > f.inodesPerGroup || f.gdItableUnused(g) > f.inodesPerGroup {
		return corrupt(off, what, "free inode count %d or unused %d above %d per group",
			f.gdFreeInodes(g), f.gdItableUnused(g), f.inodesPerGroup)
	}
	return nil
}

// encodeGroupDesc returns descriptor g as it goes on disk, checksum set.
func (f *FS) encodeGroupDesc(g uint32) []byte {
	var full [gdSize64]byte
	gd := &f.gds[g]
	encode(full[:], gd)
	raw := make([]byte, f.descSize)
	copy(raw, full[:])
	gd.Checksum = f.gdChecksum(g, raw)
	le.PutUint16(raw[gdChecksumOffset:], gd.Checksum)
	return raw
}

// writeGroupDescs writes every dirty descriptor's primary copy.
func (f *FS) writeGroupDescs() error {
	for g := range f.gdDirty {
		raw := f.encodeGroupDesc(g)
		blk := f.gdtBlock(g / f.descPerBlock)
		off := int64(blk)*f.blockSize + int64(g%f.descPerBlock)*int64(f.descSize)
		if err := f.writeAt(raw, off); err != nil {
			return err
		}
		delete(f.gdDirty, g)
	}
	return nil
}

func (f *FS) is64() bool { return f.descSize >= gdSize64 }

// gdBlock joins a descriptor block number split into lo and hi 32-bit
// halves; the high half exists only in 64-byte descriptors.
func (f *FS) gdBlock(lo, hi uint32) uint64 {
	v := uint64(lo)
	if f.is64() {
		v |= uint64(hi) << 32
	}
	return v
}

// gdCount joins a descriptor count split into lo and hi 16-bit halves;
// the high half exists only in 64-byte descriptors.
func (f *FS) gdCount(lo, hi uint16) uint32 {
	v := uint32(lo)
	if f.is64() {
		v |= uint32(hi) << 16
	}
	return v
}

// setGdCount stores v in the lo and hi halves of a count of descriptor g
// and marks g dirty.
func (f *FS) setGdCount(g uint32, lo, hi *uint16, v uint32) {
	*lo = uint16(v)
	if f.is64() {
		*hi = uint16(v >> 16)
	}
	f.gdDirty[g] = true
}

func (f *FS) gdBlockBitmap(g uint32) uint64 {
	gd := &f.gds[g]
	return f.gdBlock(gd.BlockBitmapLo, gd.BlockBitmapHi)
}

func (f *FS) gdInodeBitmap(g uint32) uint64 {
	gd := &f.gds[g]
	return f.gdBlock(gd.InodeBitmapLo, gd.InodeBitmapHi)
}

func (f *FS) gdInodeTable(g uint32) uint64 {
	gd := &f.gds[g]
	return f.gdBlock(gd.InodeTableLo, gd.InodeTableHi)
}

func (f *FS) gdFreeBlocks(g uint32) uint32 {
	gd := &f.gds[g]
	return f.gdCount(gd.FreeBlocksCountLo, gd.FreeBlocksCountHi)
}

func (f *FS) setGdFreeBlocks(g, v uint32) {
	gd := &f.gds[g]
	f.setGdCount(g, &gd.FreeBlocksCountLo, &gd.FreeBlocksCountHi, v)
}

func (f *FS) gdFreeInodes(g uint32) uint32 {
	gd := &f.gds[g]
	return f.gdCount(gd.FreeInodesCountLo, gd.FreeInodesCountHi)
}

func (f *FS) setGdFreeInodes(g, v uint32) {
	gd := &f.gds[g]
	f.setGdCount(g, &gd.FreeInodesCountLo, &gd.FreeInodesCountHi, v)
}

func (f *FS) gdUsedDirs(g uint32) uint32 {
	gd := &f.gds[g]
	return f.gdCount(gd.UsedDirsCountLo, gd.UsedDirsCountHi)
}

func (f *FS) setGdUsedDirs(g, v uint32) {
	gd := &f.gds[g]
	f.setGdCount(g, &gd.UsedDirsCountLo, &gd.UsedDirsCountHi, v)
}

func (f *FS) gdItableUnused(g uint32) uint32 {
	gd := &f.gds[g]
	return f.gdCount(gd.ItableUnusedLo, gd.ItableUnusedHi)
}

func (f *FS) setGdItableUnused(g, v uint32) {
	gd := &f.gds[g]
	f.setGdCount(g, &gd.ItableUnusedLo, &gd.ItableUnusedHi, v)
}

// itableBlocks is the number of blocks of one group's inode table.
func (f *FS) itableBlocks() uint64 {
	return (uint64(f.inodesPerGroup)*uint64(f.inodeSize) + uint64(f.blockSize) - 1) / uint64(f.blockSize)
}

// groupDescCsumOn reports whether descriptors carry checksums and the
// UNINIT flags are meaningful (gdt_csum or metadata_csum).
func (f *FS) groupDescCsumOn() bool { return f.metadataCsum || f.gdtCsum }
