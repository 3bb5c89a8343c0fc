package image

import (
	"github.com/imgprep/imgprep/pkg/storage"
	"github.com/imgprep/imgprep/pkg/txn"
)

// Injection puts test doubles under an image opened for writing or for a
// dry run, so that fault-injection tests (internal/faultfile: a power
// loss at the k-th write or sync, ENOSPC or EIO at one) run the real
// stack, transaction included, over a storage layer they control. A nil
// *Injection, or a zero one, changes nothing: production code never sets
// it.
//
// The real file is still opened and locked (QEMU's locks) by Open, and
// closed by Close; Wrap only sees it in between.
type Injection struct {
	// Wrap, when set, wraps the opened image file: every read, write,
	// truncation and sync of the image, the rolling back of an earlier
	// run's journal and the commit included, goes through what it
	// returns.
	Wrap func(storage.File) storage.File
	// JournalDir, when set, creates, opens and removes the rollback
	// journal (IMAGE-imgprep-journal) instead of the host directory.
	JournalDir storage.Dir
}

// file returns the image file as the layers above see it.
func (inj *Injection) file(f *storage.OSFile) storage.File {
	if inj == nil || inj.Wrap == nil {
		return f
	}
	return inj.Wrap(f)
}

// txnOptions returns the transaction options for the journal at path,
// always given, since a wrapped file need not say its path.
func (inj *Injection) txnOptions(journal string) txn.Options {
	o := txn.Options{JournalPath: journal}
	if inj != nil {
		o.Dir = inj.JournalDir
	}
	return o
}
