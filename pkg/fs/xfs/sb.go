package xfs

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/bits"
	"strings"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// cksum returns the CRC xfs stores for buf with its 4-byte CRC field at
// off: crc32c over the buffer with that field taken as zero
// (xfs_start_cksum_safe), complemented, stored little-endian
// (xfs_end_cksum).
func cksum(buf []byte, off int) uint32 {
	var zero [4]byte
	c := crc32.Update(0, castagnoli, buf[:off])
	c = crc32.Update(c, castagnoli, zero[:])
	return crc32.Update(c, castagnoli, buf[off+4:])
}

// storedCRC reads the little-endian CRC at off.
func storedCRC(buf []byte, off int) uint32 { return binary.LittleEndian.Uint32(buf[off:]) }

// Feature bits (xfs_format.h).
const (
	versionNumBits  = 0x000f
	versionMoreBits = 0x8000
	versionBorgBit  = 0x4000 // ascii-ci

	roCompatFinobt   = 1 << 0
	roCompatRmapbt   = 1 << 1
	roCompatReflink  = 1 << 2
	roCompatInobtCnt = 1 << 3

	incompatFtype       = 1 << 0
	incompatSpinodes    = 1 << 1
	incompatMetaUUID    = 1 << 2
	incompatBigtime     = 1 << 3
	incompatNeedsRepair = 1 << 4
	incompatNrext64     = 1 << 5
	incompatExchange    = 1 << 6
	incompatParent      = 1 << 7
	incompatMetadir     = 1 << 8

	logIncompatXattrs = 1 << 0
)

var roCompatNames = map[uint32]string{roCompatFinobt: "finobt", roCompatRmapbt: "rmapbt", roCompatReflink: "reflink", roCompatInobtCnt: "inobtcount"}

var incompatNames = map[uint32]string{
	incompatFtype: "ftype", incompatSpinodes: "sparse inodes", incompatMetaUUID: "meta_uuid", incompatBigtime: "bigtime",
	incompatNeedsRepair: "needsrepair", incompatNrext64: "nrext64", incompatExchange: "exchange", incompatParent: "parent",
	incompatMetadir: "metadir",
}

// incompatRead are the incompat features this package reads.
const incompatRead = incompatFtype | incompatSpinodes | incompatMetaUUID | incompatBigtime | incompatNeedsRepair |
	incompatNrext64 | incompatExchange | incompatParent

// featureName names bit b of a feature word.
func featureName(names map[uint32]string, word string, b uint32) string {
	if n, ok := names[b]; ok {
		return n
	}
	return fmt.Sprintf("unknown %s feature 0x%x", word, b)
}

// geometry is what the package derives from a valid superblock.
type geometry struct {
	blockSize  int
	blockLog   uint
	sectSize   int
	inodeSize  int
	inodeLog   uint
	inoPBLog   uint
	agBlocks   uint32
	agBlkLog   uint
	agCount    uint32
	dblocks    uint64
	dirBlkSize int
	dirBlkFSBs int
	ftype      bool
	bigtime    bool
	nrext64    bool
	parent     bool
	asciiCI    bool
}

