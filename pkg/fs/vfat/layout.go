package vfat

// BootSector is the boot sector and the BPB common to every FAT type
// (fatgen103, "Boot Sector and BPB", offsets 0–35). Little-endian.
type BootSector struct {
	JmpBoot    [3]byte // 0
	OEMName    [8]byte // 3
	BytsPerSec uint16  // 11
	SecPerClus uint8   // 13
	RsvdSecCnt uint16  // 14
	NumFATs    uint8   // 16
	RootEntCnt uint16  // 17
	TotSec16   uint16  // 19
	Media      uint8   // 21
	FATSz16    uint16  // 22
	SecPerTrk  uint16  // 24
	NumHeads   uint16  // 26
	HiddSec    uint32  // 28
	TotSec32   uint32  // 32
}

// BPB32 follows BootSector on FAT32 (offsets 36–63).
type BPB32 struct {
	FATSz32   uint32   // 36
	ExtFlags  uint16   // 40
	FSVer     uint16   // 42
	RootClus  uint32   // 44
	FSInfo    uint16   // 48
	BkBootSec uint16   // 50
	Reserved  [12]byte // 52
}

// ExtBPB is the extended BPB: at offset 36 on FAT12/16, 64 on FAT32.
type ExtBPB struct {
	DrvNum     uint8    // +0
	Reserved1  uint8    // +1
	BootSig    uint8    // +2: 0x29 when VolID, VolLab and FilSysType are valid
	VolID      uint32   // +3
	VolLab     [11]byte // +7
	FilSysType [8]byte  // +18
}

// DirEntry is a 32-byte short-name directory entry (fatgen103, "FAT
// Directory Structure").
type DirEntry struct {
	Name         [11]byte // 0: 8.3 name, space padded; Name[0] 0xE5 deleted, 0x00 end
	Attr         uint8    // 11
	NTRes        uint8    // 12: 0x08 base lower case, 0x10 extension lower case
	CrtTimeTenth uint8    // 13
	CrtTime      uint16   // 14
	CrtDate      uint16   // 16
	LstAccDate   uint16   // 18
	FstClusHI    uint16   // 20
	WrtTime      uint16   // 22
	WrtDate      uint16   // 24
	FstClusLO    uint16   // 26
	FileSize     uint32   // 28
}

// LFNEntry is a long-name directory entry (Attr 0x0F): 13 UCS-2 units of
// the name, in Name1, Name2, Name3.
type LFNEntry struct {
	Ord       uint8     // 0: sequence number, 0x40 on the last (first stored)
	Name1     [5]uint16 // 1
	Attr      uint8     // 11: 0x0F
	Type      uint8     // 12: 0
	Chksum    uint8     // 13: checksum of the short name
	Name2     [6]uint16 // 14
	FstClusLO uint16    // 26: 0
	Name3     [2]uint16 // 28
}

// Directory entry attributes.
const (
	AttrReadOnly  = 0x01
	AttrHidden    = 0x02
	AttrSystem    = 0x04
	AttrVolumeID  = 0x08
	AttrDirectory = 0x10
	AttrArchive   = 0x20
	AttrLongName  = 0x0F
	attrLongMask  = 0x3F
)

const (
	dirEntrySize  = 32
	extBPBOffset  = 36
	extBPB32      = 64
	lfnLast       = 0x40
	ntresLowerBas = 0x08
	ntresLowerExt = 0x10
	// Cluster-count limits that decide the FAT type (fatgen103).
	maxClusters12 = 4085
	maxClusters16 = 65525
)
