package txn

import "encoding/binary"

// On-disk layout of the rollback journal, version 3. Every integer is
// little-endian.
//
//	header   128 bytes (journalHeader)
//	records  RecordCount times:
//	           recordHeader (16 bytes)
//	           Length bytes of the image's ORIGINAL content at Offset,
//	           or none when the record is a hole (see below)
//	           one unitDigest (16 bytes) per digest unit the record
//	           touches (see below)
//	trailer  16 bytes (journalTrailer)
//
// Holes: bit 63 of a record's Length (holeFlag) says the range was a hole
// of the image file (it read as zeros and took no space); the rest of
// Length is the range's length, and no data follows. A rollback punches
// the range back into a hole rather than writing zeros, which would take
// space a nearly full filesystem may not have. Version 2 is version 3
// without holes, and is still read.
//
// The trailer's checksum is crc32c (Castagnoli) over every byte before the
// trailer, with the header's State field read as zero: State is the one
// field rewritten after the journal is written.
//
// State is also the seal: it is zero (StateOpen) while the journal is
// written, and set to StatePending by one aligned 4-byte write after the
// journal and its directory are synced, and before the image is touched.
// A journal whose State is zero was never sealed (the image was never
// touched); any other value means it was, and a sealed journal that fails
// a check is damaged, not unfinished.
//
// Digest units: the image is cut into UnitSize-byte blocks (512, the
// smallest sector a disk writes atomically); a record touches the units
// from Offset/UnitSize to (Offset+Length-1)/UnitSize. Each unit's digest
// pair holds the first 8 bytes of the SHA-256 of the unit's part of the
// record as it was before the commit (Pre) and as the commit leaves it
// (Post: the new bytes of the same range, clipped to FinalSize). Recovery
// uses them to tell the image this journal was written for, part way
// through the commit, from any other file now under the same name.

// Journal constants.
const (
	journalMagic   = "IMGPJRNL"
	trailerMagic   = "IMGPJEND"
	journalVersion = 3
	// journalVersionNoHoles is the version before holes, still read.
	journalVersionNoHoles = 2
	// holeFlag marks a record whose range was a hole (in Length).
	holeFlag = uint64(1) << 63

	headerSize  = 128
	recordSize  = 16
	digestSize  = 16
	trailerSize = 16

	// unitSize is the digest unit (UnitSize in the header).
	unitSize = 512

	// stateOff is the byte offset of the State field in the header.
	stateOff = 16
)

// Journal states. Only these values are valid; a 4-byte aligned write of
// one over another is atomic on every disk we know of.
const (
	// StateOpen: the journal is being written and was never sealed;
	// the image was not touched.
	StateOpen uint32 = 0
	// StatePending: sealed; the image may hold any mix of old and new
	// bytes in the recorded regions; recovery writes the originals back
	// once the image is shown to be the journal's own.
	StatePending uint32 = 0x444e4550 // "PEND"
	// StateCommitted: every change reached the image and was synced;
	// recovery just deletes the journal.
	StateCommitted uint32 = 0x454e4f44 // "DONE"
	// StateUndoing: a rollback from this journal has started (the image
	// was shown to be the journal's own); the image may hold a mix of
	// restored and new bytes, and recovery finishes the rollback
	// without checking the digests again.
	StateUndoing uint32 = 0x4f444e55 // "UNDO"
)

// Image kinds (journalHeader.ImageKind).
const (
	kindUnknown uint32 = 0 // the file said nothing of its identity
	kindFile    uint32 = 1 // ImageDev/ImageIno are st_dev/st_ino
	kindBlock   uint32 = 2 // ImageDev is st_rdev, ImageIno the size
)

// journalHeader is the first 128 bytes of a journal.
type journalHeader struct {
	Magic       [8]byte  // "IMGPJRNL"
	Version     uint32   // 2
	HeaderSize  uint32   // 128
	State       uint32   // StateOpen, StatePending, StateCommitted, StateUndoing; checksummed as 0
	RecordCount uint32   // number of records
	OrigSize    uint64   // the image file's size before the transaction
	FinalSize   uint64   // its size after
	JournalSize uint64   // the journal's total length, trailer included
	DataBytes   uint64   // the sum of the records' Length
	CutSize     uint64   // the lowest size the image takes while the changes are applied
	ImageDev    uint64   // see ImageKind
	ImageIno    uint64   // see ImageKind
	RunID       [16]byte // random, one per Commit
	ImageKind   uint32   // kindUnknown, kindFile or kindBlock
	UnitSize    uint32   // 512
	Reserved    [24]byte // zero
}