// parseSuperblock validates the primary superblock in buf (one sector or
// more) against the device size and returns the geometry.
func parseSuperblock(buf []byte, size int64) (*superblock, *geometry, error) {
	sb := new(superblock)
	if _, err := binary.Decode(buf, binary.BigEndian, sb); err != nil {
		return nil, nil, fmt.Errorf("%w: superblock: %v", ErrNotXFS, err)
	}
	if string(sb.MagicNum[:]) != "XFSB" {
		return nil, nil, ErrNotXFS
	}
	bad := func(format string, args ...any) error {
		return &CorruptError{Offset: 0, Structure: "superblock", Reason: fmt.Sprintf(format, args...)}
	}
	if v := sb.VersionNum & versionNumBits; v != 5 {
		return nil, nil, fmt.Errorf("%w: a V%d filesystem (only V5, with CRCs, is read; V4 is deprecated)", ErrUnsupported, v)
	}
	if sb.SectSize < 512 || sb.SectSize > 32768 || bits.OnesCount16(sb.SectSize) != 1 || 1<<sb.SectLog != int(sb.SectSize) {
		return nil, nil, bad("sector size %d (log %d)", sb.SectSize, sb.SectLog)
	}
	if int(sb.SectSize) > len(buf) {
		return nil, nil, bad("sector size %d larger than what was read", sb.SectSize)
	}
	if got, want := storedCRC(buf, sbCRCOff), cksum(buf[:sb.SectSize], sbCRCOff); got != want {
		return nil, nil, &CorruptError{Structure: "superblock", Checksum: true, Reason: fmt.Sprintf("CRC 0x%08x, computed 0x%08x", got, want)}
	}
	if sb.BlockSize < 512 || sb.BlockSize > 65536 || bits.OnesCount32(sb.BlockSize) != 1 || 1<<sb.BlockLog != sb.BlockSize ||
		sb.BlockSize < uint32(sb.SectSize) {
		return nil, nil, bad("block size %d (log %d)", sb.BlockSize, sb.BlockLog)
	}
	if sb.InodeSize < 512 || sb.InodeSize > 2048 || bits.OnesCount16(sb.InodeSize) != 1 || 1<<sb.InodeLog != int(sb.InodeSize) ||
		uint32(sb.InodeSize) > sb.BlockSize || int(sb.InoPBlock) != int(sb.BlockSize)/int(sb.InodeSize) || 1<<sb.InoPBLog != int(sb.InoPBlock) {
		return nil, nil, bad("inode size %d, %d per block", sb.InodeSize, sb.InoPBlock)
	}
	if sb.AGCount == 0 || sb.AGBlocks < 16 || sb.AGBlkLog > 31 || sb.AGBlocks > 1<<sb.AGBlkLog || (sb.AGBlkLog > 0 && sb.AGBlocks <= 1<<(sb.AGBlkLog-1)) {
		return nil, nil, bad("%d AGs of %d blocks (log %d)", sb.AGCount, sb.AGBlocks, sb.AGBlkLog)
	}
	if sb.DBlocks == 0 || sb.DBlocks > uint64(sb.AGCount)*uint64(sb.AGBlocks) || sb.DBlocks <= uint64(sb.AGCount-1)*uint64(sb.AGBlocks) {
		return nil, nil, bad("%d blocks in %d AGs of %d", sb.DBlocks, sb.AGCount, sb.AGBlocks)
	}
	if sb.DBlocks > uint64(size)>>sb.BlockLog {
		return nil, nil, bad("%d blocks of %d bytes on a %d-byte device", sb.DBlocks, sb.BlockSize, size)
	}
	if sb.DirBlkLog > 16-sb.BlockLog || int(sb.BlockLog)+int(sb.DirBlkLog) > 16 {
		return nil, nil, bad("directory block log %d", sb.DirBlkLog)
	}
	if u := sb.FeaturesIncompat &^ incompatRead; u != 0 {
		b := uint32(1) << bits.TrailingZeros32(u)
		return nil, nil, fmt.Errorf("%w: incompatible feature %s", ErrUnsupported, featureName(incompatNames, "incompat", b))
	}
	g := &geometry{
		blockSize: int(sb.BlockSize), blockLog: uint(sb.BlockLog), sectSize: int(sb.SectSize),
		inodeSize: int(sb.InodeSize), inodeLog: uint(sb.InodeLog), inoPBLog: uint(sb.InoPBLog),
		agBlocks: sb.AGBlocks, agBlkLog: uint(sb.AGBlkLog), agCount: sb.AGCount, dblocks: sb.DBlocks,
		dirBlkSize: int(sb.BlockSize) << sb.DirBlkLog, dirBlkFSBs: 1 << sb.DirBlkLog,
		ftype:   sb.FeaturesIncompat&incompatFtype != 0,
		bigtime: sb.FeaturesIncompat&incompatBigtime != 0,
		nrext64: sb.FeaturesIncompat&incompatNrext64 != 0,
		parent:  sb.FeaturesIncompat&incompatParent != 0,
		asciiCI: sb.VersionNum&versionBorgBit != 0,
	}
	return sb, g, nil
}

// writeBlocker says which feature of sb keeps a writer away, "" if none
// (the features imgprep's target images carry).
func writeBlocker(sb *superblock) string {
	const roKnown = roCompatFinobt | roCompatRmapbt | roCompatReflink | roCompatInobtCnt
	if u := sb.FeaturesRoCompat &^ roKnown; u != 0 {
		return featureName(roCompatNames, "ro_compat", uint32(1)<<bits.TrailingZeros32(u))
	}
	if sb.FeaturesIncompat&incompatNeedsRepair != 0 {
		return "needsrepair"
	}
	const incompatKnown = incompatFtype | incompatSpinodes | incompatMetaUUID | incompatBigtime
	if u := sb.FeaturesIncompat &^ incompatKnown; u != 0 {
		return featureName(incompatNames, "incompat", uint32(1)<<bits.TrailingZeros32(u))
	}
	if u := sb.FeaturesLogIncompat; u != 0 {
		b := uint32(1) << bits.TrailingZeros32(u)
		if b == logIncompatXattrs {
			return "log_incompat xattrs (logged attribute intents)"
		}
		return fmt.Sprintf("unknown log_incompat feature 0x%x", b)
	}
	if sb.RBlocks != 0 {
		return "real-time device"
	}
	if sb.LogStart == 0 {
		return "external log"
	}
	return ""
}

// cString returns b up to its first NUL.
func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return strings.ToValidUTF8(string(b), "?")
}

// formatUUID renders a UUID in the canonical lower-case form.
func formatUUID(u [16]byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}
