package partition

// On-disk structures, mirroring the UEFI specification's tables 5-1 (MBR),
// 5-2 (MBR partition record), 5-5 (GPT header) and 5-6 (GPT partition
// entry). All fields are little-endian. They are decoded with
// encoding/binary, so their Go layout carries no padding.

// MBR is the 512-byte master boot record at LBA 0, and also the layout of
// every extended boot record (EBR) of an extended partition.
type MBR struct {
	BootCode           [440]byte
	UniqueMBRSignature uint32 // the disk signature, Linux's MBR "PTUUID"
	Unknown            uint16
	PartitionRecord    [4]MBREntry
	Signature          uint16 // 0xAA55
}

// MBREntry is one of the four partition records of an MBR or EBR.
type MBREntry struct {
	BootIndicator uint8 // 0x00, or 0x80 for the boot partition
	StartingCHS   [3]byte
	OSType        uint8 // partition type; 0 means unused, 0xEE a GPT protective entry
	EndingCHS     [3]byte
	StartingLBA   uint32
	SizeInLBA     uint32
}

// GPTHeader is the GPT header found at LBA 1 (primary) and in the disk's
// last LBA (backup). The rest of its sector is reserved and must be zero.
type GPTHeader struct {
	Signature                [8]byte // "EFI PART"
	Revision                 uint32  // 0x00010000
	HeaderSize               uint32  // 92
	HeaderCRC32              uint32  // CRC32 of HeaderSize bytes with this field zero
	Reserved                 uint32
	MyLBA                    uint64
	AlternateLBA             uint64
	FirstUsableLBA           uint64
	LastUsableLBA            uint64
	DiskGUID                 [16]byte // mixed-endian, as every EFI GUID
	PartitionEntryLBA        uint64
	NumberOfPartitionEntries uint32
	SizeOfPartitionEntry     uint32 // 128 × 2^n; Linux and go-diskfs accept 128 only
	PartitionEntryArrayCRC32 uint32
}

// GPTEntry is one entry of the GPT partition entry array.
type GPTEntry struct {
	PartitionTypeGUID   [16]byte // all zero: unused entry
	UniquePartitionGUID [16]byte // the PARTUUID
	StartingLBA         uint64
	EndingLBA           uint64 // inclusive
	Attributes          uint64
	PartitionName       [36]uint16 // UTF-16LE, NUL-padded
}

// Sizes of the structures above, in bytes.
const (
	MBRSize       = 512
	MBREntrySize  = 16
	GPTHeaderSize = 92
	GPTEntrySize  = 128
)

// MBR signature and the partition types this package interprets.
const (
	MBRSignature      = 0xAA55
	TypeGPTProtective = 0xEE
	TypeExtendedCHS   = 0x05
	TypeExtendedLBA   = 0x0F
	TypeExtendedLinux = 0x85
)

// GPTSignature is the GPT header's Signature.
const GPTSignature = "EFI PART"

// GPTRevision is the only GPT revision defined (1.0).
const GPTRevision = 0x00010000
