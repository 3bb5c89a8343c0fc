package txn

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"

	"github.com/imgprep/imgprep/pkg/storage"
)

// Commit makes every staged change land in the file, or none:
//
//  1. write the journal: header, the ORIGINAL bytes of every region about
//     to be overwritten or cut, trailer with crc32c;
//  2. fsync the journal and its directory;
//  3. apply the staged truncation, writes and extension to the file;
//     fsync it;
//  4. mark the journal committed (its State field) and fsync it;
//  5. remove the journal (without syncing the directory: a committed
//     journal that comes back after a crash is merely removed again).
//
// A nil error means every change is in the file and durable. An error
// means the file is as it was before (after the next Recover if the error
// matches ErrRollbackFailed; before or after if it matches ErrUncertain,
// which takes two failures in a row at the commit point): a failure in 1–2 removes the journal, the
// file untouched; a failure in 3–4 restores the file from the journal at
// once. A failure in step 5 is not a failed commit: the journal says
// committed, and the next Recover removes it.
//
// A transaction with nothing staged commits without writing anything.
func (t *Tx) Commit() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done != nil {
		return t.done
	}
	t.done = fmt.Errorf("%w (committed)", ErrFinished)
	if len(t.ext) == 0 && t.size == t.base && t.low == t.base {
		return nil
	}
	j, jf, err := t.writeJournal(t.originals())
	if err != nil {
		return err
	}
	defer jf.Close()
	if err := t.apply(); err != nil {
		return t.undo(j, jf, "writing the image", err, false)
	}
	if err := setState(jf, StateCommitted); err != nil {
		return t.undo(j, jf, "marking the journal committed", err, true)
	}
	// Step 5. The commit stands whatever happens here: a committed
	// journal left behind, or brought back by a crash before the
	// directory reaches the disk, is removed by the next Recover. So the
	// directory is not synced: that saves an fsync.
	_ = t.opts.Dir.Remove(t.opts.JournalPath)
	t.ext = nil
	return nil
}

// writeJournal does steps 1 and 2. On failure it removes the journal and
// returns an error saying the image was not changed.
func (t *Tx) writeJournal(recs []Region) (*Journal, storage.File, error) {
	path, dir := t.opts.JournalPath, t.opts.Dir
	jf, err := dir.Create(path)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, nil, fmt.Errorf("%w: %s: an earlier run did not finish; recover the image first (imgprep recover); the image was not changed", ErrJournalExists, path)
		}
		return nil, nil, fmt.Errorf("txn: creating journal %s: %w; the image was not changed", path, err)
	}
	j, err := t.fillJournal(jf, recs)
	if err == nil {
		err = jf.Sync()
	}
	if err == nil {
		err = dir.SyncDir(path)
	}
	if err != nil {
		jf.Close()
		if rerr := dir.Remove(path); rerr == nil {
			_ = dir.SyncDir(path)
		}
		return nil, nil, fmt.Errorf("txn: writing journal %s: %w; the image was not changed", path, err)
	}
	j.r = jf
	return j, jf, nil
}

// fillJournal writes the journal's content (step 1).
func (t *Tx) fillJournal(jf storage.File, recs []Region) (*Journal, error) {
	var data int64
	for _, r := range recs {
		data += r.Len
	}
	total := int64(headerSize) + int64(len(recs))*recordSize + data + trailerSize
	h := journalHeader{
		Version:     journalVersion,
		HeaderSize:  headerSize,
		RecordCount: uint32(len(recs)),
		OrigSize:    uint64(t.base),
		FinalSize:   uint64(t.size),
		JournalSize: uint64(total),
		DataBytes:   uint64(data),
		CutSize:     uint64(t.low),
	}
	copy(h.Magic[:], journalMagic)
	jw := &journalWriter{w: jf, bufSize: t.opts.BufferSize}
	var hb [headerSize]byte
	h.marshal(hb[:]) // State zero: the checksummed form
	jw.crc = crc32.Update(0, castagnoli, hb[:])
	h.State = StatePending
	h.marshal(hb[:])
	if err := jw.writeRaw(hb[:]); err != nil {
		return nil, err
	}
	buf := make([]byte, min(data, int64(t.opts.BufferSize), chunk))
	for _, r := range recs {
		var rb [recordSize]byte
		(&recordHeader{Offset: uint64(r.Off), Length: uint64(r.Len)}).marshal(rb[:])
		if err := jw.write(rb[:]); err != nil {
			return nil, err
		}
		for off := r.Off; off < r.End(); {
			n := min(r.End()-off, int64(len(buf)))
			if m, err := t.f.ReadAt(buf[:n], off); int64(m) != n {
				if err == nil || err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return nil, fmt.Errorf("reading the image's original bytes at %d: %w", off, err)
			}
			if err := jw.write(buf[:n]); err != nil {
				return nil, err
			}
			off += n
		}
	}
	tr := journalTrailer{Checksum: jw.crc}
	copy(tr.Magic[:], trailerMagic)
	var tb [trailerSize]byte
	tr.marshal(tb[:])
	if err := jw.writeRaw(tb[:]); err != nil {
		return nil, err
	}
	if err := jw.flush(); err != nil {
		return nil, err
	}
	return &Journal{State: StatePending, OrigSize: t.base, FinalSize: t.size, CutSize: t.low, Records: len(recs), DataBytes: data}, nil
}

