package lvm

import (
	"bytes"
	"encoding/binary"
	"io"
)

// Metadata area constants (lvm2 lib/format_text/layout.h).
const (
	MDAHeaderSize = 512
	// MDAMagic is FMTT_MAGIC.
	MDAMagic   = " LVM2 x[5A%r0N*>"
	MDAVersion = 1
	// rawLocnIgnored marks a metadata area lvm2 is told to ignore.
	rawLocnIgnored = 0x00000001
	// MaxMetadataSize bounds the metadata text imgprep reads: lvm2's
	// default metadata area is 1 MiB, and lvm2 warns long before this.
	MaxMetadataSize = 16 << 20
	// mdaChecksumStart is where the header checksum's coverage starts.
	mdaChecksumStart = 4
)

// MDAHeader is the fixed part of struct mda_header; an array of RawLocn,
// ended by a zero entry, follows.
type MDAHeader struct {
	Checksum uint32 // CRC of the header from Magic to its end
	Magic    [16]byte
	Version  uint32
	Start    uint64 // the area's absolute byte offset on the device
	Size     uint64 // the area's size, header included
}

// RawLocn is struct raw_locn: where in the area the metadata text is.
type RawLocn struct {
	Offset   uint64 // from the area's start
	Size     uint64 // bytes of text
	Checksum uint32 // CRC of the text
	Flags    uint32
}

// MDA is one decoded metadata area.
type MDA struct {
	Area    DiskLocn // where the label says it is
	Header  MDAHeader
	Locn    RawLocn // raw_locns[0], the committed metadata
	Ignored bool    // lvm2 ignores this area (pvchange --metadataignore)
	// Text is the committed metadata text (nil when the area is empty or
	// ignored).
	Text []byte
	raw  [MDAHeaderSize]byte
}

// ReadMDA reads the metadata area at a of the device r of size bytes: its
// header (checksum, magic, version, start and size), and the committed
// metadata text, which may wrap around the area's circular buffer, with
// its checksum checked.
func ReadMDA(r io.ReaderAt, size int64, a DiskLocn) (*MDA, error) {
	off := int64(a.Offset)
	if a.Offset > uint64(size) || a.Size > uint64(size)-a.Offset || a.Size < 2*MDAHeaderSize {
		return nil, formatErr(off, "metadata area", ErrBadMDA, "area of %d bytes at byte %d on a %d-byte device", a.Size, a.Offset, size)
	}
	m := &MDA{Area: a}
	if err := readFull(r, m.raw[:], off); err != nil {
		return nil, &FormatError{Offset: off, What: "metadata area header", Err: err}
	}
	if err := m.decodeHeader(); err != nil {
		return nil, err
	}
	if m.Locn.Offset == 0 || m.Ignored {
		return m, nil
	}
	text, err := m.readText(r)
	if err != nil {
		return nil, err
	}
	m.Text = text
	return m, nil
}

func (m *MDA) decodeHeader() error {
	off := int64(m.Area.Offset)
	_ = binary.Read(bytes.NewReader(m.raw[:]), binary.LittleEndian, &m.Header)
	h := &m.Header
	if string(h.Magic[:]) != MDAMagic {
		return formatErr(off, "metadata area header", ErrBadMDA, "bad magic")
	}
	if got := crc(InitialCRC, m.raw[mdaChecksumStart:]); got != h.Checksum {
		return formatErr(off, "metadata area header", ErrChecksum, "header checksum %#08x, computed %#08x", h.Checksum, got)
	}
	if h.Version != MDAVersion {
		return formatErr(off, "metadata area header", ErrBadMDA, "version %d", h.Version)
	}
	if h.Start != m.Area.Offset || h.Size != m.Area.Size {
		return formatErr(off, "metadata area header", ErrBadMDA, "header says the area is %d bytes at byte %d, the label %d at %d",
			h.Size, h.Start, m.Area.Size, m.Area.Offset)
	}
	pos := binary.Size(MDAHeader{})
	_ = binary.Read(bytes.NewReader(m.raw[pos:]), binary.LittleEndian, &m.Locn)
	m.Ignored = m.Locn.Flags&rawLocnIgnored != 0
	l := m.Locn
	if l.Offset == 0 {
		return nil
	}
	if l.Offset < MDAHeaderSize || l.Offset >= h.Size {
		return formatErr(off, "metadata area header", ErrBadMDA, "metadata at offset %d of a %d-byte area", l.Offset, h.Size)
	}
	if l.Size == 0 || l.Size > h.Size-MDAHeaderSize || l.Size > MaxMetadataSize {
		return formatErr(off, "metadata area header", ErrLimit, "metadata of %d bytes in a %d-byte area", l.Size, h.Size)
	}
	return nil
}

