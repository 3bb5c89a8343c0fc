package btrfs

import "encoding/binary"

// On-disk structures, as btrfs-progs' kernel-shared/uapi/btrfs_tree.h and
// ctree.h lay them out (all packed, little-endian). format_test.go checks
// every size with binary.Size.

// Superblock placement.
const (
	superOffset  = 64 << 10 // primary copy
	superSize    = 4096
	superMagic   = "_BHRfS_M"
	csumSize     = 32 // bytes reserved for a checksum in every header
	maxLevel     = 8  // BTRFS_MAX_LEVEL
	maxNodeSize  = 64 << 10
	sysChunkSize = 2048
)

// superMirrors are the byte offsets of the superblock copies.
var superMirrors = [...]int64{superOffset, 64 << 20, 256 << 30}

// DevItem is struct btrfs_dev_item (98 bytes).
type DevItem struct {
	DevID       uint64
	TotalBytes  uint64
	BytesUsed   uint64
	IOAlign     uint32
	IOWidth     uint32
	SectorSize  uint32
	Type        uint64
	Generation  uint64
	StartOffset uint64
	DevGroup    uint32
	SeekSpeed   uint8
	Bandwidth   uint8
	UUID        [16]byte
	FSID        [16]byte
}

// Superblock is struct btrfs_super_block (4096 bytes).
type Superblock struct {
	Csum                [csumSize]byte // 0x000
	FSID                [16]byte       // 0x020
	Bytenr              uint64         // 0x030
	Flags               uint64         // 0x038
	Magic               [8]byte        // 0x040
	Generation          uint64         // 0x048
	Root                uint64         // 0x050
	ChunkRoot           uint64         // 0x058
	LogRoot             uint64         // 0x060
	LogRootTransid      uint64         // 0x068 (unused)
	TotalBytes          uint64         // 0x070
	BytesUsed           uint64         // 0x078
	RootDirObjectID     uint64         // 0x080
	NumDevices          uint64         // 0x088
	SectorSize          uint32         // 0x090
	NodeSize            uint32         // 0x094
	LeafSize            uint32         // 0x098 (unused)
	StripeSize          uint32         // 0x09C
	SysChunkArraySize   uint32         // 0x0A0
	ChunkRootGeneration uint64         // 0x0A4
	CompatFlags         uint64         // 0x0AC
	CompatROFlags       uint64         // 0x0B4
	IncompatFlags       uint64         // 0x0BC
	CsumType            uint16         // 0x0C4
	RootLevel           uint8          // 0x0C6
	ChunkRootLevel      uint8          // 0x0C7
	LogRootLevel        uint8          // 0x0C8
	DevItem             DevItem        // 0x0C9
	Label               [256]byte      // 0x12B
	CacheGeneration     uint64         // 0x22B
	UUIDTreeGeneration  uint64         // 0x233
	MetadataUUID        [16]byte       // 0x23B
	NrGlobalRoots       uint64         // 0x24B
	Reserved            [27]uint64     // 0x253
	SysChunkArray       [sysChunkSize]byte
	SuperRoots          [4]RootBackup
	Padding             [565]byte
}

// RootBackup is struct btrfs_root_backup (168 bytes).
type RootBackup struct {
	TreeRoot, TreeRootGen          uint64
	ChunkRoot, ChunkRootGen        uint64
	ExtentRoot, ExtentRootGen      uint64
	FSRoot, FSRootGen              uint64
	DevRoot, DevRootGen            uint64
	CsumRoot, CsumRootGen          uint64
	TotalBytes, BytesUsed, NumDevs uint64
	Unused64                       [4]uint64
	TreeRootLevel, ChunkRootLevel  uint8
	ExtentRootLevel, FSRootLevel   uint8
	DevRootLevel, CsumRootLevel    uint8
	Unused8                        [10]uint8
}

// Incompat flags (BTRFS_FEATURE_INCOMPAT_*).
const (
	incompatMixedBackref   = 1 << 0
	incompatDefaultSubvol  = 1 << 1
	incompatMixedGroups    = 1 << 2
	incompatCompressLZO    = 1 << 3
	incompatCompressZSTD   = 1 << 4
	incompatBigMetadata    = 1 << 5
	incompatExtendedIref   = 1 << 6
	incompatRAID56         = 1 << 7
	incompatSkinnyMetadata = 1 << 8
	incompatNoHoles        = 1 << 9
	incompatMetadataUUID   = 1 << 10
	incompatRAID1C34       = 1 << 11
	incompatZoned          = 1 << 12
	incompatExtentTreeV2   = 1 << 13
	incompatRaidStripeTree = 1 << 14
	incompatSimpleQuota    = 1 << 16
)

