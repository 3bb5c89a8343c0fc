package txn

import "encoding/binary"

// On-disk layout of the rollback journal. Every integer is little-endian.
//
//	header   64 bytes (journalHeader)
//	records  RecordCount times: recordHeader (16 bytes) + Length bytes of
//	         the image's ORIGINAL content at Offset
//	trailer  16 bytes (journalTrailer)
//
// The trailer's checksum is crc32c (Castagnoli) over every byte before the
// trailer, with the header's State field read as zero: State is the one
// field rewritten after the journal is sealed.

// Journal constants.
const (
	journalMagic   = "IMGPJRNL"
	trailerMagic   = "IMGPJEND"
	journalVersion = 1

	headerSize  = 64
	recordSize  = 16
	trailerSize = 16

	// stateOff is the byte offset of the State field in the header.
	stateOff = 16
)

// Journal states. Only these two values are valid; a 4-byte aligned
// write of one over the other is atomic on every disk we know of.
const (
	// StatePending: the image may hold any mix of old and new bytes in
	// the recorded regions; recovery writes the originals back.
	StatePending uint32 = 0x444e4550 // "PEND"
	// StateCommitted: every change reached the image and was synced;
	// recovery just deletes the journal.
	StateCommitted uint32 = 0x454e4f44 // "DONE"
)

// journalHeader is the first 64 bytes of a journal.
type journalHeader struct {
	Magic       [8]byte // "IMGPJRNL"
	Version     uint32  // 1
	HeaderSize  uint32  // 64
	State       uint32  // StatePending or StateCommitted; checksummed as 0
	RecordCount uint32  // number of records
	OrigSize    uint64  // the image file's size before the transaction
	FinalSize   uint64  // its size after (informational)
	JournalSize uint64  // the journal's total length, trailer included
	DataBytes   uint64  // the sum of the records' Length
	CutSize     uint64  // the lowest size the image takes while the changes are applied
}

// recordHeader precedes Length bytes of original image content.
type recordHeader struct {
	Offset uint64 // byte offset in the image
	Length uint64 // bytes that follow
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
}

func (r *recordHeader) marshal(b []byte) {
	binary.LittleEndian.PutUint64(b[0:], r.Offset)
	binary.LittleEndian.PutUint64(b[8:], r.Length)
}

func (r *recordHeader) unmarshal(b []byte) {
	r.Offset = binary.LittleEndian.Uint64(b[0:])
	r.Length = binary.LittleEndian.Uint64(b[8:])
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
