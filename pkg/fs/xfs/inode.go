package xfs

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/imgprep/imgprep/pkg/fs"
)

// Fork formats (xfs_dinode_fmt).
const (
	fmtDev     = 0
	fmtLocal   = 1
	fmtExtents = 2
	fmtBtree   = 3
)

// Inode flags.
const (
	diflagRealtime = 0x1
	diflag2Bigtime = 0x8
	diflag2Nrext64 = 0x10
)

// inode is one inode read and checked.
type inode struct {
	ino  uint64
	d    dinode
	raw  []byte // the whole on-disk inode
	off  int64  // its byte offset
	data []byte // the data fork's literal area
	attr []byte // the attribute fork's literal area, nil if none
}

func (in *inode) mode() uint32 { return uint32(in.d.Mode) }
func (in *inode) isDir() bool  { return in.d.Mode&fs.ModeTypeMask == fs.ModeDir }
func (in *inode) isLink() bool { return in.d.Mode&fs.ModeTypeMask == fs.ModeSymlink }
func (in *inode) isReg() bool  { return in.d.Mode&fs.ModeTypeMask == fs.ModeRegular }
func (in *inode) size() int64  { return int64(in.d.Size) }
func (in *inode) nextents() uint64 {
	if in.d.Flags2&diflag2Nrext64 != 0 {
		return in.d.BigNExtents
	}
	return uint64(in.d.NExtents)
}
func (in *inode) anextents() uint64 {
	if in.d.Flags2&diflag2Nrext64 != 0 {
		return uint64(in.d.NExtents)
	}
	return uint64(in.d.ANExtents)
}

// inodeOffset returns the byte offset of inode ino, checking that it
// names a slot inside the filesystem.
func (f *FS) inodeOffset(ino uint64) (int64, error) {
	agShift := f.g.agBlkLog + f.g.inoPBLog
	ag := uint32(ino >> agShift)
	agino := ino & (1<<agShift - 1)
	bno := agino >> f.g.inoPBLog
	if ino>>agShift >= uint64(f.g.agCount) || bno >= f.agLen(ag) || bno == 0 {
		return 0, &CorruptError{AG: ag, Block: bno, Offset: -1, Structure: fmt.Sprintf("inode %d", ino), Reason: "inode number outside the filesystem"}
	}
	slot := agino & (1<<f.g.inoPBLog - 1)
	return (int64(uint64(ag)*uint64(f.g.agBlocks)+bno) << f.g.blockLog) + int64(slot)<<f.g.inodeLog, nil
}

// readInode reads inode ino and checks its CRC, number, UUID and forks.
func (f *FS) readInode(ino uint64) (*inode, error) {
	off, err := f.inodeOffset(ino)
	if err != nil {
		return nil, err
	}
	raw, err := f.readAt(off, f.g.inodeSize)
	if err != nil {
		return nil, err
	}
	return f.parseInode(ino, raw, off)
}

// parseInode checks the on-disk inode raw, read at off, as inode ino.
func (f *FS) parseInode(ino uint64, raw []byte, off int64) (*inode, error) {
	what := fmt.Sprintf("inode %d", ino)
	in := &inode{ino: ino, raw: raw, off: off}
	if _, err := binary.Decode(raw, binary.BigEndian, &in.d); err != nil || string(in.d.Magic[:]) != "IN" {
		return nil, f.corruptAt(off, what, "bad magic")
	}
	if in.d.Version != 3 {
		return nil, f.corruptAt(off, what, "version %d on a V5 filesystem", in.d.Version)
	}
	if err := f.checkCRC(raw, dinodeCRCOff, off, what); err != nil {
		return nil, err
	}
	if in.d.Ino != ino {
		return nil, f.corruptAt(off, what, "records inode number %d", in.d.Ino)
	}
	if err := f.checkUUID(in.d.UUID, off, what); err != nil {
		return nil, err
	}
	if in.d.Mode == 0 {
		return nil, f.corruptAt(off, what, "free inode")
	}
	lit := raw[dinodeSize:]
	in.data = lit
	if in.d.ForkOff != 0 {
		fo := int(in.d.ForkOff) << 3
		if fo >= len(lit) {
			return nil, f.corruptAt(off, what, "attribute fork offset %d", fo)
		}
		in.data, in.attr = lit[:fo], lit[fo:]
	} else if in.d.AFormat != fmtExtents && in.d.AFormat != 0 || in.anextents() != 0 {
		return nil, f.corruptAt(off, what, "attribute fork format %d without a fork offset", in.d.AFormat)
	}
	if in.d.Size > 1<<63-1 {
		return nil, f.corruptAt(off, what, "size %d", in.d.Size)
	}
	switch in.d.Format {
	case fmtDev:
		t := fs.TypeOfMode(in.mode())
		if t != fs.TypeChar && t != fs.TypeBlock && t != fs.TypeFIFO && t != fs.TypeSocket {
			return nil, f.corruptAt(off, what, "device fork on a %s", t)
		}
	case fmtLocal:
		if !in.isDir() && !in.isLink() || in.d.Size > uint64(len(in.data)) {
			return nil, f.corruptAt(off, what, "local data fork of %d bytes (%d available)", in.d.Size, len(in.data))
		}
	case fmtExtents, fmtBtree:
	default:
		return nil, f.corruptAt(off, what, "data fork format %d", in.d.Format)
	}
	return in, nil
}

// timestamp decodes an inode timestamp: with bigtime, nanoseconds since
// 1901-12-13T20:45:52Z; else seconds and nanoseconds.
func (in *inode) timestamp(v uint64) time.Time {
	if in.d.Flags2&diflag2Bigtime != 0 {
		return time.Unix(int64(v/1e9)-1<<31, int64(v%1e9)).UTC()
	}
	return time.Unix(int64(int32(v>>32)), int64(uint32(v)%1e9)).UTC()
}

// attr converts an inode to fs.Attr.
func (f *FS) attr(in *inode) fs.Attr {
	a := fs.Attr{
		Ino: in.ino, Mode: in.mode(), Nlink: in.d.NLink, UID: in.d.UID, GID: in.d.GID, Size: in.size(),
		Atime: in.timestamp(in.d.ATime), Mtime: in.timestamp(in.d.MTime), Ctime: in.timestamp(in.d.CTime),
		Crtime: in.timestamp(in.d.CrTime),
	}
	if t := a.Type(); (t == fs.TypeChar || t == fs.TypeBlock) && in.d.Format == fmtDev && len(in.data) >= 4 {
		// xfs stores sysv-style dev_t (major << 18 | minor); the kernel
		// reports new_encode_dev.
		d := binary.BigEndian.Uint32(in.data)
		major, minor := d>>18, d&(1<<18-1)
		a.Rdev = minor&0xff | major<<8 | (minor&^0xff)<<12
	}
	return a
}
