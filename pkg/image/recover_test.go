package image

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/imgprep/imgprep/internal/faultfile"
	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/qcow2"
	"github.com/imgprep/imgprep/pkg/storage"
	"github.com/imgprep/imgprep/pkg/txn"
)

// crashedCommit runs, on the image file at path, the commit that a
// writable Handle runs (qcow2 over a txn over the file), with the power
// lost at op crashAt of the file and journal writes (-1: never). The
// files are left as the crash left them. It returns the number of ops.
func crashedCommit(tb testing.TB, path string, crashAt int) int {
	tb.Helper()
	f, err := storage.OpenFile(path, storage.OpenOptions{Write: true})
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	d := faultfile.NewDisk(crashAt)
	tx, err := txn.Begin(d.Wrap(f), txn.Options{JournalPath: txn.JournalPathFor(path), Dir: d.WrapDir(storage.OSDir{})})
	if err != nil {
		tb.Fatal(err)
	}
	img, err := qcow2.OpenFile(tx, qcow2.Options{Name: path})
	if err != nil {
		tb.Fatal(err)
	}
	for _, w := range someWrites(img.Size()) {
		if _, err := img.WriteAt(w.data, w.off); err != nil {
			tb.Fatal(err)
		}
	}
	if err := img.Flush(); err != nil {
		tb.Fatal(err)
	}
	tx.Commit() // a crash may or may not be reported; the files tell
	img.Close()
	return d.Ops()
}

func TestRecoverAfterACrashAtEveryPointOfTheCommit(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.raw")
	patternFile(t, src, 1<<20, "crash")
	orig := filepath.Join(dir, "orig.qcow2")
	qemuImg(t, "convert", "-f", "raw", "-O", "qcow2", src, orig)
	origBytes, _ := os.ReadFile(orig)
	oldSum := sha256File(t, orig)

	ref := filepath.Join(dir, "ref.qcow2")
	os.WriteFile(ref, origBytes, 0o644)
	ops := crashedCommit(t, ref, -1)
	newSum := sha256File(t, ref)
	if newSum == oldSum || ops < 4 {
		t.Fatalf("the reference commit changed nothing (%d ops)", ops)
	}
	wantDisk, _ := os.ReadFile(src)
	apply(wantDisk, someWrites(int64(len(wantDisk))))

	sawNew, journals := false, 0
	for k := 0; k <= ops; k++ {
		path := filepath.Join(t.TempDir(), "disk.qcow2")
		os.WriteFile(path, origBytes, 0o644)
		crashedCommit(t, path, k)
		journal := txn.JournalPathFor(path)
		if _, err := os.Stat(journal); err == nil {
			journals++
			// A journal left: read-only and dry-run opens refuse to read
			// a possibly half-written image.
			for _, opts := range []OpenOptions{{}, {DryRun: true}} {
				if h, err := Open(path, opts); !errors.Is(err, ErrJournalLeft) {
					if h != nil {
						h.Close()
					}
					t.Fatalf("crash at op %d: Open %+v with a journal left: %v, want ErrJournalLeft", k, opts, err)
				}
			}
		}
		// Recovery, by Recover or by an open for writing, alternately.
		if k%2 == 0 {
			if _, err := Recover(path, RecoverOptions{}); err != nil {
				t.Fatalf("crash at op %d: Recover: %v", k, err)
			}
		} else {
			h, err := Open(path, OpenOptions{Write: true})
			if err != nil {
				t.Fatalf("crash at op %d: Open for writing: %v", k, err)
			}
			if err := h.Close(); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := os.Stat(journal); !os.IsNotExist(err) {
			t.Fatalf("crash at op %d: journal still there after recovery: %v", k, err)
		}
		switch sum := sha256File(t, path); {
		case sum == oldSum:
			if sawNew {
				t.Fatalf("crash at op %d: image is old after a crash at an earlier op gave the new one", k)
			}
		case sum == newSum:
			sawNew = true
			oracle.QemuImgCheck(t, path, false)
			if got := qemuRaw(t, path); !bytes.Equal(got, wantDisk) {
				t.Fatalf("crash at op %d: new image does not hold the writes", k)
			}
		default:
			t.Fatalf("crash at op %d: image is neither the old nor the new one after recovery", k)
		}
	}
	if !sawNew {
		t.Fatal("no crash point left the new image, not even after the last op")
	}
	if journals == 0 {
		t.Fatalf("no crash point among %d ops left a journal to recover from", ops)
	}
	t.Logf("%d crash points, %d left a journal", ops+1, journals)
}
