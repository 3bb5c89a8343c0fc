package jbd2

import "encoding/binary"

var be = binary.BigEndian

// Magic is the first word of every journal metadata block.
const Magic = 0xC03B3998

// Block types (h_blocktype).
const (
	BlockDescriptor   = 1
	BlockCommit       = 2
	BlockSuperblockV1 = 3
	BlockSuperblockV2 = 4
	BlockRevoke       = 5
	BlockFastCommit   = 6
)

// Feature bits of the journal superblock.
const (
	FeatureCompatChecksum = 0x1 // checksum v1: crc32_be in the commit block

	FeatureIncompatRevoke      = 0x1
	FeatureIncompat64bit       = 0x2
	FeatureIncompatAsyncCommit = 0x4
	FeatureIncompatCsumV2      = 0x8
	FeatureIncompatCsumV3      = 0x10
	FeatureIncompatFastCommit  = 0x20

	knownCompat   = FeatureCompatChecksum
	knownIncompat = FeatureIncompatRevoke | FeatureIncompat64bit | FeatureIncompatAsyncCommit |
		FeatureIncompatCsumV2 | FeatureIncompatCsumV3 | FeatureIncompatFastCommit
)

// Tag flags (t_flags).
const (
	FlagEscape   = 1 // the block began with Magic, which was zeroed in the log
	FlagSameUUID = 2 // no 16-byte UUID follows the tag
	FlagDeleted  = 4
	FlagLastTag  = 8
)

// Commit block checksum types (h_chksum_type).
const (
	ChecksumCRC32  = 1
	ChecksumCRC32C = 4
)

// Header is journal_header_t, the first 12 bytes of every metadata block.
type Header struct {
	Magic     uint32
	BlockType uint32
	Sequence  uint32
}

// HeaderSize is the size of Header on disk.
const HeaderSize = 12

// Superblock is journal_superblock_t (1024 bytes, big-endian).
type Superblock struct {
	Header
	BlockSize       uint32 // s_blocksize
	MaxLen          uint32 // s_maxlen: blocks in the journal
	First           uint32 // s_first: first block of the log
	Sequence        uint32 // s_sequence: first commit ID expected in the log
	Start           uint32 // s_start: first block of the log's live part, 0 when empty
	Errno           int32  // s_errno: set by a journal abort
	FeatureCompat   uint32
	FeatureIncompat uint32
	FeatureROCompat uint32
	UUID            [16]byte
	NrUsers         uint32
	DynSuper        uint32
	MaxTransaction  uint32
	MaxTransData    uint32
	ChecksumType    uint8
	Padding2        [3]uint8
	NumFCBlocks     uint32
	Padding         [41]uint32
	Checksum        uint32 // crc32c of the superblock with this field zero (csum v2/v3)
	Users           [768]byte
}

// SuperblockSize is the size of Superblock on disk.
const SuperblockSize = 1024

// superblockChecksumOff is the offset of Superblock.Checksum.
const superblockChecksumOff = 0xFC

// CommitHeader is struct commit_header, at the start of a commit block.
type CommitHeader struct {
	Header
	ChecksumType uint8
	ChecksumSize uint8
	Padding      [2]uint8
	Checksum     [8]uint32 // h_chksum: [0] holds the v1 or v2/v3 checksum
	CommitSec    uint64
	CommitNsec   uint32
}

// CommitHeaderSize is the size of CommitHeader on disk.
const CommitHeaderSize = 60

// commitChecksumOff is the offset of CommitHeader.Checksum[0].
const commitChecksumOff = 16

// BlockTag3 is journal_block_tag3_t, the tag of a descriptor with csum v3.
type BlockTag3 struct {
	BlockNr     uint32
	Flags       uint32
	BlockNrHigh uint32
	Checksum    uint32
}

// BlockTag is journal_block_tag_t, the tag without csum v3. Its length on
// disk depends on the features: see tagBytes.
type BlockTag struct {
	BlockNr     uint32
	Checksum    uint16 // low 16 bits of the crc32c with csum v2
	Flags       uint16
	BlockNrHigh uint32 // present with journal_64bit
}

// RevokeHeader is jbd2_journal_revoke_header_t.
type RevokeHeader struct {
	Header
	Count uint32 // r_count: bytes used in the block, header included
}

// RevokeHeaderSize is the size of RevokeHeader on disk.
const RevokeHeaderSize = 16

// TailSize is the size of the checksum tail of descriptor and revoke
// blocks with csum v2/v3 (struct jbd2_journal_block_tail).
const TailSize = 4

// decode fills v from b (big-endian); b must be at least binary.Size(v).
func decode(b []byte, v any) {
	if _, err := binary.Decode(b, be, v); err != nil {
		panic("jbd2: decode: " + err.Error()) // a size bug, never data
	}
}
