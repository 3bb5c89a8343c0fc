package ext4

import "encoding/binary"

// On-disk structures, field for field as in e2fsprogs lib/ext2fs/ext2_fs.h
// and the kernel's fs/ext4/ext4.h. All are little-endian. Sizes are
// asserted by TestDiskLayoutSizes.

// Superblock is struct ext2_super_block: 1024 bytes at byte 1024.
type Superblock struct {
	InodesCount       uint32
	BlocksCountLo     uint32
	RBlocksCountLo    uint32
	FreeBlocksCountLo uint32
	FreeInodesCount   uint32
	FirstDataBlock    uint32
	LogBlockSize      uint32
	LogClusterSize    uint32
	BlocksPerGroup    uint32
	ClustersPerGroup  uint32
	InodesPerGroup    uint32
	Mtime             uint32
	Wtime             uint32
	MntCount          uint16
	MaxMntCount       int16
	Magic             uint16
	State             uint16
	Errors            uint16
	MinorRevLevel     uint16
	Lastcheck         uint32
	Checkinterval     uint32
	CreatorOS         uint32
	RevLevel          uint32
	DefResuid         uint16
	DefResgid         uint16
	FirstIno          uint32
	InodeSize         uint16
	BlockGroupNr      uint16
	FeatureCompat     uint32
	FeatureIncompat   uint32
	FeatureROCompat   uint32
	UUID              [16]byte
	VolumeName        [16]byte
	LastMounted       [64]byte
	AlgorithmUsage    uint32
	PreallocBlocks    uint8
	PreallocDirBlocks uint8
	ReservedGDTBlocks uint16
	JournalUUID       [16]byte
	JournalInum       uint32
	JournalDev        uint32
	LastOrphan        uint32
	HashSeed          [4]uint32
	DefHashVersion    uint8
	JnlBackupType     uint8
	DescSize          uint16
	DefaultMountOpts  uint32
	FirstMetaBg       uint32
	MkfsTime          uint32
	JnlBlocks         [17]uint32
	BlocksCountHi     uint32
	RBlocksCountHi    uint32
	FreeBlocksCountHi uint32
	MinExtraIsize     uint16
	WantExtraIsize    uint16
	Flags             uint32
	RaidStride        uint16
	MMPUpdateInterval uint16
	MMPBlock          uint64
	RaidStripeWidth   uint32
	LogGroupsPerFlex  uint8
	ChecksumType      uint8
	EncryptionLevel   uint8
	ReservedPad       uint8
	KbytesWritten     uint64
	SnapshotInum      uint32
	SnapshotID        uint32
	SnapshotRBlocks   uint64
	SnapshotList      uint32
	ErrorCount        uint32
	FirstErrorTime    uint32
	FirstErrorIno     uint32
	FirstErrorBlock   uint64
	FirstErrorFunc    [32]byte
	FirstErrorLine    uint32
	LastErrorTime     uint32
	LastErrorIno      uint32
	LastErrorLine     uint32
	LastErrorBlock    uint64
	LastErrorFunc     [32]byte
	MountOpts         [64]byte
	UsrQuotaInum      uint32
	GrpQuotaInum      uint32
	OverheadClusters  uint32
	BackupBgs         [2]uint32
	EncryptAlgos      [4]uint8
	EncryptPwSalt     [16]byte
	LpfIno            uint32
	PrjQuotaInum      uint32
	ChecksumSeed      uint32
	WtimeHi           uint8
	MtimeHi           uint8
	MkfsTimeHi        uint8
	LastcheckHi       uint8
	FirstErrorTimeHi  uint8
	LastErrorTimeHi   uint8
	FirstErrorErrcode uint8
	LastErrorErrcode  uint8
	Encoding          uint16
	EncodingFlags     uint16
	OrphanFileInum    uint32
	Reserved          [94]uint32
	Checksum          uint32
}

const (
	superblockOffset = 1024
	superblockSize   = 1024
	superMagic       = 0xEF53
	sbChecksumOffset = 0x3FC
)