// readText reads the committed text, wrapping at the area's end back to
// just after the header, and checks its checksum.
func (m *MDA) readText(r io.ReaderAt) ([]byte, error) {
	l, start := m.Locn, int64(m.Area.Offset)
	text := make([]byte, l.Size)
	first := l.Size
	if l.Offset+l.Size > m.Header.Size {
		first = m.Header.Size - l.Offset
	}
	if err := readFull(r, text[:first], start+int64(l.Offset)); err != nil {
		return nil, &FormatError{Offset: start + int64(l.Offset), What: "metadata text", Err: err}
	}
	if first < l.Size {
		if err := readFull(r, text[first:], start+MDAHeaderSize); err != nil {
			return nil, &FormatError{Offset: start + MDAHeaderSize, What: "metadata text", Err: err}
		}
	}
	if got := crc(InitialCRC, text); got != l.Checksum {
		return nil, formatErr(start+int64(l.Offset), "metadata text", ErrChecksum, "text checksum %#08x, computed %#08x", l.Checksum, got)
	}
	return text, nil
}

// pieces returns where text of n bytes placed at area offset o lies on
// the device: one or two (offset, length) pieces.
func (m *MDA) pieces(o, n uint64) [][2]int64 {
	start := int64(m.Area.Offset)
	if o+n <= m.Header.Size {
		return [][2]int64{{start + int64(o), int64(n)}}
	}
	first := m.Header.Size - o
	return [][2]int64{{start + int64(o), int64(first)}, {start + MDAHeaderSize, int64(n - first)}}
}

// place returns the area offset for new text of n bytes, after the
// committed text as lvm2 places it (512-byte aligned, wrapping), so that
// old and new never overlap.
func (m *MDA) place(n uint64) (uint64, error) {
	buf := m.Header.Size - MDAHeaderSize
	old := m.Locn.Size
	if m.Locn.Offset == 0 {
		old = 0
	}
	if n+old+MDAHeaderSize > buf {
		return 0, formatErr(int64(m.Area.Offset), "metadata area", ErrNoSpace, "%d bytes of new metadata and %d of old in a %d-byte buffer", n, old, buf)
	}
	if m.Locn.Offset == 0 {
		return MDAHeaderSize, nil
	}
	end := m.Locn.Offset + m.Locn.Size
	if end > m.Header.Size { // the old text wrapped
		end = MDAHeaderSize + (end - m.Header.Size)
	}
	end = (end + MDAHeaderSize - 1) &^ (MDAHeaderSize - 1)
	if end >= m.Header.Size {
		end = MDAHeaderSize
	}
	return end, nil
}

// withText returns the header sector with raw_locns[0] pointing at text
// of n bytes with checksum sum at area offset o, raw_locns[1] (the
// precommitted copy) cleared, and the header checksum recomputed.
func (m *MDA) withText(o, n uint64, sum uint32) [MDAHeaderSize]byte {
	sec := m.raw
	pos := binary.Size(MDAHeader{})
	binary.LittleEndian.PutUint64(sec[pos:], o)
	binary.LittleEndian.PutUint64(sec[pos+8:], n)
	binary.LittleEndian.PutUint32(sec[pos+16:], sum)
	binary.LittleEndian.PutUint32(sec[pos+20:], m.Locn.Flags)
	clear(sec[pos+24 : pos+48])
	binary.LittleEndian.PutUint32(sec[0:], crc(InitialCRC, sec[mdaChecksumStart:]))
	return sec
}
