package txn

import (
	"bytes"
	"errors"
	"testing"

	"github.com/imgprep/imgprep/internal/faultfile"
)

// TestPrepareThenCommitOrRollback: after Prepare the file holds the new
// contents and the journal is pending; Commit keeps them and removes the
// journal, Rollback restores the original bytes and size and removes it,
// and a crash instead of either is rolled back by Recover.
func TestPrepareThenCommitOrRollback(t *testing.T) {
	base := pattern(4096, 3)
	steps := []step{write(100, "new bytes"), write(4000, "grown past the end of the file"), trunc(5000)}
	want := model(base, steps)
	for _, end := range []string{"commit", "rollback", "crash"} {
		t.Run(end, func(t *testing.T) {
			f := faultfile.NewMem(base)
			opts, md := memOpts()
			tx, err := Begin(f, opts)
			if err != nil {
				t.Fatal(err)
			}
			stage(t, tx, steps)
			if err := tx.Prepare(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(f.Bytes(), want) {
				t.Fatal("after Prepare the file does not hold the new contents")
			}
			j, ok := md.File(opts.JournalPath)
			if !ok {
				t.Fatal("no journal after Prepare")
			}
			if pj, err := ParseJournal(j, int64(len(j.Bytes()))); err != nil || pj.State != StatePending {
				t.Fatalf("journal after Prepare: %+v, %v; want pending", pj, err)
			}
			if _, err := tx.WriteAt([]byte("late"), 0); !errors.Is(err, ErrFinished) {
				t.Fatalf("a write after Prepare: %v, want ErrFinished", err)
			}
			result := base
			switch end {
			case "commit":
				if err := tx.Commit(); err != nil {
					t.Fatal(err)
				}
				result = want
			case "rollback":
				if err := tx.Rollback(); err != nil {
					t.Fatal(err)
				}
			case "crash":
				if rolled, err := Recover(faultfile.NewMem(nil), opts); err == nil || rolled {
					// A journal that does not match the image is left alone.
					t.Fatalf("Recover on another file: %v, %v", rolled, err)
				}
				if rolled, err := Recover(f, opts); err != nil || !rolled {
					t.Fatalf("Recover after a crash between Prepare and Commit: %v, %v", rolled, err)
				}
			}
			if !bytes.Equal(f.Bytes(), result) {
				t.Fatalf("after %s the file holds the wrong contents", end)
			}
			if names := md.Names(); len(names) != 0 {
				t.Fatalf("journal left after %s: %v", end, names)
			}
			if end != "crash" {
				if err := tx.Rollback(); !errors.Is(err, ErrNotPrepared) {
					t.Fatalf("a second Rollback: %v, want ErrNotPrepared", err)
				}
			}
		})
	}
}
