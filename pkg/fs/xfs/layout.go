package xfs

// On-disk structures, mirroring libxfs/xfs_format.h and xfs_da_format.h
// field by field. Every integer is big-endian except the CRC fields,
// which are little-endian (xfs_cksum.h) and are read by offset. The sizes
// are asserted in layout_test.go.

// superblock is struct xfs_dsb through sb_meta_uuid (264 bytes).
type superblock struct {
	MagicNum            [4]byte  // 0 "XFSB"
	BlockSize           uint32   // 4
	DBlocks             uint64   // 8
	RBlocks             uint64   // 16
	RExtents            uint64   // 24
	UUID                [16]byte // 32
	LogStart            uint64   // 48
	RootIno             uint64   // 56
	RBMIno              uint64   // 64
	RSumIno             uint64   // 72
	RExtSize            uint32   // 80
	AGBlocks            uint32   // 84
	AGCount             uint32   // 88
	RBMBlocks           uint32   // 92
	LogBlocks           uint32   // 96
	VersionNum          uint16   // 100
	SectSize            uint16   // 102
	InodeSize           uint16   // 104
	InoPBlock           uint16   // 106
	FName               [12]byte // 108
	BlockLog            uint8    // 120
	SectLog             uint8    // 121
	InodeLog            uint8    // 122
	InoPBLog            uint8    // 123
	AGBlkLog            uint8    // 124
	RExtSLog            uint8    // 125
	InProgress          uint8    // 126
	IMaxPct             uint8    // 127
	ICount              uint64   // 128
	IFree               uint64   // 136
	FDBlocks            uint64   // 144
	FRExtents           uint64   // 152
	UQuotIno            uint64   // 160
	GQuotIno            uint64   // 168
	QFlags              uint16   // 176
	Flags               uint8    // 178
	SharedVN            uint8    // 179
	InoAlignmt          uint32   // 180
	Unit                uint32   // 184
	Width               uint32   // 188
	DirBlkLog           uint8    // 192
	LogSectLog          uint8    // 193
	LogSectSize         uint16   // 194
	LogSUnit            uint32   // 196
	Features2           uint32   // 200
	BadFeatures2        uint32   // 204
	FeaturesCompat      uint32   // 208
	FeaturesRoCompat    uint32   // 212
	FeaturesIncompat    uint32   // 216
	FeaturesLogIncompat uint32   // 220
	CRC                 uint32   // 224 (little-endian on disk)
	SpinoAlign          uint32   // 228
	PQuotIno            uint64   // 232
	LSN                 uint64   // 240
	MetaUUID            [16]byte // 248
}

const sbCRCOff = 224

// agf is struct xfs_agf (224 bytes).
type agf struct {
	MagicNum       [4]byte    // 0 "XAGF"
	VersionNum     uint32     // 4
	SeqNo          uint32     // 8
	Length         uint32     // 12
	Roots          [3]uint32  // 16 bnobt, cntbt, rmapbt
	Levels         [3]uint32  // 28
	FLFirst        uint32     // 40
	FLLast         uint32     // 44
	FLCount        uint32     // 48
	FreeBlks       uint32     // 52
	Longest        uint32     // 56
	BtreeBlks      uint32     // 60
	UUID           [16]byte   // 64
	RmapBlocks     uint32     // 80
	RefcountBlocks uint32     // 84
	RefcountRoot   uint32     // 88
	RefcountLevel  uint32     // 92
	Spare64        [14]uint64 // 96
	LSN            uint64     // 208
	CRC            uint32     // 216
	Spare2         uint32     // 220
}

const agfCRCOff = 216

