package ext4

import "hash/crc32"

// crc32c is the kernel's crc32c(seed, p): no final inversion, so that
// calls chain: crc32c(crc32c(s, a), b) == crc32c(s, a||b).
func crc32c(seed uint32, p []byte) uint32 {
	// MakeTable(Castagnoli) returns the package's own table, built once.
	return ^crc32.Update(^seed, crc32.MakeTable(crc32.Castagnoli), p)
}

func crc32cU32(seed, v uint32) uint32 {
	var b [4]byte
	le.PutUint32(b[:], v)
	return crc32c(seed, b[:])
}

// crc16 is e2fsprogs' ext2fs_crc16 (CRC-16/ARC, polynomial 0x8005
// reflected), used by gdt_csum group descriptor checksums.
func crc16(crc uint16, p []byte) uint16 {
	for _, b := range p {
		crc ^= uint16(b)
		for i := 0; i < 8; i++ {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0xA001
			} else {
				crc >>= 1
			}
		}
	}
	return crc
}

// sbChecksum is the superblock checksum: crc32c(~0) of its first 0x3FC
// bytes.
func sbChecksum(sb []byte) uint32 {
	return crc32c(^uint32(0), sb[:sbChecksumOffset])
}

// inodeSeed is the per-inode seed of inode, extent, directory and htree
// checksums: crc32c(fs seed, le32 inode number, le32 generation).
func (f *FS) inodeSeed(ino, gen uint32) uint32 {
	return crc32cU32(crc32cU32(f.csumSeed, ino), gen)
}

// gdChecksum computes a group descriptor's checksum field: crc32c&0xFFFF
// with metadata_csum, crc16 with gdt_csum, 0 otherwise.
func (f *FS) gdChecksum(group uint32, raw []byte) uint16 {
	switch {
	case f.metadataCsum:
		c := crc32cU32(f.csumSeed, group)
		c = crc32c(c, raw[:gdChecksumOffset])
		c = crc32c(c, []byte{0, 0})
		if len(raw) > gdChecksumOffset+2 {
			c = crc32c(c, raw[gdChecksumOffset+2:])
		}
		return uint16(c)
	case f.gdtCsum:
		c := crc16(0xFFFF, f.sb.UUID[:])
		var g [4]byte
		le.PutUint32(g[:], group)
		c = crc16(c, g[:])
		c = crc16(c, raw[:gdChecksumOffset])
		if len(raw) > gdChecksumOffset+2 {
			c = crc16(c, raw[gdChecksumOffset+2:])
		}
		return c
	}
	return 0
}

// inodeChecksum computes the full 32-bit inode checksum of raw (s_inode_size
// bytes) with both checksum fields treated as zero.
func (f *FS) inodeChecksum(ino uint32, raw []byte) uint32 {
	gen := le.Uint32(raw[100:])
	c := f.inodeSeed(ino, gen)
	c = crc32c(c, raw[:inodeChecksumLoOff])
	c = crc32c(c, []byte{0, 0})
	c = crc32c(c, raw[inodeChecksumLoOff+2:goodOldInodeSize])
	if len(raw) > goodOldInodeSize {
		extra := int(le.Uint16(raw[inodeExtraIsizeOff:]))
		if extra >= inodeChecksumHiNeed {
			c = crc32c(c, raw[goodOldInodeSize:inodeChecksumHiOff])
			c = crc32c(c, []byte{0, 0})
			c = crc32c(c, raw[inodeChecksumHiOff+2:])
		} else {
			c = crc32c(c, raw[goodOldInodeSize:])
		}
	}
	return c
}

// inodeHasCsumHi reports whether the inode stores the high checksum half.
func inodeHasCsumHi(raw []byte) bool {
	return len(raw) > goodOldInodeSize && int(le.Uint16(raw[inodeExtraIsizeOff:])) >= inodeChecksumHiNeed
}

// dxChecksum is the htree node checksum: crc32c(inode seed) over the
// node up to count entries, then dt_reserved and a zero checksum.
func dxChecksum(seed uint32, block []byte, countOff, count int, tail []byte) uint32 {
	c := crc32c(seed, block[:countOff+count*dxEntrySize])
	c = crc32c(c, tail[:4])
	return crc32c(c, []byte{0, 0, 0, 0})
}

// xattrBlockChecksum is crc32c(fs seed, le64 block number, block with
// h_checksum zeroed).
func (f *FS) xattrBlockChecksum(blk uint64, b []byte) uint32 {
	var n [8]byte
	le.PutUint64(n[:], blk)
	c := crc32c(f.csumSeed, n[:])
	c = crc32c(c, b[:xattrBlockCsumOff])
	c = crc32c(c, []byte{0, 0, 0, 0})
	return crc32c(c, b[xattrBlockCsumOff+4:])
}
