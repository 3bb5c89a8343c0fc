package lvm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
)

// On-disk sizes and constants (lvm2 lib/label/label.h, format_text/layout.h).
const (
	SectorSize     = 512
	LabelScanSects = 4 // a label may be in any of the first four sectors
	LabelID        = "LABELONE"
	LabelType      = "LVM2 001"
	// InitialCRC seeds every lvm2 checksum (lib/misc/crc.h).
	InitialCRC = 0xf597a6cf
	// IDLen is the length of a PV, VG or LV UUID without its dashes.
	IDLen = 32
	// maxLocns bounds each disk_locn list of a PV header; a 512-byte
	// sector holds at most 27 entries after the fixed fields anyway.
	maxLocns = 32
)

// LabelHeader is struct label_header, at the start of the label sector.
type LabelHeader struct {
	ID     [8]byte // "LABELONE"
	Sector uint64  // the sector the label is in
	CRC    uint32  // CRC of the sector from Offset to its end
	Offset uint32  // offset of the PV header from the label's start
	Type   [8]byte // "LVM2 001"
}

// labelCRCStart is where the label CRC's coverage starts (offset_xl).
const labelCRCStart = 20

// PVHeader is the fixed part of struct pv_header; two lists of DiskLocn
// follow (data areas, then metadata areas), each ended by a zero entry.
type PVHeader struct {
	UUID       [IDLen]byte
	DeviceSize uint64 // bytes
}

// DiskLocn is struct disk_locn: an area of the PV, in bytes.
type DiskLocn struct {
	Offset uint64
	Size   uint64
}

// Label is a PV's decoded label.
type Label struct {
	Sector     int64  // the sector (0-3) holding it
	UUID       string // the PV UUID, 32 characters without dashes
	DeviceSize uint64
	// DataAreas are the PV's data areas: the first starts at pe_start.
	DataAreas []DiskLocn
	// MetadataAreas are the PV's metadata areas (0, 1 or 2).
	MetadataAreas []DiskLocn
	raw           [SectorSize]byte
}

// crc is lvm2's calc_crc: the IEEE CRC-32 without the final inversion,
// continued from initial.
func crc(initial uint32, b []byte) uint32 {
	return ^crc32.Update(^initial, crc32.IEEETable, b)
}

// ReadLabel finds and decodes the LVM2 label of the device r of size
// bytes. It returns ErrNoLabel when none of the first four sectors holds
// one, and a *FormatError for a damaged one.
func ReadLabel(r io.ReaderAt, size int64) (*Label, error) {
	for s := int64(0); s < LabelScanSects; s++ {
		off := s * SectorSize
		if off+SectorSize > size {
			break
		}
		var sec [SectorSize]byte
		if err := readFull(r, sec[:], off); err != nil {
			return nil, &FormatError{Offset: off, What: "label", Err: err}
		}
		if string(sec[:8]) != LabelID {
			continue
		}
		return decodeLabel(sec, s, size)
	}
	return nil, ErrNoLabel
}