// agi is struct xfs_agi (344 bytes).
type agi struct {
	MagicNum   [4]byte    // 0 "XAGI"
	VersionNum uint32     // 4
	SeqNo      uint32     // 8
	Length     uint32     // 12
	Count      uint32     // 16
	Root       uint32     // 20
	Level      uint32     // 24
	FreeCount  uint32     // 28
	NewIno     uint32     // 32
	DirIno     uint32     // 36
	Unlinked   [64]uint32 // 40
	UUID       [16]byte   // 296
	CRC        uint32     // 312
	Pad32      uint32     // 316
	LSN        uint64     // 320
	FreeRoot   uint32     // 328
	FreeLevel  uint32     // 332
	IBlocks    uint32     // 336
	FBlocks    uint32     // 340
}

const agiCRCOff = 312

// agflHeader is struct xfs_agfl's header (36 bytes); the block numbers
// follow.
type agflHeader struct {
	MagicNum [4]byte  // 0 "XAFL"
	SeqNo    uint32   // 4
	UUID     [16]byte // 8
	LSN      uint64   // 24
	CRC      uint32   // 32
}

const agflCRCOff = 32

// dinode is struct xfs_dinode's v3 core (176 bytes); the data fork
// follows at byte 176 (the literal area).
type dinode struct {
	Magic        [2]byte  // 0 "IN"
	Mode         uint16   // 2
	Version      uint8    // 4
	Format       uint8    // 5
	OnLink       uint16   // 6
	UID          uint32   // 8
	GID          uint32   // 12
	NLink        uint32   // 16
	ProjIDLo     uint16   // 20
	ProjIDHi     uint16   // 22
	BigNExtents  uint64   // 24: di_big_nextents (nrext64), else di_pad[6] + di_flushiter
	ATime        uint64   // 32
	MTime        uint64   // 40
	CTime        uint64   // 48
	Size         uint64   // 56
	NBlocks      uint64   // 64
	ExtSize      uint32   // 72
	NExtents     uint32   // 76: di_nextents, or di_big_anextents (nrext64)
	ANExtents    uint16   // 80: di_anextents, or di_nrext64_pad
	ForkOff      uint8    // 82
	AFormat      int8     // 83
	DMEvMask     uint32   // 84
	DMState      uint16   // 88
	Flags        uint16   // 90
	Gen          uint32   // 92
	NextUnlinked uint32   // 96
	CRC          uint32   // 100
	ChangeCount  uint64   // 104
	LSN          uint64   // 112
	Flags2       uint64   // 120
	CowExtSize   uint32   // 128
	Pad2         [12]byte // 132
	CrTime       uint64   // 144
	Ino          uint64   // 152
	UUID         [16]byte // 160
}

const (
	dinodeSize   = 176
	dinodeCRCOff = 100
)

// lblockHeader is the long-form v5 btree block header (struct
// xfs_btree_block with bb_l, 72 bytes): bmbt blocks.
type lblockHeader struct {
	Magic    [4]byte  // 0
	Level    uint16   // 4
	NumRecs  uint16   // 6
	LeftSib  uint64   // 8
	RightSib uint64   // 16
	BlkNo    uint64   // 24
	LSN      uint64   // 32
	UUID     [16]byte // 40
	Owner    uint64   // 56
	CRC      uint32   // 64
	Pad      uint32   // 68
}

const (
	lblockSize   = 72
	lblockCRCOff = 64
)

// sblockHeader is the short-form v5 btree block header (struct
// xfs_btree_block with bb_s, 56 bytes): the per-AG btrees.
type sblockHeader struct {
	Magic    [4]byte  // 0
	Level    uint16   // 4
	NumRecs  uint16   // 6
	LeftSib  uint32   // 8
	RightSib uint32   // 12
	BlkNo    uint64   // 16
	LSN      uint64   // 24
	UUID     [16]byte // 32
	Owner    uint32   // 48
	CRC      uint32   // 52
}

const (
	sblockSize   = 56
	sblockCRCOff = 52
)

