package txn

import (
	"hash/crc32"
	"io"
	"math"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// chunk is the unit in which journal data is streamed through the
// checksum and copied back to the image, so memory stays bounded whatever
// the journal claims.
const chunk = 64 << 10

// Journal is a parsed journal whose every structure and checksum has been
// checked against the journal file itself.
type Journal struct {
	r         io.ReaderAt
	State     uint32 // StatePending or StateCommitted
	OrigSize  int64  // the image's size before the transaction
	FinalSize int64  // its size after
	CutSize   int64  // the lowest size it takes while the changes are applied
	Records   int    // number of records
	DataBytes int64  // bytes of original content recorded
}

// ParseJournal reads and checks the journal in r, of size bytes: header,
// every record's bounds (inside the journal, inside the original image
// size, in increasing order without overlap), the trailer and the
// crc32c. It reads in bounded chunks and allocates nothing in proportion
// to what the journal claims. Errors are *JournalError values wrapping an
// ErrJournal* sentinel.
func ParseJournal(r io.ReaderAt, size int64) (*Journal, error) {
	if size < headerSize+trailerSize {
		return nil, badJournal(0, ErrJournalTruncated)
	}
	var hb [headerSize]byte
	if err := readFull(r, hb[:], 0); err != nil {
		return nil, badJournal(0, err)
	}
	var h journalHeader
	h.unmarshal(hb[:])
	switch {
	case string(h.Magic[:]) != journalMagic:
		return nil, badJournal(0, ErrJournalMagic)
	case h.Version > journalVersion || (h.Version == journalVersion && h.HeaderSize != headerSize):
		return nil, badJournal(8, ErrJournalVersion)
	case h.Version == 0:
		return nil, badJournal(8, ErrJournalCorrupt)
	case h.JournalSize > uint64(size):
		return nil, badJournal(40, ErrJournalTruncated)
	case h.JournalSize < uint64(size):
		return nil, badJournal(40, ErrJournalCorrupt)
	case h.State != StatePending && h.State != StateCommitted:
		return nil, badJournal(stateOff, ErrJournalCorrupt)
	case uint64(h.RecordCount) > uint64(size-headerSize-trailerSize)/recordSize:
		return nil, badJournal(20, ErrJournalCorrupt)
	case h.OrigSize > math.MaxInt64 || h.FinalSize > math.MaxInt64:
		return nil, badJournal(24, ErrJournalCorrupt)
	case h.DataBytes > uint64(size):
		return nil, badJournal(48, ErrJournalCorrupt)
	case h.CutSize > h.OrigSize || h.CutSize > h.FinalSize:
		return nil, badJournal(56, ErrJournalCorrupt)
	}
	clear(hb[stateOff : stateOff+4]) // State is checksummed as zero
	crc := crc32.Update(0, castagnoli, hb[:])

	end := size - trailerSize
	pos := int64(headerSize)
	var prevEnd, total uint64
	buf := make([]byte, chunk)
	for i := uint32(0); i < h.RecordCount; i++ {
		if pos+recordSize > end {
			return nil, badJournal(pos, ErrJournalTruncated)
		}
		var rb [recordSize]byte
		if err := readFull(r, rb[:], pos); err != nil {
			return nil, badJournal(pos, err)
		}
		var rec recordHeader
		rec.unmarshal(rb[:])
		switch {
		case rec.Length == 0 || rec.Length > uint64(end-pos-recordSize):
			return nil, badJournal(pos+8, ErrJournalCorrupt)
		case rec.Offset < prevEnd || rec.Offset > h.OrigSize || rec.Length > h.OrigSize-rec.Offset:
			return nil, badJournal(pos, ErrJournalCorrupt)
		}
		crc = crc32.Update(crc, castagnoli, rb[:])
		pos += recordSize
		for left := int64(rec.Length); left > 0; {
			n := min(left, chunk)
			if err := readFull(r, buf[:n], pos); err != nil {
				return nil, badJournal(pos, err)
			}
			crc = crc32.Update(crc, castagnoli, buf[:n])
			pos += n
			left -= n
		}
		prevEnd = rec.Offset + rec.Length
		total += rec.Length
	}
	if pos != end {
		return nil, badJournal(pos, ErrJournalCorrupt)
	}
	if total != h.DataBytes {
		return nil, badJournal(48, ErrJournalCorrupt)
	}
	var tb [trailerSize]byte
	if err := readFull(r, tb[:], end); err != nil {
		return nil, badJournal(end, err)
	}
	var t journalTrailer
	t.unmarshal(tb[:])
	if string(t.Magic[:]) != trailerMagic || t.Reserved != 0 {
		return nil, badJournal(end, ErrJournalCorrupt)
	}
	if t.Checksum != crc {
		return nil, badJournal(end+8, ErrJournalChecksum)
	}
	return &Journal{
		r:         r,
		State:     h.State,
		OrigSize:  int64(h.OrigSize),
		FinalSize: int64(h.FinalSize),
		CutSize:   int64(h.CutSize),
		Records:   int(h.RecordCount),
		DataBytes: int64(h.DataBytes),
	}, nil
}

// readFull reads len(p) bytes at off; a short read is ErrJournalTruncated.
func readFull(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF || err == io.ErrUnexpectedEOF {
		return ErrJournalTruncated
	}
	return err
}

// restore writes every record's original bytes back to w at its offset.
// The journal was checked by ParseJournal, so every record is in bounds.
func (j *Journal) restore(w io.WriterAt) error {
	buf := make([]byte, chunk)
	pos := int64(headerSize)
	for range j.Records {
		var rb [recordSize]byte
		if err := readFull(j.r, rb[:], pos); err != nil {
			return err
		}
		var rec recordHeader
		rec.unmarshal(rb[:])
		pos += recordSize
		off := int64(rec.Offset)
		for left := int64(rec.Length); left > 0; {
			n := min(left, chunk)
			if err := readFull(j.r, buf[:n], pos); err != nil {
				return err
			}
			if _, err := w.WriteAt(buf[:n], off); err != nil {
				return err
			}
			pos += n
			off += n
			left -= n
		}
	}
	return nil
}

// journalWriter appends to a journal file through a buffer of at most
// bufSize bytes, keeping the running checksum.
type journalWriter struct {
	w       io.WriterAt
	pos     int64 // file offset of buf[0]
	buf     []byte
	bufSize int
	crc     uint32
}

func (jw *journalWriter) write(p []byte) error {
	jw.crc = crc32.Update(jw.crc, castagnoli, p)
	return jw.writeRaw(p)
}

// writeRaw appends p without checksumming it.
func (jw *journalWriter) writeRaw(p []byte) error {
	for len(p) > 0 {
		n := min(len(p), jw.bufSize-len(jw.buf))
		jw.buf = append(jw.buf, p[:n]...)
		p = p[n:]
		if len(jw.buf) == jw.bufSize {
			if err := jw.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (jw *journalWriter) flush() error {
	if len(jw.buf) == 0 {
		return nil
	}
	if _, err := jw.w.WriteAt(jw.buf, jw.pos); err != nil {
		return err
	}
	jw.pos += int64(len(jw.buf))
	jw.buf = jw.buf[:0]
	return nil
}