// GroupDesc is struct ext4_group_desc, 64 bytes; with 32-byte descriptors
// (no 64bit feature) only the first 32 bytes, up to Checksum, exist.
type GroupDesc struct {
	BlockBitmapLo     uint32
	InodeBitmapLo     uint32
	InodeTableLo      uint32
	FreeBlocksCountLo uint16
	FreeInodesCountLo uint16
	UsedDirsCountLo   uint16
	Flags             uint16
	ExcludeBitmapLo   uint32
	BlockBitmapCsumLo uint16
	InodeBitmapCsumLo uint16
	ItableUnusedLo    uint16
	Checksum          uint16
	BlockBitmapHi     uint32
	InodeBitmapHi     uint32
	InodeTableHi      uint32
	FreeBlocksCountHi uint16
	FreeInodesCountHi uint16
	UsedDirsCountHi   uint16
	ItableUnusedHi    uint16
	ExcludeBitmapHi   uint32
	BlockBitmapCsumHi uint16
	InodeBitmapCsumHi uint16
	Reserved          uint32
}

const (
	gdSize32         = 32
	gdSize64         = 64
	gdChecksumOffset = 30
)

// Group descriptor flags (bg_flags).
const (
	bgInodeUninit = 0x1
	bgBlockUninit = 0x2
	bgInodeZeroed = 0x4
)

// Inode is struct ext4_inode: 128 bytes of the original ext2 inode plus
// the extra fields that exist when i_extra_isize covers them.
type Inode struct {
	Mode        uint16
	UID         uint16
	SizeLo      uint32
	Atime       uint32
	Ctime       uint32
	Mtime       uint32
	Dtime       uint32
	GID         uint16
	LinksCount  uint16
	BlocksLo    uint32
	Flags       uint32
	Version     uint32 // osd1.linux1.l_i_version
	Block       [15]uint32
	Generation  uint32
	FileACLLo   uint32
	SizeHigh    uint32
	ObsoFaddr   uint32
	BlocksHigh  uint16 // osd2.linux2
	FileACLHigh uint16
	UIDHigh     uint16
	GIDHigh     uint16
	ChecksumLo  uint16
	Reserved    uint16
	// Fields past the good old 128 bytes, valid up to 128+ExtraIsize.
	ExtraIsize  uint16
	ChecksumHi  uint16
	CtimeExtra  uint32
	MtimeExtra  uint32
	AtimeExtra  uint32
	Crtime      uint32
	CrtimeExtra uint32
	VersionHi   uint32
	Projid      uint32
}

const (
	goodOldInodeSize    = 128
	inodeStructSize     = 160
	inodeChecksumLoOff  = 124
	inodeChecksumHiOff  = 130
	inodeBlockOff       = 40
	inodeBlockLen       = 60
	inodeExtraIsizeOff  = 128
	inodeChecksumHiNeed = 4 // i_extra_isize must reach past i_checksum_hi
)

// Inode flags (i_flags) this package acts on.
const (
	inodeFlagSecrm      = 0x1
	inodeFlagIndex      = 0x1000     // EXT4_INDEX_FL: hashed directory
	inodeFlagHugeFile   = 0x40000    // EXT4_HUGE_FILE_FL: i_blocks in fs blocks
	inodeFlagExtents    = 0x80000    // EXT4_EXTENTS_FL
	inodeFlagVerity     = 0x100000   // EXT4_VERITY_FL
	inodeFlagEAInode    = 0x200000   // EXT4_EA_INODE_FL
	inodeFlagInlineData = 0x10000000 // EXT4_INLINE_DATA_FL
	inodeFlagEncrypt    = 0x800      // EXT4_ENCRYPT_FL
	inodeFlagCasefold   = 0x40000000 // EXT4_CASEFOLD_FL
)

// ExtentHeader is struct ext4_extent_header.
type ExtentHeader struct {
	Magic      uint16
	Entries    uint16
	Max        uint16
	Depth      uint16
	Generation uint32
}

// ExtentIdx is struct ext4_extent_idx, an entry of an interior node.
type ExtentIdx struct {
	Block  uint32
	LeafLo uint32
	LeafHi uint16
	Unused uint16
}