// incompatNames names every incompat flag, for Info and refusals.
var incompatNames = map[uint64]string{
	incompatMixedBackref: "mixed_backref", incompatDefaultSubvol: "default_subvol",
	incompatMixedGroups: "mixed_groups", incompatCompressLZO: "compress_lzo",
	incompatCompressZSTD: "compress_zstd", incompatBigMetadata: "big_metadata",
	incompatExtendedIref: "extended_iref", incompatRAID56: "raid56",
	incompatSkinnyMetadata: "skinny_metadata", incompatNoHoles: "no_holes",
	incompatMetadataUUID: "metadata_uuid", incompatRAID1C34: "raid1c34",
	incompatZoned: "zoned", incompatExtentTreeV2: "extent_tree_v2",
	incompatRaidStripeTree: "raid_stripe_tree", incompatSimpleQuota: "simple_quota",
}

// incompatRead are the incompat flags this package reads correctly.
const incompatRead = incompatMixedBackref | incompatDefaultSubvol | incompatMixedGroups |
	incompatCompressLZO | incompatCompressZSTD | incompatBigMetadata | incompatExtendedIref |
	incompatSkinnyMetadata | incompatNoHoles | incompatMetadataUUID | incompatRAID1C34 | incompatSimpleQuota

// Compat-ro flags.
const (
	compatROFreeSpaceTree      = 1 << 0
	compatROFreeSpaceTreeValid = 1 << 1
	compatROVerity             = 1 << 2
	compatROBlockGroupTree     = 1 << 3
)

// Checksum types (BTRFS_CSUM_TYPE_*).
const (
	csumCRC32C   = 0
	csumXXHash64 = 1
	csumSHA256   = 2
	csumBlake2b  = 3
)

// Header is struct btrfs_header (101 bytes), at the start of every tree
// block.
type Header struct {
	Csum          [csumSize]byte
	FSID          [16]byte
	Bytenr        uint64
	Flags         uint64
	ChunkTreeUUID [16]byte
	Generation    uint64
	Owner         uint64
	NrItems       uint32
	Level         uint8
}

const headerSize = 101

// Key is struct btrfs_disk_key (17 bytes).
type Key struct {
	ObjectID uint64
	Type     uint8
	Offset   uint64
}

const keySize = 17

// Item is struct btrfs_item (25 bytes): a leaf item's key and where its
// data lies, as an offset from the end of the header.
type Item struct {
	Key    Key
	Offset uint32
	Size   uint32
}

const itemSize = 25

// KeyPtr is struct btrfs_key_ptr (33 bytes): an internal node's pointer.
type KeyPtr struct {
	Key        Key
	BlockPtr   uint64
	Generation uint64
}

const keyPtrSize = 33

// Item types (BTRFS_*_KEY).
const (
	typeInodeItem     = 1
	typeInodeRef      = 12
	typeInodeExtref   = 13
	typeXattrItem     = 24
	typeDirItem       = 84
	typeDirIndex      = 96
	typeExtentData    = 108
	typeExtentCsum    = 128
	typeRootItem      = 132
	typeRootBackref   = 144
	typeRootRef       = 156
	typeExtentItem    = 168
	typeMetadataItem  = 169
	typeBlockGroup    = 192
	typeFreeSpaceInfo = 198
	typeDevItem       = 216
	typeChunkItem     = 228
)

// Object ids.
const (
	rootTreeObjectID   = 1
	extentTreeObjectID = 2
	chunkTreeObjectID  = 3
	fsTreeObjectID     = 5
	rootTreeDirID      = 6
	csumTreeObjectID   = 7
	freeSpaceObjectID  = 10
	blockGroupTreeID   = 11
	firstFreeObjectID  = 256
	lastFreeObjectID   = 1<<64 - 256 // -256: the last subvolume id
	firstChunkTreeID   = 256
	extentCsumObjectID = 1<<64 - 10 // -10
	emptySubvolDirID   = 2          // what a dangling subvolume entry shows
)

// ChunkItem is struct btrfs_chunk without its stripes (48 bytes).
type ChunkItem struct {
	Length     uint64
	Owner      uint64
	StripeLen  uint64
	Type       uint64
	IOAlign    uint32
	IOWidth    uint32
	SectorSize uint32
	NumStripes uint16
	SubStripes uint16
}

const chunkItemSize = 48

// Stripe is struct btrfs_stripe (32 bytes).
type Stripe struct {
	DevID   uint64
	Offset  uint64
	DevUUID [16]byte
}

const stripeSize = 32