// apply does step 3.
func (t *Tx) apply() error {
	if t.low < t.base {
		if err := t.f.Truncate(t.low); err != nil {
			return err
		}
	}
	cur := t.low
	for _, e := range t.ext {
		if n, err := t.f.WriteAt(e.data, e.off); err != nil || n != len(e.data) {
			if err == nil {
				err = io.ErrShortWrite
			}
			return err
		}
		cur = max(cur, e.end())
	}
	if cur != t.size {
		if err := t.f.Truncate(t.size); err != nil {
			return err
		}
	}
	return t.f.Sync()
}

// setState rewrites the journal's State field and syncs the journal.
func setState(jf storage.File, state uint32) error {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], state)
	if _, err := jf.WriteAt(b[:], stateOff); err != nil {
		return err
	}
	return jf.Sync()
}

// undo restores the file from the journal after a failure in step 3 or 4
// and removes the journal. If the failure was in marking the journal
// committed, the journal is first made pending again, so that a crash
// during the restore still recovers.
func (t *Tx) undo(j *Journal, jf storage.File, what string, cause error, marking bool) error {
	path := t.opts.JournalPath
	if marking {
		if err := setState(jf, StatePending); err != nil {
			return fmt.Errorf("txn: %s: %w; %w, %w: the journal %s could not be made pending again (%v): the image holds the new contents, the journal is kept, and the next recovery keeps them or restores the old ones", what, cause, ErrRollbackFailed, ErrUncertain, path, err)
		}
	}
	if err := rollback(t.f, j); err != nil {
		return fmt.Errorf("txn: %s: %w; %w: restoring the image failed too (%v): the journal %s is kept, and the next open of the image (or imgprep recover) restores it", what, cause, ErrRollbackFailed, err, path)
	}
	jf.Close()
	if err := t.opts.Dir.Remove(path); err == nil {
		_ = t.opts.Dir.SyncDir(path)
	}
	return fmt.Errorf("txn: %s: %w; %w: the image is unchanged", what, cause, ErrRolledBack)
}

// matches checks that f could be the image the journal was written for,
// part way through applying it: its size is the original one, or between
// the cut size and the final size (step 3 truncates to the cut size, then
// writes and extends up to the final size). It catches a journal left
// beside an image that was since replaced by another.
func (j *Journal) matches(f storage.File) error {
	size, err := f.Size()
	if err != nil {
		return err
	}
	if size == j.OrigSize || (size >= j.CutSize && size <= max(j.FinalSize, j.CutSize)) {
		return nil
	}
	return fmt.Errorf("%w: the image is %d bytes, the journal expects %d or %d to %d", ErrJournalMismatch, size, j.OrigSize, j.CutSize, j.FinalSize)
}

// rollback writes the journal's original bytes and size back to f and
// syncs it. It is idempotent, so a crash during it is recovered by
// running it again.
func rollback(f storage.File, j *Journal) error {
	size, err := f.Size()
	if err != nil {
		return err
	}
	if size != j.OrigSize {
		if err := f.Truncate(j.OrigSize); err != nil {
			return err
		}
	}
	if err := j.restore(f); err != nil {
		return err
	}
	return f.Sync()
}

// Recover finishes what an interrupted Commit left, before anything else
// opens the file for writing. With no journal it does nothing. With a
// complete journal still pending it writes every original region back,
// restores the original size, syncs, and removes the journal
// (rolledBack = true). A committed journal, or an incomplete one (the
// crash came before step 2 finished, so the file was never touched), is
// just removed. A journal of a newer, unknown version is left alone with
// an error. If restoring fails, the journal is kept and the error matches
// ErrRollbackFailed; Recover can be run again.
func Recover(f storage.File, opts Options) (rolledBack bool, err error) {
	o, err := opts.resolve(f)
	if err != nil {
		return false, err
	}
	path, dir := o.JournalPath, o.Dir
	jf, err := dir.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("txn: opening journal %s: %w", path, err)
	}
	defer jf.Close()
	size, err := jf.Size()
	if err != nil {
		return false, fmt.Errorf("txn: journal %s: %w", path, err)
	}
	j, err := ParseJournal(jf, size)
	switch {
	case err == nil && j.State == StatePending:
		if err := j.matches(f); err != nil {
			return false, fmt.Errorf("txn: journal %s: %w; the image was not touched", path, err)
		}
		if err := rollback(f, j); err != nil {
			return false, fmt.Errorf("txn: recovering from journal %s: %w: %v", path, ErrRollbackFailed, err)
		}
		rolledBack = true
	case err == nil: // committed
	case errors.Is(err, ErrJournalMagic), errors.Is(err, ErrJournalTruncated),
		errors.Is(err, ErrJournalChecksum), errors.Is(err, ErrJournalCorrupt):
		// Never sealed: the image was not touched.
	default:
		return false, fmt.Errorf("txn: journal %s: %w; the image was not touched", path, err)
	}
	jf.Close()
	if err := dir.Remove(path); err != nil {
		return rolledBack, fmt.Errorf("txn: removing journal %s: %w", path, err)
	}
	if err := dir.SyncDir(path); err != nil {
		return rolledBack, fmt.Errorf("txn: removing journal %s: %w", path, err)
	}
	return rolledBack, nil
}
