package ext4

import (
	"fmt"
	"time"
)

// inode is one inode as read from disk: its raw bytes (s_inode_size, kept
// so that fields this package does not know and in-inode xattrs survive a
// write-back) and the decoded fields.
type inode struct {
	ino uint32
	raw []byte
	d   Inode
}

// inodeOffset is the byte offset of inode ino (1-based), which the caller
// has range-checked.
func (f *FS) inodeOffset(ino uint32) int64 {
	g := (ino - 1) / f.inodesPerGroup
	idx := (ino - 1) % f.inodesPerGroup
	return int64(f.gdInodeTable(g))*f.blockSize + int64(idx)*int64(f.inodeSize)
}

func (f *FS) validIno(ino uint32) bool {
	return ino >= 1 && ino <= f.sb.InodesCount
}

// readInode reads inode ino and verifies its checksum and i_extra_isize.
func (f *FS) readInode(ino uint32) (*inode, error) {
	if !f.validIno(ino) {
		return nil, corrupt(-1, "inode number", "inode %d outside 1..%d", ino, f.sb.InodesCount)
	}
	off := f.inodeOffset(ino)
	raw := make([]byte, f.inodeSize)
	if _, err := f.r.ReadAt(raw, off); err != nil {
		return nil, fmt.Errorf("%s: reading inode %d: %w", f.name, ino, err)
	}
	return f.parseInode(ino, raw, off)
}

// parseInode decodes raw as inode ino found at byte off.
func (f *FS) parseInode(ino uint32, raw []byte, off int64) (*inode, error) {
	in := &inode{ino: ino, raw: raw}
	var full [inodeStructSize]byte
	n := goodOldInodeSize
	if len(raw) > goodOldInodeSize {
		extra := int(le.Uint16(raw[inodeExtraIsizeOff:]))
		if extra%4 != 0 || goodOldInodeSize+extra > len(raw) {
			return nil, corrupt(off, fmt.Sprintf("inode %d", ino), "i_extra_isize %d", extra)
		}
		n = min(goodOldInodeSize+extra, inodeStructSize)
		if n < goodOldInodeSize+2 {
			n = goodOldInodeSize + 2 // the i_extra_isize field itself
		}
	}
	copy(full[:n], raw)
	decode(full[:], &in.d)
	if in.size() < 0 { // as the kernel's ext4_iget
		return nil, corrupt(off, fmt.Sprintf("inode %d", ino), "negative i_size %d", in.size())
	}
	if f.metadataCsum {
		want := f.inodeChecksum(ino, raw)
		got := uint32(in.d.ChecksumLo)
		if inodeHasCsumHi(raw) {
			got |= uint32(in.d.ChecksumHi) << 16
		} else {
			want &= 0xFFFF
		}
		if got != want && !allZero(raw) {
			return nil, badChecksum(off, fmt.Sprintf("inode %d", ino), got, want)
		}
	}
	return in, nil
}

