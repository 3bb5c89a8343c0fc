package txn

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/imgprep/imgprep/pkg/storage"
)

// Commit makes every staged change land in the file, or none:
//
//  1. write the journal, unsealed (State zero): header with the image's
//     identity and a fresh run ID, the ORIGINAL bytes of every region
//     about to be overwritten or cut with the digests of every unit of
//     them before and after, trailer with crc32c;
//  2. fsync the journal and its directory;
//  3. seal it (State pending) and fsync it;
//  4. apply the staged truncation, writes and extension to the file;
//     fsync it;
//  5. mark the journal committed (its State field) and fsync it;
//  6. remove the journal (without syncing the directory: a committed
//     journal that comes back after a crash is merely removed again).
//
// A nil error means every change is in the file and durable. An error
// means the file is as it was before (after the next Recover if the error
// matches ErrRollbackFailed; before or after if it matches ErrUncertain,
// which takes two failures in a row at the commit point): a failure in
// 1–3 removes the journal, the file untouched; a failure in 4–5 restores
// the file from the journal at once. A failure in step 6 is not a failed
// commit: the journal says committed, and the next Recover removes it.
//
// A transaction with nothing staged commits without writing anything.
func (t *Tx) Commit() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.prep == nil {
		if err := t.prepare(); err != nil {
			return err
		}
	}
	return t.finish()
}

// prepare does steps 1-3 with t.mu held, leaving t.prep set on success.
// On failure the file is as before and the transaction is finished.
func (t *Tx) prepare() error {
	if t.done != nil {
		return t.done
	}
	t.done = fmt.Errorf("%w (committed)", ErrFinished)
	if len(t.st.pages) == 0 && t.size == t.base && t.low == t.base {
		t.prep = &prepared{}
		return nil
	}
	recs, err := t.originals()
	if err != nil {
		return err
	}
	j, jf, err := t.writeJournal(recs)
	if err != nil {
		return err
	}
	if err := t.apply(); err != nil {
		err = t.undo(j, jf, "writing the image", err, false)
		jf.Close()
		return err
	}
	t.prep = &prepared{j: j, jf: jf}
	return nil
}

// finish does steps 4 and 5 after prepare.
func (t *Tx) finish() error {
	p := t.prep
	t.prep = &prepared{finished: true}
	if p.finished {
		return t.done
	}
	if p.jf == nil {
		return nil // nothing was staged
	}
	defer p.jf.Close()
	if err := setState(p.jf, StateCommitted); err != nil {
		return t.undo(p.j, p.jf, "marking the journal committed", err, true)
	}
	// Step 6. The commit stands whatever happens here: a committed
	// journal left behind, or brought back by a crash before the
	// directory reaches the disk, is removed by the next Recover. So the
	// directory is not synced: that saves an fsync.
	_ = t.opts.Dir.Remove(t.opts.JournalPath)
	t.st.reset()
	return nil
}