// Block group type and profile bits (BTRFS_BLOCK_GROUP_*).
const (
	bgData     = 1 << 0
	bgSystem   = 1 << 1
	bgMetadata = 1 << 2
	bgRAID0    = 1 << 3
	bgRAID1    = 1 << 4
	bgDUP      = 1 << 5
	bgRAID10   = 1 << 6
	bgRAID5    = 1 << 7
	bgRAID6    = 1 << 8
	bgRAID1C3  = 1 << 9
	bgRAID1C4  = 1 << 10
)

// Timespec is struct btrfs_timespec (12 bytes).
type Timespec struct {
	Sec  uint64
	Nsec uint32
}

// InodeItem is struct btrfs_inode_item (160 bytes).
type InodeItem struct {
	Generation uint64
	Transid    uint64
	Size       uint64
	NBytes     uint64
	BlockGroup uint64
	Nlink      uint32
	UID        uint32
	GID        uint32
	Mode       uint32
	Rdev       uint64
	Flags      uint64
	Sequence   uint64
	Reserved   [4]uint64
	Atime      Timespec
	Ctime      Timespec
	Mtime      Timespec
	Otime      Timespec
}

const inodeItemSize = 160

// Inode flags.
const inodeNoDataSum = 1 << 0

// RootItem is struct btrfs_root_item (439 bytes). Items written by old
// kernels end after Level (239 bytes); the rest then reads as zero.
type RootItem struct {
	Inode        InodeItem
	Generation   uint64
	RootDirID    uint64
	Bytenr       uint64
	ByteLimit    uint64
	BytesUsed    uint64
	LastSnapshot uint64
	Flags        uint64
	Refs         uint32
	DropProgress Key
	DropLevel    uint8
	Level        uint8
	GenerationV2 uint64
	UUID         [16]byte
	ParentUUID   [16]byte
	ReceivedUUID [16]byte
	Ctransid     uint64
	Otransid     uint64
	Stransid     uint64
	Rtransid     uint64
	Ctime        Timespec
	Otime        Timespec
	Stime        Timespec
	Rtime        Timespec
	Reserved     [8]uint64
}

const (
	rootItemSize    = 439
	rootItemMinSize = 239
)

// DirItem is struct btrfs_dir_item (30 bytes), followed by the name and,
// for an XATTR_ITEM, the value.
type DirItem struct {
	Location Key
	Transid  uint64
	DataLen  uint16
	NameLen  uint16
	Type     uint8
}

const dirItemSize = 30

// Directory entry types (BTRFS_FT_*).
const (
	ftUnknown = 0
	ftRegFile = 1
	ftDir     = 2
	ftChrdev  = 3
	ftBlkdev  = 4
	ftFIFO    = 5
	ftSock    = 6
	ftSymlink = 7
	ftXattr   = 8
)

// InodeRef is struct btrfs_inode_ref (10 bytes), followed by the name.
type InodeRef struct {
	Index   uint64
	NameLen uint16
}

const inodeRefSize = 10

// RootRef is struct btrfs_root_ref (18 bytes), followed by the name: the
// payload of ROOT_REF and ROOT_BACKREF items.
type RootRef struct {
	DirID    uint64
	Sequence uint64
	NameLen  uint16
}

const rootRefSize = 18

// FileExtentItem is struct btrfs_file_extent_item (53 bytes). An inline
// extent keeps only the first 21 bytes, followed by its data.
type FileExtentItem struct {
	Generation    uint64
	RAMBytes      uint64
	Compression   uint8
	Encryption    uint8
	OtherEncoding uint16
	Type          uint8
	DiskBytenr    uint64
	DiskNumBytes  uint64
	Offset        uint64
	NumBytes      uint64
}

const (
	fileExtentInlineHeader = 21
	fileExtentItemSize     = 53
)

// File extent types and compression algorithms.
const (
	extentInline   = 0
	extentRegular  = 1
	extentPrealloc = 2

	compressNone = 0
	compressZlib = 1
	compressLZO  = 2
	compressZstd = 3
)

// decode fills v from the front of b; b must hold binary.Size(v) bytes.
func decode(b []byte, v any) bool {
	_, err := binary.Decode(b, binary.LittleEndian, v)
	return err == nil
}

var le = binary.LittleEndian

// parseKey reads a Key from the front of b (at least keySize bytes).
func parseKey(b []byte) Key {
	return Key{ObjectID: le.Uint64(b), Type: b[8], Offset: le.Uint64(b[9:])}
}

// less orders keys as btrfs does: objectid, type, offset.
func (k Key) less(o Key) bool {
	if k.ObjectID != o.ObjectID {
		return k.ObjectID < o.ObjectID
	}
	if k.Type != o.Type {
		return k.Type < o.Type
	}
	return k.Offset < o.Offset
}
