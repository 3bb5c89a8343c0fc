package image

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/imgprep/imgprep/internal/faultfile"
	"github.com/imgprep/imgprep/pkg/storage"
	"github.com/imgprep/imgprep/pkg/txn"
)

// commitWith opens the raw image at path for writing with OpenFile, d
// under the file and the journal, writes someWrites, and commits.
func commitWith(tb testing.TB, path string, d *faultfile.Disk) error {
	tb.Helper()
	f, err := storage.OpenFile(path, storage.OpenOptions{Write: true, Name: path})
	if err != nil {
		tb.Fatal(err)
	}
	h, err := OpenFile(d.WrapNamed("image", f), d.WrapDir(storage.OSDir{}), OpenOptions{Format: FormatRaw, Write: true,
		Path: path, Journal: JournalOptions{Path: txn.JournalPathFor(path)}})
	if err != nil {
		tb.Fatal(err)
	}
	defer h.Close()
	for _, w := range someWrites(h.Size()) {
		if _, err := h.WriteAt(w.data, w.off); err != nil {
			tb.Fatal(err)
		}
	}
	return h.Commit()
}

// TestInjectionSeesEveryWriteOfTheCommit: through OpenFile, the commit's
// writes and syncs of the image and every journal operation go through
// the test's storage, and a failure at any of them (EIO) is reported
// with the image as it was and no journal left.
func TestInjectionSeesEveryWriteOfTheCommit(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.raw")
	patternFile(t, src, 1<<20, "inject")
	orig, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Clone(orig)
	apply(want, someWrites(int64(len(want))))

	clean := faultfile.NewDisk(-1)
	if err := commitWith(t, src, clean); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(src); !bytes.Equal(got, want) {
		t.Fatal("a commit through the injection did not write the image")
	}
	ops := clean.Ops()
	// Create, write, sync, sync dir; a write per region; sync; mark;
	// sync; remove.
	if min := 8 + len(someWrites(0)); ops < min {
		t.Fatalf("the injection saw %d ops of the commit, want at least %d:\n%q", ops, min, clean.Log())
	}
	for k := 0; k < ops-1; k++ { // the last op removes the committed journal
		path := filepath.Join(t.TempDir(), "img.raw")
		if err := os.WriteFile(path, orig, 0o644); err != nil {
			t.Fatal(err)
		}
		d := faultfile.NewDisk(-1)
		d.FailAt(k, syscall.EIO)
		if err := commitWith(t, path, d); !errors.Is(err, syscall.EIO) {
			t.Fatalf("EIO at op %d (%s): commit returned %v", k, clean.Log()[k], err)
		}
		if got, _ := os.ReadFile(path); !bytes.Equal(got, orig) {
			t.Fatalf("EIO at op %d (%s): the image changed", k, clean.Log()[k])
		}
		if _, err := os.Lstat(txn.JournalPathFor(path)); !os.IsNotExist(err) {
			t.Fatalf("EIO at op %d (%s): a journal is left", k, clean.Log()[k])
		}
	}
	t.Logf("EIO at each of %d ops of the commit: an error, the image unchanged", ops-1)
}
