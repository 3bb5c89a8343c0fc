package qcow2

import "encoding/binary"

// On-disk structures, mirroring docs/interop/qcow2.rst field by field. All
// integers are big-endian. Sizes are asserted in layout_test.go.

const (
	magic = 0x514649fb // "QFI\xfb"

	headerV2Size       = 72  // version 2 header
	headerV3MinSize    = 104 // version 3 header without compression_type
	headerV3Size       = 112 // what qemu-img 7.2 writes
	minClusterBits     = 9
	maxClusterBits     = 21
	maxRefcountOrder   = 6
	maxBackingNameSize = 1023

	// Limits, like QEMU's (block/qcow2.h), so that no table size claimed
	// by an image makes us allocate without bound.
	maxL1Bytes        = 32 << 20 // QCOW_MAX_L1_SIZE
	maxReftableBytes  = 8 << 20  // QCOW_MAX_REFTABLE_SIZE
	maxSnapshots      = 65536    // QCOW_MAX_SNAPSHOTS
	maxSnapshotExtra  = 1024     // QCOW_MAX_SNAPSHOT_EXTRA_DATA
	maxVirtualSize    = 1 << 56  // offsets are 56 bits wide
	maxHeaderExtBytes = 1 << 21  // header extensions live in cluster 0
)

// Incompatible feature bits.
const (
	incompatDirty       = 1 << 0
	incompatCorrupt     = 1 << 1
	incompatDataFile    = 1 << 2
	incompatCompression = 1 << 3
	incompatExtendedL2  = 1 << 4
	incompatKnown       = incompatDirty | incompatCorrupt | incompatDataFile | incompatCompression | incompatExtendedL2
)

// Compatible and autoclear feature bits.
const (
	compatLazyRefcounts = 1 << 0

	autoclearBitmaps     = 1 << 0
	autoclearRawDataFile = 1 << 1
	autoclearKnown       = autoclearBitmaps | autoclearRawDataFile
)

// Compression types (header byte 104).
const (
	compressionDeflate = 0
	compressionZstd    = 1
)

// Header extension types.
const (
	extEnd            = 0x00000000
	extBackingFormat  = 0xe2792aca
	extFeatureTable   = 0x6803f857
	extBitmaps        = 0x23852875
	extEncryption     = 0x0537be77
	extExternalData   = 0x44415441
	extHeaderSize     = 8  // type + length
	featureEntrySize  = 48 // feature name table entry
	featureNameLength = 46
)

// diskHeader is the qcow2 header (spec "Header"). Version 2 images have
// only the first 72 bytes; version 3 headers are header_length bytes long,
// at least 104.
type diskHeader struct {
	Magic                 uint32 // 0
	Version               uint32 // 4
	BackingFileOffset     uint64 // 8
	BackingFileSize       uint32 // 16
	ClusterBits           uint32 // 20
	Size                  uint64 // 24
	CryptMethod           uint32 // 32
	L1Size                uint32 // 36
	L1TableOffset         uint64 // 40
	RefcountTableOffset   uint64 // 48
	RefcountTableClusters uint32 // 56
	NbSnapshots           uint32 // 60
	SnapshotsOffset       uint64 // 64
	// Version 3 only.
	IncompatibleFeatures uint64  // 72
	CompatibleFeatures   uint64  // 80
	AutoclearFeatures    uint64  // 88
	RefcountOrder        uint32  // 96
	HeaderLength         uint32  // 100
	CompressionType      uint8   // 104
	Padding              [7]byte // 105..111
}

// Header field offsets used by the single-write header updates.
const (
	offL1Size          = 36 // l1_size (4) + l1_table_offset (8): 12 bytes
	offRefcountTable   = 48 // refcount_table_offset (8) + clusters (4): 12 bytes
	offAutoclear       = 88
	offIncompatible    = 72
	offCompressionType = 104
)

// headerExtension is the 8-byte head of a header extension; Length bytes
// of data follow, padded to a multiple of 8.
type headerExtension struct {
	Type   uint32
	Length uint32
}

// bitmapsExtension is the data of header extension 0x23852875.
type bitmapsExtension struct {
	NbBitmaps             uint32
	Reserved              uint32
	BitmapDirectorySize   uint64
	BitmapDirectoryOffset uint64
}

// encryptionExtension is the data of header extension 0x0537be77.
type encryptionExtension struct {
	Offset uint64
	Length uint64
}

// snapshotHeader is the fixed part of a snapshot table entry; extra data,
// the ID string and the name follow, the whole entry padded to 8 bytes.
type snapshotHeader struct {
	L1TableOffset uint64 // 0
	L1Size        uint32 // 8
	IDStrSize     uint16 // 12
	NameSize      uint16 // 14
	DateSec       uint32 // 16
	DateNsec      uint32 // 20
	VMClockNsec   uint64 // 24
	VMStateSize   uint32 // 32
	ExtraDataSize uint32 // 36
}

// Table entry bits.
const (
	entryCopied     = uint64(1) << 63
	entryCompressed = uint64(1) << 62
	entryZero       = uint64(1) // standard L2 entry, version 3: reads as zeros
	// offsetMask selects bits 9-55: the host offset of an L2 table (L1
	// entry), a standard cluster (L2 entry) or a refcount block.
	offsetMask = uint64(0x00fffffffffffe00)
	// l1Reserved are the bits of an L1 entry that must be zero.
	l1Reserved = uint64(0x7f000000000001ff)
	// l2StdReserved are the bits of a standard L2 entry that must be zero
	// (bit 0 is the zero flag, bits 1-8 and 56-61 are reserved).
	l2StdReserved = uint64(0x3f000000000001fe)
	// reftableReserved are the low bits of a refcount table entry.
	reftableReserved = uint64(0x1ff)

	subclusters  = 32
	subAllocMask = uint64(0xffffffff)
)

var be = binary.BigEndian