func decodeLabel(sec [SectorSize]byte, s int64, size int64) (*Label, error) {
	off := s * SectorSize
	var h LabelHeader
	if err := binary.Read(bytes.NewReader(sec[:]), binary.LittleEndian, &h); err != nil {
		return nil, formatErr(off, "label", ErrBadLabel, "%v", err)
	}
	if string(h.ID[:]) != LabelID {
		return nil, formatErr(off, "label", ErrNoLabel, "no %s", LabelID)
	}
	if h.Sector != uint64(s) {
		return nil, formatErr(off, "label", ErrBadLabel, "label in sector %d says it is in sector %d", s, h.Sector)
	}
	if got := crc(InitialCRC, sec[labelCRCStart:]); got != h.CRC {
		return nil, formatErr(off, "label", ErrChecksum, "label CRC %#08x, computed %#08x", h.CRC, got)
	}
	if string(h.Type[:]) != LabelType {
		return nil, formatErr(off, "label", ErrBadLabel, "label type %q, not %q", h.Type[:], LabelType)
	}
	pvh := int(h.Offset)
	if h.Offset < uint32(binary.Size(h)) || pvh+binary.Size(PVHeader{})+2*binary.Size(DiskLocn{}) > SectorSize {
		return nil, formatErr(off, "label", ErrBadLabel, "PV header at offset %d of the label sector", h.Offset)
	}
	var ph PVHeader
	_ = binary.Read(bytes.NewReader(sec[pvh:]), binary.LittleEndian, &ph)
	if !validID(ph.UUID[:]) {
		return nil, formatErr(off, "PV header", ErrBadLabel, "PV UUID %q is not 32 letters and digits", printableID(ph.UUID[:]))
	}
	l := &Label{Sector: s, UUID: string(ph.UUID[:]), DeviceSize: ph.DeviceSize, raw: sec}
	pos := pvh + binary.Size(ph)
	var err error
	if l.DataAreas, pos, err = readLocns(sec[:], pos); err != nil {
		return nil, formatErr(off, "PV header data areas", ErrBadLabel, "%v", err)
	}
	if l.MetadataAreas, _, err = readLocns(sec[:], pos); err != nil {
		return nil, formatErr(off, "PV header metadata areas", ErrBadLabel, "%v", err)
	}
	if len(l.DataAreas) == 0 {
		return nil, formatErr(off, "PV header", ErrBadLabel, "no data area")
	}
	for _, a := range append(append([]DiskLocn(nil), l.DataAreas...), l.MetadataAreas...) {
		if a.Offset > uint64(size) || a.Size > uint64(size)-a.Offset {
			return nil, formatErr(off, "PV header", ErrBadLabel, "area at byte %d of %d bytes lies outside the %d-byte device", a.Offset, a.Size, size)
		}
	}
	return l, nil
}

// readLocns reads a zero-terminated disk_locn list at pos of the sector.
// A data area of size 0 means "to the end of the device" and is kept.
func readLocns(sec []byte, pos int) ([]DiskLocn, int, error) {
	var out []DiskLocn
	for {
		if pos+16 > len(sec) {
			return nil, 0, errors.New("list runs past the sector")
		}
		d := DiskLocn{Offset: binary.LittleEndian.Uint64(sec[pos:]), Size: binary.LittleEndian.Uint64(sec[pos+8:])}
		pos += 16
		if d.Offset == 0 {
			return out, pos, nil
		}
		if len(out) == maxLocns {
			return nil, 0, errors.New("too many areas")
		}
		out = append(out, d)
	}
}

// validID reports whether id is 32 characters of lvm2's UUID alphabet.
func validID(id []byte) bool {
	if len(id) != IDLen {
		return false
	}
	for _, c := range id {
		if !idChar(c) {
			return false
		}
	}
	return true
}

// idChar reports whether c may appear in an lvm2 UUID (lib/uuid/uuid.c
// accepts 0-9, a-z, A-Z, '!' and '#').
func idChar(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '!' || c == '#'
}

// printableID returns b with non-printable bytes replaced, for messages.
func printableID(b []byte) string {
	out := make([]byte, len(b))
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			c = '?'
		}
		out[i] = c
	}
	return string(out)
}

// FormatID prints a 32-character UUID as lvm2 does, in 6-4-4-4-4-4-6
// groups joined by dashes.
func FormatID(id string) string {
	if len(id) != IDLen {
		return id
	}
	return id[0:6] + "-" + id[6:10] + "-" + id[10:14] + "-" + id[14:18] + "-" + id[18:22] + "-" + id[22:26] + "-" + id[26:32]
}

// ParseID accepts a UUID with or without lvm2's dashes and returns its 32
// characters, or false.
func ParseID(s string) (string, bool) {
	b := make([]byte, 0, IDLen)
	for i := 0; i < len(s); i++ {
		if s[i] == '-' {
			continue
		}
		if len(b) == IDLen {
			return "", false
		}
		b = append(b, s[i])
	}
	if !validID(b) {
		return "", false
	}
	return string(b), true
}

// withUUID returns the label sector with the PV UUID replaced by id (32
// characters) and the CRC recomputed.
func (l *Label) withUUID(id string) [SectorSize]byte {
	sec := l.raw
	pvh := int(binary.LittleEndian.Uint32(sec[labelCRCStart:]))
	copy(sec[pvh:pvh+IDLen], id)
	binary.LittleEndian.PutUint32(sec[16:], crc(InitialCRC, sec[labelCRCStart:]))
	return sec
}

// readFull reads exactly len(b) bytes at off.
func readFull(r io.ReaderAt, b []byte, off int64) error {
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// UUID returns the VG's UUID as lvm2 prints it (FormatID).
func (vg *VG) UUID() string { return FormatID(vg.ID) }
