package txn

import (
	"errors"
	"fmt"

	"github.com/imgprep/imgprep/pkg/storage"
)

// ErrNotPrepared: Rollback of a transaction that Prepare did not prepare.
var ErrNotPrepared = errors.New("txn: transaction not prepared")

// prepared is a transaction between Prepare and Commit or Rollback: its
// journal is written, durable and pending, and the file holds the new
// contents.
type prepared struct {
	j        *Journal
	jf       storage.File // nil when nothing was staged
	finished bool         // Commit or Rollback ran
}

// Prepare is the first phase of a commit that spans several files (the
// disks of one VM): it does Commit's steps 1–3 (journal written and
// synced, staged changes applied and synced) and stops before the commit
// point, leaving the journal PENDING. Then Commit marks it committed, or
// Rollback restores the file from the journal. A crash in between is
// rolled back by the next Recover, as a crash inside Commit is.
//
// To change several files together, Prepare each; if one fails, Rollback
// those prepared; otherwise Commit each. The files are then all changed or
// all as before, except after a crash during the Commit calls themselves
// (a few fsyncs), which leaves the files committed so far changed and the
// others rolled back by their next Recover.
//
// On error the file is as before and the transaction is finished, as for
// Commit.
func (t *Tx) Prepare() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.prep != nil {
		return fmt.Errorf("%w (prepared)", ErrFinished)
	}
	return t.prepare()
}

// Rollback undoes a prepared transaction: the file's original bytes and
// size are written back from the journal, the file synced, the journal
// removed. The error matches ErrRollbackFailed when the restore failed
// (the journal is kept for the next Recover), ErrNotPrepared without a
// Prepare.
func (t *Tx) Rollback() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.prep
	if p == nil || p.finished {
		return ErrNotPrepared
	}
	t.prep = &prepared{finished: true}
	t.st.reset()
	if p.jf == nil {
		return nil
	}
	defer p.jf.Close()
	// Marked undoing first, so that a crash during the restore is
	// finished by the next Recover without the digest check (the file
	// then holds a mix of restored and new bytes).
	_ = setState(p.jf, StateUndoing)
	if err := rollback(t.f, p.j); err != nil {
		return fmt.Errorf("%w: restoring the image failed (%v): the journal %s is kept, and the next open of the image (or imgprep recover) restores it", ErrRollbackFailed, err, t.opts.JournalPath)
	}
	if err := t.opts.Dir.Remove(t.opts.JournalPath); err == nil {
		_ = t.opts.Dir.SyncDir(t.opts.JournalPath)
	}
	return nil
}
