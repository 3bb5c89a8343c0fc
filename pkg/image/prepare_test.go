package image

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/imgprep/imgprep/pkg/txn"
)

// TestPrepareCommitRollbackClose: the two phases of a commit across
// images, on a qcow2 image qemu-img checks afterwards. After Prepare the
// file holds the change under a pending journal; Commit keeps it, Rollback
// and Close restore the file byte for byte.
func TestPrepareCommitRollbackClose(t *testing.T) {
	for _, end := range []string{"commit", "rollback", "close"} {
		t.Run(end, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "d.qcow2")
			qemuImg(t, "create", "-f", "qcow2", p, "4M")
			before := sha256File(t, p)
			h, err := Open(p, OpenOptions{Write: true})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := h.WriteAt([]byte("two-phase"), 1<<20); err != nil {
				t.Fatal(err)
			}
			if err := h.Prepare(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(txn.JournalPathFor(p)); err != nil {
				t.Fatalf("no journal after Prepare: %v", err)
			}
			if sha256File(t, p) == before {
				t.Fatal("Prepare did not write the file")
			}
			if _, err := h.ReadAt(make([]byte, 1), 0); err == nil {
				t.Fatal("a prepared handle still reads")
			}
			switch end {
			case "commit":
				err = h.Commit()
			case "rollback":
				err = h.Rollback()
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := h.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(txn.JournalPathFor(p)); !os.IsNotExist(err) {
				t.Fatalf("journal left after %s: %v", end, err)
			}
			changed := sha256File(t, p) != before
			if changed != (end == "commit") {
				t.Fatalf("after %s the file changed = %v", end, changed)
			}
			qemuImg(t, "check", p)
			if end == "commit" {
				got := make([]byte, 9)
				r, err := Open(p, OpenOptions{})
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				if _, err := r.ReadAt(got, 1<<20); err != nil || string(got) != "two-phase" {
					t.Fatalf("read back %q, %v", got, err)
				}
			}
		})
	}
}