// dir3BlkHeader is struct xfs_dir3_blk_hdr (48 bytes): the start of
// directory data, block and free blocks, and of remote symlink-like
// headers with the same layout.
type dir3BlkHeader struct {
	Magic [4]byte  // 0
	CRC   uint32   // 4
	BlkNo uint64   // 8
	LSN   uint64   // 16
	UUID  [16]byte // 24
	Owner uint64   // 40
}

// dir3DataHeader is struct xfs_dir3_data_hdr (64 bytes).
type dir3DataHeader struct {
	Hdr      dir3BlkHeader // 0
	BestFree [3]struct {
		Offset uint16
		Length uint16
	} // 48
	Pad uint32 // 60
}

const (
	dir3DataHeaderSize = 64
	dir3CRCOff         = 4
)

// da3BlkInfo is struct xfs_da3_blkinfo (56 bytes): the start of
// directory leaf and node blocks and of attribute leaf and node blocks.
type da3BlkInfo struct {
	Forw  uint32   // 0
	Back  uint32   // 4
	Magic uint16   // 8
	Pad   uint16   // 10
	CRC   uint32   // 12
	BlkNo uint64   // 16
	LSN   uint64   // 24
	UUID  [16]byte // 32
	Owner uint64   // 48
}

const da3CRCOff = 12

// da3NodeHeader is struct xfs_da3_node_hdr (64 bytes); entries of
// {hashval, before} follow.
type da3NodeHeader struct {
	Info  da3BlkInfo // 0
	Count uint16     // 56
	Level uint16     // 58
	Pad   uint32     // 60
}

// dir3LeafHeader is struct xfs_dir3_leaf_hdr (64 bytes); entries of
// {hashval, address} follow.
type dir3LeafHeader struct {
	Info  da3BlkInfo // 0
	Count uint16     // 56
	Stale uint16     // 58
	Pad   uint32     // 60
}

// dir3FreeHeader is struct xfs_dir3_free_hdr (64 bytes); the bests
// follow as big-endian uint16.
type dir3FreeHeader struct {
	Hdr     dir3BlkHeader // 0
	FirstDB int32         // 48
	NValid  int32         // 52
	NUsed   int32         // 56
	Pad     int32         // 60
}

// attr3LeafHeader is struct xfs_attr3_leaf_hdr (80 bytes); entries of
// attrLeafEntry follow.
type attr3LeafHeader struct {
	Info      da3BlkInfo // 0
	Count     uint16     // 56
	UsedBytes uint16     // 58
	FirstUsed uint16     // 60
	Holes     uint8      // 62
	Pad1      uint8      // 63
	FreeMap   [3]struct {
		Base uint16
		Size uint16
	} // 64
	Pad2 uint32 // 76
}

// attrLeafEntry is struct xfs_attr_leaf_entry (8 bytes).
type attrLeafEntry struct {
	HashVal uint32
	NameIdx uint16
	Flags   uint8
	Pad2    uint8
}

// rmtHeader is struct xfs_dsymlink_hdr and struct xfs_attr3_rmt_hdr,
// which share one layout (56 bytes): the header of every block of a
// remote symlink or a remote attribute value.
type rmtHeader struct {
	Magic  [4]byte  // 0 "XSLM" or "XARM"
	Offset uint32   // 4
	Bytes  uint32   // 8
	CRC    uint32   // 12
	UUID   [16]byte // 16
	Owner  uint64   // 32
	BlkNo  uint64   // 40
	LSN    uint64   // 48
}

const (
	rmtHeaderSize = 56
	rmtCRCOff     = 12
)

// logRecordHeader is the start of struct xlog_rec_header (the fields up
// to h_fmt) in the log.
type logRecordHeader struct {
	MagicNo   uint32 // 0 0xFEEDBABE
	Cycle     uint32 // 4
	Version   uint32 // 8
	Len       uint32 // 12
	LSN       uint64 // 16
	TailLSN   uint64 // 24
	CRC       uint32 // 32
	PrevBlock int32  // 36
	NumLogOps uint32 // 40
}
