package guest

// On-disk headers the prober reads, as their specifications lay them out.
// Only the leading fields a prober needs are declared; each struct is
// decoded with encoding/binary from the bytes at the stated offset, and
// layout_test.go asserts every size.

// extSuperblockHead is the start of the ext2/3/4 superblock, at byte 1024
// of the filesystem (ext4 super.rst). Little-endian.
type extSuperblockHead struct {
	InodesCount       uint32     // 0x00
	BlocksCountLo     uint32     // 0x04
	RBlocksCountLo    uint32     // 0x08
	FreeBlocksCountLo uint32     // 0x0C
	FreeInodesCount   uint32     // 0x10
	FirstDataBlock    uint32     // 0x14
	LogBlockSize      uint32     // 0x18
	LogClusterSize    uint32     // 0x1C
	BlocksPerGroup    uint32     // 0x20
	ClustersPerGroup  uint32     // 0x24
	InodesPerGroup    uint32     // 0x28
	Mtime             uint32     // 0x2C
	Wtime             uint32     // 0x30
	MntCount          uint16     // 0x34
	MaxMntCount       uint16     // 0x36
	Magic             uint16     // 0x38
	State             uint16     // 0x3A
	Errors            uint16     // 0x3C
	MinorRevLevel     uint16     // 0x3E
	Lastcheck         uint32     // 0x40
	Checkinterval     uint32     // 0x44
	CreatorOS         uint32     // 0x48
	RevLevel          uint32     // 0x4C
	DefResuid         uint16     // 0x50
	DefResgid         uint16     // 0x52
	FirstIno          uint32     // 0x54
	InodeSize         uint16     // 0x58
	BlockGroupNr      uint16     // 0x5A
	FeatureCompat     uint32     // 0x5C
	FeatureIncompat   uint32     // 0x60
	FeatureROCompat   uint32     // 0x64
	UUID              [16]byte   // 0x68
	VolumeName        [16]byte   // 0x78
	LastMounted       [64]byte   // 0x88
	AlgorithmBitmap   uint32     // 0xC8
	_                 [0x34]byte // 0xCC..0x100: preallocation and journal fields
}

const (
	extSuperblockOffset = 1024
	extMagic            = 0xEF53

	extCompatHasJournal = 0x0004
	// The features ext3 knows (blkid's EXT3_FEATURE_*_SUPP); anything
	// else makes the filesystem ext4.
	ext3IncompatSupp      = 0x0002 | 0x0004 | 0x0010 // filetype, recover, meta_bg
	ext3ROCompatSupp      = 0x0001 | 0x0002 | 0x0004 // sparse_super, large_file, btree_dir
	extIncompatJournalDev = 0x0008
)

// xfsSuperblockHead is the start of the xfs superblock at byte 0
// (xfs_format.h struct xfs_dsb). Big-endian.
type xfsSuperblockHead struct {
	MagicNum   [4]byte  // 0: "XFSB"
	BlockSize  uint32   // 4
	DBlocks    uint64   // 8
	RBlocks    uint64   // 16
	RExtents   uint64   // 24
	UUID       [16]byte // 32
	LogStart   uint64   // 48
	RootIno    uint64   // 56
	RBMIno     uint64   // 64
	RSumIno    uint64   // 72
	RExtSize   uint32   // 80
	AGBlocks   uint32   // 84
	AGCount    uint32   // 88
	RBMBlocks  uint32   // 92
	LogBlocks  uint32   // 96
	VersionNum uint16   // 100
	SectSize   uint16   // 102
	InodeSize  uint16   // 104
	InoPBlock  uint16   // 106
	FName      [12]byte // 108
}

// btrfsSuperblockHead is the start of the btrfs superblock at 64 KiB
// (btrfs on-disk format, struct btrfs_super_block). Little-endian; the
// label is at 0x12B, read separately.
type btrfsSuperblockHead struct {
	Csum       [32]byte // 0x00
	FSID       [16]byte // 0x20
	Bytenr     uint64   // 0x30
	Flags      uint64   // 0x38
	Magic      [8]byte  // 0x40: "_BHRfS_M"
	Generation uint64   // 0x48
}

const (
	btrfsSuperblockOffset = 64 << 10
	btrfsLabelOffset      = 0x12B
	btrfsLabelSize        = 256
)

// The FAT boot sector, FAT32 BPB and extended BPB are pkg/fs/vfat's
// BootSector, BPB32 and ExtBPB. The extended BPB that holds the volume id
// and label starts at byte 36 for FAT12/16 and at byte 64 for FAT32.
const (
	fatExtBPBOffset16 = 36
	fatExtBPBOffset32 = 64
)

// swapHeaderInfo is union swap_header's info part, at byte 1024 of a swap
// area (include/linux/swap.h). Little-endian on little-endian machines.
type swapHeaderInfo struct {
	Version    uint32   // 1024
	LastPage   uint32   // 1028
	NrBadPages uint32   // 1032
	UUID       [16]byte // 1036
	VolumeName [16]byte // 1052
}

const swapInfoOffset = 1024

// lvmLabelHeader is an LVM2 label at the start of one of the first four
// 512-byte sectors (lvm2 lib/label/label.h, struct label_header), followed
// at Offset by a pv_header whose first field is the 32-character PV id.
// Little-endian.
type lvmLabelHeader struct {
	ID       [8]byte // "LABELONE"
	SectorXL uint64  // the sector this label is in
	CRCXL    uint32
	OffsetXL uint32  // pv_header offset from the label start
	Type     [8]byte // "LVM2 001"
}

// luksPHDR is the start of a LUKS1 header and of the LUKS2 binary header
// (cryptsetup's on-disk format specifications). Big-endian.
type luksPHDR struct {
	Magic   [6]byte // 0: "LUKS\xba\xbe"
	Version uint16  // 6: 1 or 2
}

const (
	luksUUIDOffset   = 168
	luksUUIDSize     = 40
	luks2LabelOffset = 24
	luks2LabelSize   = 48
)