// recordHeader precedes Length bytes of original image content.
type recordHeader struct {
	Offset uint64 // byte offset in the image
	Length uint64 // bytes that follow; with holeFlag, a hole of that length and no bytes
}

// size is the length of the image range the record covers.
func (r *recordHeader) size() uint64 { return r.Length &^ holeFlag }

// hole reports whether the range was a hole.
func (r *recordHeader) hole() bool { return r.Length&holeFlag != 0 }

// dataLen is the number of original bytes the journal holds for the
// record.
func (r *recordHeader) dataLen() uint64 {
	if r.hole() {
		return 0
	}
	return r.Length
}

// unitDigest is the digest pair of one unit of a record.
type unitDigest struct {
	Pre  [8]byte // SHA-256 (first 8 bytes) of the unit's original bytes
	Post [8]byte // SHA-256 (first 8 bytes) of its bytes after the commit
}

// journalTrailer ends a journal.
type journalTrailer struct {
	Magic    [8]byte // "IMGPJEND"
	Checksum uint32  // crc32c, see above
	Reserved uint32  // zero
}

func (h *journalHeader) marshal(b []byte) {
	copy(b[0:8], h.Magic[:])
	le := binary.LittleEndian
	le.PutUint32(b[8:], h.Version)
	le.PutUint32(b[12:], h.HeaderSize)
	le.PutUint32(b[16:], h.State)
	le.PutUint32(b[20:], h.RecordCount)
	le.PutUint64(b[24:], h.OrigSize)
	le.PutUint64(b[32:], h.FinalSize)
	le.PutUint64(b[40:], h.JournalSize)
	le.PutUint64(b[48:], h.DataBytes)
	le.PutUint64(b[56:], h.CutSize)
	le.PutUint64(b[64:], h.ImageDev)
	le.PutUint64(b[72:], h.ImageIno)
	copy(b[80:96], h.RunID[:])
	le.PutUint32(b[96:], h.ImageKind)
	le.PutUint32(b[100:], h.UnitSize)
	copy(b[104:128], h.Reserved[:])
}

func (h *journalHeader) unmarshal(b []byte) {
	copy(h.Magic[:], b[0:8])
	le := binary.LittleEndian
	h.Version = le.Uint32(b[8:])
	h.HeaderSize = le.Uint32(b[12:])
	h.State = le.Uint32(b[16:])
	h.RecordCount = le.Uint32(b[20:])
	h.OrigSize = le.Uint64(b[24:])
	h.FinalSize = le.Uint64(b[32:])
	h.JournalSize = le.Uint64(b[40:])
	h.DataBytes = le.Uint64(b[48:])
	h.CutSize = le.Uint64(b[56:])
	h.ImageDev = le.Uint64(b[64:])
	h.ImageIno = le.Uint64(b[72:])
	copy(h.RunID[:], b[80:96])
	h.ImageKind = le.Uint32(b[96:])
	h.UnitSize = le.Uint32(b[100:])
	copy(h.Reserved[:], b[104:128])
}

func (r *recordHeader) marshal(b []byte) {
	binary.LittleEndian.PutUint64(b[0:], r.Offset)
	binary.LittleEndian.PutUint64(b[8:], r.Length)
}

func (r *recordHeader) unmarshal(b []byte) {
	r.Offset = binary.LittleEndian.Uint64(b[0:])
	r.Length = binary.LittleEndian.Uint64(b[8:])
}

// units returns the number of digest units the record touches.
func (r *recordHeader) units() uint64 {
	n := r.size()
	if n == 0 {
		return 0
	}
	return (r.Offset+n-1)/unitSize - r.Offset/unitSize + 1
}

func (d *unitDigest) marshal(b []byte) {
	copy(b[0:8], d.Pre[:])
	copy(b[8:16], d.Post[:])
}

func (d *unitDigest) unmarshal(b []byte) {
	copy(d.Pre[:], b[0:8])
	copy(d.Post[:], b[8:16])
}

func (t *journalTrailer) marshal(b []byte) {
	copy(b[0:8], t.Magic[:])
	binary.LittleEndian.PutUint32(b[8:], t.Checksum)
	binary.LittleEndian.PutUint32(b[12:], t.Reserved)
}

func (t *journalTrailer) unmarshal(b []byte) {
	copy(t.Magic[:], b[0:8])
	t.Checksum = binary.LittleEndian.Uint32(b[8:])
	t.Reserved = binary.LittleEndian.Uint32(b[12:])
}
