package txn

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"math"

	"github.com/imgprep/imgprep/pkg/storage"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// chunk is the unit in which journal data is streamed through the
// checksum and copied back to the image, so memory stays bounded whatever
// the journal claims. It is a multiple of unitSize.
const chunk = 64 << 10

// Journal is a parsed journal whose every structure and checksum has been
// checked against the journal file itself.
type Journal struct {
	r         io.ReaderAt
	State     uint32           // StatePending, StateCommitted or StateUndoing
	OrigSize  int64            // the image's size before the transaction
	FinalSize int64            // its size after
	CutSize   int64            // the lowest size it takes while the changes are applied
	Records   int              // number of records
	DataBytes int64            // bytes of original content recorded
	Image     storage.Identity // the image it was written for; zero if unknown
	RunID     [16]byte         // the run that wrote it
}

// Run returns the run ID in hex, for messages.
func (j *Journal) Run() string { return hex.EncodeToString(j.RunID[:]) }

// Sealed reports whether the journal in r, of size bytes, was ever sealed:
// its State field is not StateOpen. A journal too short to hold the field
// was never sealed. It reads only the State field, so it answers for a
// journal whose other bytes are damaged.
func Sealed(r io.ReaderAt, size int64) (bool, error) {
	if size < stateOff+4 {
		return false, nil
	}
	var b [4]byte
	if err := readFull(r, b[:], stateOff); err != nil {
		return false, err
	}
	return binary.LittleEndian.Uint32(b[:]) != StateOpen, nil
}

// ParseJournal reads and checks the sealed journal in r, of size bytes:
// header, every record's bounds (inside the journal, inside the original
// image size, in increasing order without overlap), the trailer and the
// crc32c. It reads in bounded chunks and allocates nothing in proportion
// to what the journal claims. Errors are *JournalError values wrapping an
// ErrJournal* sentinel. A journal never sealed (State zero) is
// ErrJournalCorrupt at the State field: Recover asks Sealed first.
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
	case h.Version == 0:
		return nil, badJournal(8, ErrJournalCorrupt)
	case (h.Version != journalVersion && h.Version != journalVersionNoHoles) || h.HeaderSize != headerSize:
		return nil, badJournal(8, ErrJournalVersion)
	case h.JournalSize > uint64(size):
		return nil, badJournal(40, ErrJournalTruncated)
	case h.JournalSize < uint64(size):
		return nil, badJournal(40, ErrJournalCorrupt)
	case h.State != StatePending && h.State != StateCommitted && h.State != StateUndoing:
		return nil, badJournal(stateOff, ErrJournalCorrupt)
	case uint64(h.RecordCount) > uint64(size-headerSize-trailerSize)/recordSize:
		return nil, badJournal(20, ErrJournalCorrupt)
	case h.OrigSize > math.MaxInt64 || h.FinalSize > math.MaxInt64:
		return nil, badJournal(24, ErrJournalCorrupt)
	case h.DataBytes > uint64(size):
		return nil, badJournal(48, ErrJournalCorrupt)
	case h.CutSize > h.OrigSize || h.CutSize > h.FinalSize:
		return nil, badJournal(56, ErrJournalCorrupt)
	case h.ImageKind > kindBlock || (h.ImageKind == kindUnknown && (h.ImageDev != 0 || h.ImageIno != 0)):
		return nil, badJournal(96, ErrJournalCorrupt)
	case h.UnitSize != unitSize:
		return nil, badJournal(100, ErrJournalCorrupt)
	case h.Reserved != [24]byte{}:
		return nil, badJournal(104, ErrJournalCorrupt)
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
		case rec.hole() && h.Version == journalVersionNoHoles:
			return nil, badJournal(pos+8, ErrJournalCorrupt)
		case rec.size() == 0 || rec.dataLen() > uint64(end-pos-recordSize):
			return nil, badJournal(pos+8, ErrJournalCorrupt)
		case rec.Offset < prevEnd || rec.Offset > h.OrigSize || rec.size() > h.OrigSize-rec.Offset:
			return nil, badJournal(pos, ErrJournalCorrupt)
		case rec.units() > uint64(end-pos-recordSize-int64(rec.dataLen()))/digestSize:
			return nil, badJournal(pos+8, ErrJournalCorrupt)
		}
		crc = crc32.Update(crc, castagnoli, rb[:])
		pos += recordSize
		for left := int64(rec.dataLen()) + int64(rec.units())*digestSize; left > 0; {
			n := min(left, chunk)
			if err := readFull(r, buf[:n], pos); err != nil {
				return nil, badJournal(pos, err)
			}
			crc = crc32.Update(crc, castagnoli, buf[:n])
			pos += n
			left -= n
		}
		prevEnd = rec.Offset + rec.size()
		total += rec.dataLen()
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
	j := &Journal{
		r:         r,
		State:     h.State,
		OrigSize:  int64(h.OrigSize),
		FinalSize: int64(h.FinalSize),
		CutSize:   int64(h.CutSize),
		Records:   int(h.RecordCount),
		DataBytes: int64(h.DataBytes),
		RunID:     h.RunID,
	}
	if h.ImageKind != kindUnknown {
		j.Image = storage.Identity{Block: h.ImageKind == kindBlock, Dev: h.ImageDev, Ino: h.ImageIno}
	}
	return j, nil
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