// writeInode encodes in.d into in.raw, sets the checksum and writes it.
func (f *FS) writeInode(in *inode) error {
	var full [inodeStructSize]byte
	encode(full[:], &in.d)
	n := goodOldInodeSize
	if len(in.raw) > goodOldInodeSize {
		n = min(goodOldInodeSize+int(in.d.ExtraIsize), inodeStructSize, len(in.raw))
		if n < goodOldInodeSize+2 {
			n = goodOldInodeSize + 2
		}
	}
	copy(in.raw[:n], full[:n])
	if f.metadataCsum {
		c := f.inodeChecksum(in.ino, in.raw)
		in.d.ChecksumLo = uint16(c)
		le.PutUint16(in.raw[inodeChecksumLoOff:], uint16(c))
		if inodeHasCsumHi(in.raw) {
			in.d.ChecksumHi = uint16(c >> 16)
			le.PutUint16(in.raw[inodeChecksumHiOff:], uint16(c>>16))
		}
	}
	return f.writeAt(in.raw, f.inodeOffset(in.ino))
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func (in *inode) mode() uint32       { return uint32(in.d.Mode) }
func (in *inode) isDir() bool        { return in.d.Mode&0xF000 == 0x4000 }
func (in *inode) isReg() bool        { return in.d.Mode&0xF000 == 0x8000 }
func (in *inode) isLink() bool       { return in.d.Mode&0xF000 == 0xA000 }
func (in *inode) flag(m uint32) bool { return in.d.Flags&m != 0 }

func (in *inode) size() int64 {
	return int64(uint64(in.d.SizeLo) | uint64(in.d.SizeHigh)<<32)
}

func (in *inode) setSize(n int64) {
	in.d.SizeLo = uint32(n)
	in.d.SizeHigh = uint32(uint64(n) >> 32)
}

func (in *inode) uid() uint32 { return uint32(in.d.UID) | uint32(in.d.UIDHigh)<<16 }
func (in *inode) gid() uint32 { return uint32(in.d.GID) | uint32(in.d.GIDHigh)<<16 }

// fileACL is the block of the inode's external xattrs, 0 for none.
func (f *FS) fileACL(in *inode) uint64 {
	v := uint64(in.d.FileACLLo)
	if f.sb.FeatureIncompat&incompat64bit != 0 {
		v |= uint64(in.d.FileACLHigh) << 32
	}
	return v
}

// blocks512 is i_blocks in 512-byte units.
func (f *FS) blocks512(in *inode) uint64 {
	v := uint64(in.d.BlocksLo)
	if f.hugeFile {
		v |= uint64(in.d.BlocksHigh) << 32
		if in.flag(inodeFlagHugeFile) {
			v *= uint64(f.blockSize / 512)
		}
	}
	return v
}

// setBlocks512 stores i_blocks from a count of 512-byte units, in fs
// blocks when the inode has HUGE_FILE_FL.
func (f *FS) setBlocks512(in *inode, v uint64) {
	if f.hugeFile && in.flag(inodeFlagHugeFile) {
		v /= uint64(f.blockSize / 512)
	}
	in.d.BlocksLo = uint32(v)
	if f.hugeFile {
		in.d.BlocksHigh = uint16(v >> 32)
	}
}

// addBlocks adjusts i_blocks by delta filesystem blocks.
func (f *FS) addBlocks(in *inode, delta int64) {
	cur := int64(f.blocks512(in))
	cur += delta * (f.blockSize / 512)
	if cur < 0 {
		cur = 0
	}
	f.setBlocks512(in, uint64(cur))
}

// extraCovers reports whether i_extra_isize covers the field ending at
// byte end (offset from the inode start).
func (in *inode) extraCovers(end int) bool {
	return len(in.raw) > goodOldInodeSize && goodOldInodeSize+int(in.d.ExtraIsize) >= end
}

func decodeTime(sec uint32, extra uint32, hasExtra bool) time.Time {
	s := int64(int32(sec))
	var ns int64
	if hasExtra {
		s += int64(extra&3) << 32
		ns = int64(extra >> 2)
		if ns > 999999999 {
			ns = 0
		}
	}
	return time.Unix(s, ns).UTC()
}

func encodeTime(t time.Time) (sec uint32, extra uint32) {
	s := t.Unix()
	sec = uint32(s)
	epoch := uint32((s - int64(int32(sec))) >> 32)
	return sec, uint32(t.Nanosecond())<<2 | epoch&3
}

func (in *inode) atime() time.Time {
	return decodeTime(in.d.Atime, in.d.AtimeExtra, in.extraCovers(144))
}
func (in *inode) mtime() time.Time {
	return decodeTime(in.d.Mtime, in.d.MtimeExtra, in.extraCovers(140))
}
func (in *inode) ctime() time.Time {
	return decodeTime(in.d.Ctime, in.d.CtimeExtra, in.extraCovers(136))
}
func (in *inode) crtime() time.Time {
	if !in.extraCovers(148) {
		return time.Time{}
	}
	return decodeTime(in.d.Crtime, in.d.CrtimeExtra, in.extraCovers(152))
}

// setCtime sets ctime (and its extra field when the inode has room).
func (in *inode) setCtime(t time.Time) {
	in.d.Ctime, in.d.CtimeExtra = encodeTime(t)
	if !in.extraCovers(136) {
		in.d.CtimeExtra = 0
	}
}

// setMtime sets mtime (and its extra field when the inode has room).
func (in *inode) setMtime(t time.Time) {
	in.d.Mtime, in.d.MtimeExtra = encodeTime(t)
	if !in.extraCovers(140) {
		in.d.MtimeExtra = 0
	}
}

// setAtime sets atime (and its extra field when the inode has room).
func (in *inode) setAtime(t time.Time) {
	in.d.Atime, in.d.AtimeExtra = encodeTime(t)
	if !in.extraCovers(144) {
		in.d.AtimeExtra = 0
	}
}

// rdev decodes a device number from i_block as the kernel's
// ext4_read_inode does (old 16-bit form in i_block[0], new in i_block[1]).
func (in *inode) rdev() uint32 {
	if in.d.Block[0] != 0 {
		old := in.d.Block[0]
		return (old>>8&0xff)<<8 | old&0xff // old_decode_dev → new_encode_dev
	}
	return in.d.Block[1]
}

// iblock returns the 60 bytes of i_block as stored.
func (in *inode) iblock() []byte {
	return in.raw[inodeBlockOff : inodeBlockOff+inodeBlockLen]
}

// syncBlockFromRaw re-decodes i_block after in.raw was edited in place
// (inline data), so that writeInode keeps the edit.
func (in *inode) syncBlockFromRaw() {
	for i := range in.d.Block {
		in.d.Block[i] = le.Uint32(in.raw[inodeBlockOff+4*i:])
	}
}