// Extent is struct ext4_extent, an entry of a leaf.
type Extent struct {
	Block   uint32
	Len     uint16
	StartHi uint16
	StartLo uint32
}

// ExtentTail is struct ext4_extent_tail, after eh_max entries of a
// non-root node.
type ExtentTail struct {
	Checksum uint32
}

const (
	extentMagic       = 0xF30A
	extentEntrySize   = 12
	extentMaxDepth    = 5
	extentInitMaxLen  = 32768
	extentRootEntries = 4
)

// DirEntry2 is struct ext4_dir_entry_2 without its name: the header of a
// directory entry when the filetype feature is on.
type DirEntry2 struct {
	Inode    uint32
	RecLen   uint16
	NameLen  uint8
	FileType uint8
}

// DirEntry1 is struct ext4_dir_entry: the header without the filetype
// feature, with a 16-bit name length.
type DirEntry1 struct {
	Inode   uint32
	RecLen  uint16
	NameLen uint16
}

// DirEntryTail is struct ext4_dir_entry_tail, the fake entry at the end
// of a leaf block that holds the block's checksum.
type DirEntryTail struct {
	ReservedZero1 uint32
	RecLen        uint16
	ReservedZero2 uint8
	ReservedFT    uint8
	Checksum      uint32
}

const (
	dirEntryHeaderSize = 8
	dirTailSize        = 12
	dirTailFT          = 0xDE
	maxNameLen         = 255
)

// DxRootInfo is struct dx_root_info, after the "." and ".." entries of
// an htree root block.
type DxRootInfo struct {
	ReservedZero   uint32
	HashVersion    uint8
	InfoLength     uint8
	IndirectLevels uint8
	UnusedFlags    uint8
}

// DxCountLimit is struct dx_countlimit, which overlays the first dx_entry.
type DxCountLimit struct {
	Limit uint16
	Count uint16
}

// DxEntry is struct dx_entry.
type DxEntry struct {
	Hash  uint32
	Block uint32
}

// DxTail is struct dx_tail, after limit entries of an htree node.
type DxTail struct {
	Reserved uint32
	Checksum uint32
}

const (
	dxRootInfoOffset = 24 // after "." (12 bytes) and ".." header+name (12)
	dxEntrySize      = 8
	dxTailSize       = 8
)

// XattrHeader is struct ext4_xattr_header at the start of an xattr block.
type XattrHeader struct {
	Magic    uint32
	Refcount uint32
	Blocks   uint32
	Hash     uint32
	Checksum uint32
	Reserved [3]uint32
}

// XattrIbodyHeader is struct ext4_xattr_ibody_header, after the inode's
// extra fields.
type XattrIbodyHeader struct {
	Magic uint32
}

// XattrEntry is struct ext4_xattr_entry without its name.
type XattrEntry struct {
	NameLen   uint8
	NameIndex uint8
	ValueOffs uint16
	ValueInum uint32
	ValueSize uint32
	Hash      uint32
}

const (
	xattrMagic        = 0xEA020000
	xattrHeaderSize   = 32
	xattrEntrySize    = 16
	xattrBlockCsumOff = 16
	xattrBlockRefOff  = 4
	xattrBlockHashOff = 12
)

// JournalSuperblockHead is the start of the jbd2 journal superblock
// (journal_superblock_t), big-endian.
type JournalSuperblockHead struct {
	Magic     uint32
	BlockType uint32
	Sequence  uint32
	Blocksize uint32
	Maxlen    uint32
	First     uint32
	SSequence uint32
	Start     uint32
}

const jbd2Magic = 0xC03B3998

// decode fills v from the start of b, little-endian. b must be long
// enough; callers check.
func decode(b []byte, v any) {
	if _, err := binary.Decode(b, binary.LittleEndian, v); err != nil {
		panic("ext4: decode: " + err.Error()) // callers size-check first
	}
}

// encode writes v at the start of b, little-endian.
func encode(b []byte, v any) {
	if _, err := binary.Encode(b, binary.LittleEndian, v); err != nil {
		panic("ext4: encode: " + err.Error())
	}
}

var le = binary.LittleEndian