// writeJournal does steps 1 to 3. On failure it removes the journal and
// returns an error saying the image was not changed.
func (t *Tx) writeJournal(recs []Region) (*Journal, storage.File, error) {
	path, dir := t.opts.JournalPath, t.opts.Dir
	jf, err := dir.Create(path)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, nil, fmt.Errorf("%w: %s: an earlier run did not finish; recover the image first (imgprep recover %s); the image was not changed", ErrJournalExists, path, t.opts.ImageName)
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
	if err == nil {
		err = setState(jf, StatePending)
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

// piece is a journal record's range, and whether it was a hole of the
// image file.
type piece struct {
	Region
	hole bool
}

func (p piece) header() recordHeader {
	h := recordHeader{Offset: uint64(p.Off), Length: uint64(p.Len)}
	if p.hole {
		h.Length |= holeFlag
	}
	return h
}

// pieces cuts the regions into their data and their holes in the image
// file, when the file can tell (storage.Sparse); a region it cannot tell
// of is all data.
func (t *Tx) pieces(recs []Region) []piece {
	out := make([]piece, 0, len(recs))
	sp, ok := t.f.(storage.Sparse)
	for _, r := range recs {
		if !ok {
			out = append(out, piece{Region: r})
			continue
		}
		var cut []piece
		for off := r.Off; off < r.End(); {
			d, err := sp.SeekData(off)
			if err != nil {
				cut = []piece{{Region: r}}
				break
			}
			if d > off {
				end := min(d, r.End())
				cut = append(cut, piece{Region: Region{Off: off, Len: end - off}, hole: true})
				off = end
				continue
			}
			h, err := sp.SeekHole(off)
			if err != nil || h <= off {
				cut = []piece{{Region: r}}
				break
			}
			end := min(h, r.End())
			cut = append(cut, piece{Region: Region{Off: off, Len: end - off}})
			off = end
		}
		out = append(out, cut...)
	}
	return out
}

// fillJournal writes the journal's content, unsealed (step 1).
func (t *Tx) fillJournal(jf storage.File, regions []Region) (*Journal, error) {
	recs := t.pieces(regions)
	var data, digests int64
	for _, r := range recs {
		rh := r.header()
		data += int64(rh.dataLen())
		digests += int64(rh.units()) * digestSize
	}
	total := int64(headerSize) + int64(len(recs))*recordSize + data + digests + trailerSize
	h := journalHeader{
		Version:     journalVersion,
		HeaderSize:  headerSize,
		State:       StateOpen,
		RecordCount: uint32(len(recs)),
		OrigSize:    uint64(t.base),
		FinalSize:   uint64(t.size),
		JournalSize: uint64(total),
		DataBytes:   uint64(data),
		CutSize:     uint64(t.low),
		UnitSize:    unitSize,
	}
	copy(h.Magic[:], journalMagic)
	if id := t.opts.Identity; !id.IsZero() {
		h.ImageKind, h.ImageDev, h.ImageIno = kindFile, id.Dev, id.Ino
		if id.Block {
			h.ImageKind = kindBlock
		}
	}
	if _, err := rand.Read(h.RunID[:]); err != nil {
		return nil, err
	}
	jw := &journalWriter{w: jf, bufSize: t.opts.BufferSize}
	var hb [headerSize]byte
	h.marshal(hb[:])
	if err := jw.write(hb[:]); err != nil {
		return nil, err
	}
	orig := make([]byte, chunk)
	post := make([]byte, len(orig))
	for _, r := range recs {
		var rb [recordSize]byte
		rh := r.header()
		rh.marshal(rb[:])
		if err := jw.write(rb[:]); err != nil {
			return nil, err
		}
		var ds []byte
		// Pieces end on chunk boundaries of the image, so that no digest
		// unit straddles two.
		for off := r.Off; off < r.End(); {
			n := min(r.End(), (off/chunk+1)*chunk) - off
			if m, err := t.f.ReadAt(orig[:n], off); int64(m) != n {
				if err == nil || err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return nil, fmt.Errorf("reading the image's original bytes at %d: %w", off, err)
			}
			if !r.hole {
				if err := jw.write(orig[:n]); err != nil {
					return nil, err
				}
			}
			pn, err := t.readLocked(post[:n], off)
			if err != nil && err != io.EOF {
				return nil, fmt.Errorf("reading the staged bytes at %d: %w", off, err)
			}
			base := off
			_ = unitsOf(off, n, func(lo, hi int64) error {
				var d unitDigest
				d.Pre = digest8(orig[lo-base : hi-base])
				d.Post = digest8(post[lo-base : max(lo-base, min(hi-base, int64(pn)))])
				var db [digestSize]byte
				d.marshal(db[:])
				ds = append(ds, db[:]...)
				return nil
			})
			off += n
		}
		if err := jw.write(ds); err != nil {
			return nil, err
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
	return &Journal{State: StatePending, OrigSize: t.base, FinalSize: t.size, CutSize: t.low,
		Records: len(recs), DataBytes: data, Image: t.opts.Identity, RunID: h.RunID}, nil
}

// apply does step 3.
func (t *Tx) apply() error {
	if t.low < t.base {
		if err := t.f.Truncate(t.low); err != nil {
			return err
		}
	}
	cur := t.low
	if len(t.st.pages) > 0 {
		rs, err := t.st.regions()
		if err != nil {
			return err
		}
		if k := len(rs); k > 0 {
			cur = max(cur, rs[k-1].End())
		}
		if err := t.st.writeTo(t.f, t.opts.BufferSize); err != nil {
			return err
		}
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

// undo restores the file from the journal after a failure in step 4 or 5
// and removes the journal. The journal is first marked undoing, so that a
// crash during the restore is finished by the next Recover without
// checking the digests (the image then holds a mix of restored and new
// bytes). If the failure was in marking the journal committed and the
// mark cannot be replaced, the outcome is left to the next Recover.
func (t *Tx) undo(j *Journal, jf storage.File, what string, cause error, marking bool) error {
	path := t.opts.JournalPath
	if err := setState(jf, StateUndoing); err != nil && marking {
		return fmt.Errorf("txn: %s: %w; %w, %w: the journal %s could not be marked for rollback (%v): the image holds the new contents, the journal is kept, and the next recovery keeps them or restores the old ones", what, cause, ErrRollbackFailed, ErrUncertain, path, err)
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
// part way through applying it: its identity (device and inode, when both
// are known) is the journal's, and its size is the original one, or
// between the cut size and the final size (step 4 truncates to the cut
// size, then writes and extends up to the final size).
func (j *Journal) matches(f storage.File, id storage.Identity) (int64, error) {
	if !j.Image.IsZero() && !id.IsZero() && j.Image != id {
		return 0, fmt.Errorf("%w: it was written for the %s, and the image is the %s", ErrJournalMismatch, j.Image, id)
	}
	size, err := f.Size()
	if err != nil {
		return 0, err
	}
	if size == j.OrigSize || (size >= j.CutSize && size <= max(j.FinalSize, j.CutSize)) {
		return size, nil
	}
	return 0, fmt.Errorf("%w: the image is %d bytes, the journal expects %d or %d to %d", ErrJournalMismatch, size, j.OrigSize, j.CutSize, j.FinalSize)
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
// opens the file for writing:
//
//   - no journal: nothing to do;
//   - a journal never sealed (the crash came before step 3, so the file
//     was never touched): removed;
//   - sealed and committed: removed;
//   - sealed and pending: applied only when it is shown to be this
//     image's (same device and inode, a size the commit passes through,
//     every digest unit holding its original or its new bytes); then it
//     is marked undoing, every original region and the original size are
//     written back, the file is synced and the journal removed
//     (rolledBack = true);
//   - undoing (a crash came during a rollback): the rollback is finished.
//
// A journal that was sealed but fails a check (ErrJournalDamaged), that
// belongs to another file (ErrJournalMismatch), of an unknown version, or
// that the storage refuses to trust (storage.ErrUntrusted: another
// user's, or writable by others) is kept, and the image is not touched;
// the error names both files and says what to do. If restoring fails, the
// journal is kept and the error matches ErrRollbackFailed; Recover can be
// run again.
func Recover(f storage.File, opts Options) (rolledBack bool, err error) {
	o, err := opts.resolve(f)
	if err != nil {
		return false, err
	}
	path, dir, name := o.JournalPath, o.Dir, o.ImageName
	jf, err := dir.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("txn: journal %s of %s: %w; %s was not touched", path, name, err, name)
	}
	defer jf.Close()
	size, err := jf.Size()
	if err != nil {
		return false, fmt.Errorf("txn: journal %s: %w", path, err)
	}
	sealed, err := Sealed(jf, size)
	if err != nil {
		return false, fmt.Errorf("txn: journal %s: %w", path, err)
	}
	if sealed {
		rolledBack, err = recoverSealed(f, jf, size, o)
		if err != nil {
			return false, err
		}
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

// recoverSealed handles a sealed journal; nil error means it may be
// removed.
func recoverSealed(f, jf storage.File, size int64, o Options) (bool, error) {
	path, name := o.JournalPath, o.ImageName
	keep := func(err error, what string) error {
		return fmt.Errorf("txn: journal %s of %s: %w; %s was not touched and the journal is kept: %s", path, name, err, name, what)
	}
	j, err := ParseJournal(jf, size)
	switch {
	case errors.Is(err, ErrJournalVersion):
		return false, keep(err, "recover it with the imgprep that wrote it")
	case err != nil:
		return false, keep(fmt.Errorf("%w: %w", ErrJournalDamaged, err), "the image may hold a half-written change; restore it from a backup, then remove the journal")
	case j.State == StateCommitted:
		return false, nil
	}
	isize, err := j.matches(f, o.Identity)
	if err != nil {
		return false, keep(err, "if it belongs to another copy of the image, move it beside that copy; otherwise remove it")
	}
	if j.State == StatePending {
		if _, err := j.verify(f, isize); err != nil {
			return false, keep(fmt.Errorf("run %s: %w", j.Run(), err), "the image was replaced or changed since that run; remove the journal if the image is good")
		}
		if err := setState(jf, StateUndoing); err != nil {
			return false, fmt.Errorf("txn: journal %s of %s: marking it for rollback: %w; nothing was restored yet", path, name, err)
		}
	}
	if err := rollback(f, j); err != nil {
		return false, fmt.Errorf("txn: recovering %s from journal %s: %w: %v", name, path, ErrRollbackFailed, err)
	}
	return true, nil
}
