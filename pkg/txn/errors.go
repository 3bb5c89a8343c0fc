package txn

import (
	"errors"
	"strconv"
)

// Errors, matched with errors.Is.
var (
	// ErrJournalMagic: the file does not start with the journal magic.
	ErrJournalMagic = errors.New("txn: not an imgprep journal (bad magic)")
	// ErrJournalVersion: a journal version or header size this code
	// does not know.
	ErrJournalVersion = errors.New("txn: unsupported journal version")
	// ErrJournalTruncated: the journal ends before its header says.
	ErrJournalTruncated = errors.New("txn: journal is truncated")
	// ErrJournalChecksum: the trailer's crc32c does not match the
	// content; the journal was not completely written.
	ErrJournalChecksum = errors.New("txn: journal checksum mismatch")
	// ErrJournalCorrupt: a field is out of bounds (a record past the
	// original size, records out of order, an unknown state).
	ErrJournalCorrupt = errors.New("txn: journal is corrupt")
	// ErrJournalMismatch: a valid journal that does not belong to the
	// image beside it: it was written for another file (device and
	// inode), or the image's size or bytes are impossible part way
	// through its commit (the image was replaced or copied over).
	// Recover leaves both alone.
	ErrJournalMismatch = errors.New("txn: journal does not match the image")
	// ErrJournalDamaged: a journal that was sealed (its image may have
	// been changed) fails a check of its structure or checksum. Recover
	// keeps it and leaves the image alone: a never-sealed journal, by
	// contrast, is simply removed.
	ErrJournalDamaged = errors.New("txn: sealed journal is damaged")
	// ErrJournalExists: a journal is already there when committing; an
	// earlier run did not finish and Recover must run first.
	ErrJournalExists = errors.New("txn: a journal already exists")
	// ErrNoJournalPath: no Options.JournalPath was given and the file
	// does not say its path.
	ErrNoJournalPath = errors.New("txn: no journal path")
	// ErrFinished: the transaction was already committed or discarded.
	ErrFinished = errors.New("txn: transaction already finished")
	// ErrNegative: a negative offset or size.
	ErrNegative = errors.New("txn: negative offset or size")
	// ErrRolledBack: Commit failed after changing the image, and the
	// image was restored from the journal: nothing changed.
	ErrRolledBack = errors.New("txn: commit failed and was rolled back")
	// ErrRollbackFailed: Commit or Recover could not restore the image;
	// the journal is kept so that the next Recover finishes the job.
	ErrRollbackFailed = errors.New("txn: rollback failed; journal kept for recovery")
	// ErrUncertain: the disk failed at the commit point itself (marking
	// the journal committed) and again when undoing the mark; the image
	// holds the new contents and the journal is kept, so the next
	// Recover leaves the image either as before or as after. Only a
	// disk failing twice in a row leads here.
	ErrUncertain = errors.New("txn: commit outcome decided by the next recovery")
)

// JournalError reports a bad structure in a journal file, at a byte
// offset in that file.
type JournalError struct {
	Off int64 // byte offset in the journal of the bad structure
	Err error // one of the ErrJournal* sentinels, possibly wrapped
}

func (e *JournalError) Error() string {
	return e.Err.Error() + " (at journal byte " + strconv.FormatInt(e.Off, 10) + ")"
}

func (e *JournalError) Unwrap() error { return e.Err }

// badJournal returns a *JournalError.
func badJournal(off int64, err error) error { return &JournalError{Off: off, Err: err} }