// digest8 is the first 8 bytes of the SHA-256 of p.
func digest8(p []byte) [8]byte {
	s := sha256.Sum256(p)
	return [8]byte(s[:8])
}

// unitsOf calls fn for every digest unit of [off, off+n): its bounds,
// clipped to the range.
func unitsOf(off, n int64, fn func(lo, hi int64) error) error {
	for lo := off; lo < off+n; {
		hi := min(off+n, (lo/unitSize+1)*unitSize)
		if err := fn(lo, hi); err != nil {
			return err
		}
		lo = hi
	}
	return nil
}

// walk calls fn for every record: its header and the journal offsets of
// its data and of its digests. The journal was checked by ParseJournal.
func (j *Journal) walk(fn func(rec recordHeader, data, digests int64) error) error {
	pos := int64(headerSize)
	for range j.Records {
		var rb [recordSize]byte
		if err := readFull(j.r, rb[:], pos); err != nil {
			return err
		}
		var rec recordHeader
		rec.unmarshal(rb[:])
		data := pos + recordSize
		digests := data + int64(rec.dataLen())
		if err := fn(rec, data, digests); err != nil {
			return err
		}
		pos = digests + int64(rec.units())*digestSize
	}
	return nil
}

// restore writes every record's original bytes back to w at its offset,
// and makes every hole a hole again: punched when w can (storage.Sparse),
// zeros written otherwise.
func (j *Journal) restore(w io.WriterAt) error {
	buf := make([]byte, chunk)
	return j.walk(func(rec recordHeader, pos, _ int64) error {
		off := int64(rec.Offset)
		if rec.hole() {
			if p, ok := w.(storage.Sparse); ok && p.PunchHole(off, int64(rec.size())) == nil {
				return nil
			}
			clear(buf)
			for left := int64(rec.size()); left > 0; {
				n := min(left, chunk)
				if _, err := w.WriteAt(buf[:n], off); err != nil {
					return err
				}
				off += n
				left -= n
			}
			return nil
		}
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
		return nil
	})
}

// verify checks that f, of size bytes, is the image the journal was
// written for, part way through the commit: every digest unit wholly
// below the cut size holds its original or its new bytes, except that one
// unit may be torn by the write a crash interrupted (new bytes, then the
// original ones to its end). Units at or past the cut size were cut and
// regrown by the commit and hold nothing to check. It returns the number
// of units checked, and an error naming the first unit that fails.
func (j *Journal) verify(f io.ReaderAt, size int64) (checked int, err error) {
	img := make([]byte, unitSize)
	orig := make([]byte, unitSize)
	torn := int64(-1)
	limit := min(j.CutSize, size)
	err = j.walk(func(rec recordHeader, data, digests int64) error {
		i := int64(0)
		return unitsOf(int64(rec.Offset), int64(rec.size()), func(lo, hi int64) error {
			defer func() { i++ }()
			if hi > limit {
				return nil
			}
			var db [digestSize]byte
			if err := readFull(j.r, db[:], digests+i*digestSize); err != nil {
				return err
			}
			var d unitDigest
			d.unmarshal(db[:])
			n := hi - lo
			if m, err := f.ReadAt(img[:n], lo); int64(m) != n {
				return fmt.Errorf("reading the image at %d: %v", lo, err)
			}
			checked++
			got := digest8(img[:n])
			if got == d.Pre || got == d.Post {
				return nil
			}
			if rec.hole() {
				clear(orig[:n])
			} else if err := readFull(j.r, orig[:n], data+lo-int64(rec.Offset)); err != nil {
				return err
			}
			if torn < 0 && img[n-1] == orig[n-1] && !bytes.Equal(img[:n], orig[:n]) {
				torn = lo
				return nil
			}
			return fmt.Errorf("%w: the image's bytes %d to %d are neither those the journal's run found nor those it wrote", ErrJournalMismatch, lo, hi)
		})
	})
	return checked, err
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
