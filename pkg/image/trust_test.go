package image

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/imgprep/imgprep/internal/faultfile"
	"github.com/imgprep/imgprep/pkg/storage"
	"github.com/imgprep/imgprep/pkg/txn"
)

// rawCrash runs, on the raw image at path (opened through whatever name
// path is, symlinks included), the commit a writable Handle runs, with
// the journal where Open puts it and the power lost at op crashAt (-1:
// never). It returns the number of ops and the journal's path.
func rawCrash(tb testing.TB, path string, crashAt int) (int, string) {
	tb.Helper()
	return rawCrashWith(tb, path, crashAt, JournalOptions{})
}

// rawCrashWith is rawCrash with the journal placed as jo says.
func rawCrashWith(tb testing.TB, path string, crashAt int, jo JournalOptions) (int, string) {
	tb.Helper()
	f, err := storage.OpenFile(path, storage.OpenOptions{Write: true, Name: path})
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	jp, err := journalPath(path, f, jo, true)
	if err != nil {
		tb.Fatal(err)
	}
	id, err := f.Identity()
	if err != nil {
		tb.Fatal(err)
	}
	d := faultfile.NewDisk(crashAt)
	tx, err := txn.Begin(d.Wrap(f), txn.Options{JournalPath: jp, Dir: d.WrapDir(storage.OSDir{}), Identity: id, ImageName: path, BufferSize: 4096})
	if err != nil {
		tb.Fatal(err)
	}
	size, _ := tx.Size()
	for _, w := range someWrites(size) {
		if _, err := tx.WriteAt(w.data, w.off); err != nil {
			tb.Fatal(err)
		}
	}
	tx.Commit() // a crash may or may not be reported; the files tell
	return d.Ops(), jp
}

// journalState reads a journal's State field; 0 when absent or short.
func journalState(tb testing.TB, path string) uint32 {
	b, err := os.ReadFile(path)
	if err != nil || len(b) < 20 {
		return 0
	}
	return uint32(b[16]) | uint32(b[17])<<8 | uint32(b[18])<<16 | uint32(b[19])<<24
}

// trustCounts are the numbers the note gives.
type trustCounts struct{ crashPoints, foreign int }

// Finding 1: TestJournalBelongsToOneImageAtEveryCrashPoint crashes a commit at every
// write and fsync, then puts something else where the image was, and
// checks that recovery never writes into it (findings 1 and 2).
func TestJournalBelongsToOneImageAtEveryCrashPoint(t *testing.T) {
	const size = 1 << 20
	dir := t.TempDir()
	ref := filepath.Join(dir, "ref.raw")
	patternFile(t, ref, size, "golden")
	orig, _ := os.ReadFile(ref)
	ops, _ := rawCrash(t, ref, -1)
	if ops < 6 {
		t.Fatalf("a clean commit took %d ops", ops)
	}
	other := filepath.Join(dir, "other.raw")
	patternFile(t, other, size, "another")
	foreign, _ := os.ReadFile(other)

	var n trustCounts
	for k := 0; k <= ops; k++ {
		n.crashPoints++
		for _, c := range []struct {
			name string
			// replace puts another file where the image was, after
			// the crash; it returns the path to recover and its bytes.
			replace func(t *testing.T, path string) (string, []byte)
			fresh   bool
		}{
			{"another image copied over the same inode", func(t *testing.T, path string) (string, []byte) {
				f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
				if err != nil {
					t.Fatal(err)
				}
				f.Write(foreign)
				f.Close()
				return path, foreign
			}, false},
			{"a new clone under the same name", func(t *testing.T, path string) (string, []byte) {
				os.Remove(path)
				os.WriteFile(path, orig, 0o644) // even the template's own bytes
				return path, orig
			}, true},
			{"a new file under the same name, opened as an existing image", func(t *testing.T, path string) (string, []byte) {
				os.Remove(path)
				os.WriteFile(path, foreign, 0o644)
				return path, foreign
			}, false},
		} {
			path := filepath.Join(t.TempDir(), "disk.raw")
			os.WriteFile(path, orig, 0o644)
			_, jp := rawCrash(t, path, k)
			state := journalState(t, jp)
			target, want := c.replace(t, path)
			h, err := Open(target, OpenOptions{Write: true, Format: FormatRaw, Fresh: c.fresh})
			if h != nil {
				h.Close()
			}
			got, _ := os.ReadFile(target)
			if !bytes.Equal(got, want) {
				t.Fatalf("crash at op %d, %s (journal state %#x): recovery wrote into it (Open: %v)", k, c.name, state, err)
			}
			if err != nil {
				if !errors.Is(err, txn.ErrJournalMismatch) && !errors.Is(err, ErrJournalLeft) {
					t.Fatalf("crash at op %d, %s: %v", k, c.name, err)
				}
				if _, serr := os.Stat(jp); serr != nil {
					t.Fatalf("crash at op %d, %s: refused, yet the journal is gone", k, c.name)
				}
				n.foreign++
			}
		}
	}
	t.Logf("crash points tried: %d; foreign images refused: %d", n.crashPoints, n.foreign)
	if n.foreign == 0 {
		t.Fatal("no crash point left a pending journal to refuse")
	}
}

// Finding 2: TestJournalFollowsTheRealFileNotTheSymlink: a run through a
// symlink keeps its journal beside the real file, so a later run through
// the real name recovers it first, and a later recover through the
// symlink finds nothing to roll over the newer changes; at every crash
// point.
func TestJournalFollowsTheRealFileNotTheSymlink(t *testing.T) {
	const size = 1 << 20
	dir := t.TempDir()
	ref := filepath.Join(dir, "ref.raw")
	patternFile(t, ref, size, "golden")
	orig, _ := os.ReadFile(ref)
	ops, _ := rawCrash(t, ref, -1)
	newImg, _ := os.ReadFile(ref)
	for k := 0; k <= ops; k++ {
		d := t.TempDir()
		golden := filepath.Join(d, "golden.raw")
		current := filepath.Join(d, "current.raw")
		os.WriteFile(golden, orig, 0o644)
		if err := os.Symlink("golden.raw", current); err != nil {
			t.Fatal(err)
		}
		_, jp := rawCrash(t, current, k)
		if jp != txn.JournalPathFor(golden) {
			t.Fatalf("journal at %s, want beside the real file", jp)
		}
		if _, err := os.Lstat(txn.JournalPathFor(current)); err == nil {
			t.Fatalf("crash at op %d: a journal beside the symlink", k)
		}
		h, err := Open(golden, OpenOptions{Write: true, Format: FormatRaw})
		if err != nil {
			t.Fatalf("crash at op %d: opening the real name: %v", k, err)
		}
		h.Close()
		got, _ := os.ReadFile(golden)
		if !bytes.Equal(got, orig) && !bytes.Equal(got, newImg) {
			t.Fatalf("crash at op %d: golden.raw is neither before nor after", k)
		}
		if _, err := os.Lstat(jp); err == nil {
			t.Fatalf("crash at op %d: journal left after recovery through the real name", k)
		}
		// Newer changes to golden.raw, then recover through the
		// symlink: nothing stale is rolled over them.
		newer := append([]byte(nil), got...)
		copy(newer[4096:], "newer changes made after the recovery")
		os.WriteFile(golden, newer, 0o644)
		if rolled, err := Recover(current, RecoverOptions{}); err != nil || rolled {
			t.Fatalf("crash at op %d: recover through the symlink after newer changes = %v, %v; want nothing to do", k, rolled, err)
		}
		if got, _ := os.ReadFile(golden); !bytes.Equal(got, newer) {
			t.Fatalf("crash at op %d: recover through the symlink rolled stale bytes over newer changes", k)
		}
	}
}

// Finding 2: TestRecoverThroughTheSymlinkFindsTheJournal: a run through a
// symlink that crashed is recovered by "recover" through the same
// symlink (the journal is found beside the real file) as well as
// through the real name; at every crash point the image ends as before
// or as after, with no journal left.
func TestRecoverThroughTheSymlinkFindsTheJournal(t *testing.T) {
	const size = 1 << 20
	dir := t.TempDir()
	ref := filepath.Join(dir, "ref.raw")
	patternFile(t, ref, size, "golden")
	orig, _ := os.ReadFile(ref)
	ops, _ := rawCrash(t, ref, -1)
	newImg, _ := os.ReadFile(ref)
	pending := 0
	for k := 0; k <= ops; k++ {
		d := t.TempDir()
		golden := filepath.Join(d, "golden.raw")
		current := filepath.Join(d, "current.raw")
		os.WriteFile(golden, orig, 0o644)
		if err := os.Symlink("golden.raw", current); err != nil {
			t.Fatal(err)
		}
		_, jp := rawCrash(t, current, k)
		if journalState(t, jp) == txn.StatePending {
			pending++
		}
		if _, err := Recover(current, RecoverOptions{}); err != nil {
			t.Fatalf("crash at op %d: recover through the symlink: %v", k, err)
		}
		got, _ := os.ReadFile(golden)
		if !bytes.Equal(got, orig) && !bytes.Equal(got, newImg) {
			t.Fatalf("crash at op %d: golden.raw is neither before nor after", k)
		}
		if _, err := os.Lstat(jp); err == nil {
			t.Fatalf("crash at op %d: journal left after recover through the symlink", k)
		}
	}
	if pending == 0 {
		t.Fatal("no crash point left a pending journal to recover")
	}
	t.Logf("crash points tried through a symlink: %d (%d left a pending journal)", ops+1, pending)
}

// pendingJournal leaves a sealed, pending journal of the image at path:
// the commit crashes right after writing the image. It returns the
// journal's path.
func pendingJournal(tb testing.TB, path string) string {
	tb.Helper()
	probe := filepath.Join(tb.TempDir(), "probe.raw")
	data, _ := os.ReadFile(path)
	os.WriteFile(probe, data, 0o644)
	ops, _ := rawCrash(tb, probe, -1)
	for k := ops - 1; k > 0; k-- {
		_, jp := rawCrash(tb, path, k)
		if journalState(tb, jp) == txn.StatePending {
			return jp
		}
		os.Remove(jp)
		os.WriteFile(path, data, 0o644)
	}
	tb.Fatal("no crash point left a pending journal")
	return ""
}

// Finding 1: TestForgedAndHostileJournalsAreRefused: a valid pending journal that
// another user owns, that others may write, or that is a symlink or a
// FIFO, is never applied (finding 1), and opening it never hangs.
func TestForgedAndHostileJournalsAreRefused(t *testing.T) {
	const size = 1 << 20
	cases := []struct {
		name  string
		plant func(t *testing.T, jp string)
		root  bool
	}{
		{"owned by nobody", func(t *testing.T, jp string) {
			if err := os.Chown(jp, 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"writable by others", func(t *testing.T, jp string) { os.Chmod(jp, 0o666) }, false},
		{"writable by its group", func(t *testing.T, jp string) { os.Chmod(jp, 0o620) }, false},
		{"a symlink to a valid journal", func(t *testing.T, jp string) {
			os.Rename(jp, jp+".real")
			os.Symlink(filepath.Base(jp)+".real", jp)
		}, false},
		{"a FIFO", func(t *testing.T, jp string) {
			os.Remove(jp)
			if err := syscall.Mkfifo(jp, 0o600); err != nil {
				t.Fatal(err)
			}
		}, false},
	}
	forged := 0
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.root && os.Geteuid() != 0 {
				if os.Getenv("CI") == "true" {
					t.Fatal("CI=true: this check needs root (chown)")
				}
				t.Skip("needs root to chown")
			}
			path := filepath.Join(t.TempDir(), "golden.raw")
			patternFile(t, path, size, "golden")
			jp := pendingJournal(t, path)
			c.plant(t, jp)
			before, _ := os.ReadFile(path)
			done := make(chan error, 1)
			go func() { _, err := Recover(path, RecoverOptions{}); done <- err }()
			var err error
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("Recover hangs on the planted journal")
			}
			if !errors.Is(err, storage.ErrUntrusted) {
				t.Fatalf("Recover = %v, want ErrUntrusted", err)
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(after, before) {
				t.Fatal("the image was written")
			}
			if _, err := os.Lstat(jp); err != nil {
				t.Fatal("the planted journal was removed")
			}
			forged++
		})
	}
	t.Logf("forged or hostile journals refused: %d", forged)
}

// Finding 3: TestDamagedSealedJournalIsKept flips bits across a sealed, pending
// journal: recovery keeps it and leaves the image alone, rather than
// taking it for never sealed (finding 3).
func TestDamagedSealedJournalIsKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "golden.raw")
	patternFile(t, path, 1<<20, "golden")
	jp := pendingJournal(t, path)
	good, _ := os.ReadFile(jp)
	img, _ := os.ReadFile(path)
	damaged := 0
	for _, off := range []int{0, 9, 17, 30, 70, 90, 130, 150, len(good) / 2, len(good) - 20, len(good) - 9, len(good) - 1} {
		b := append([]byte(nil), good...)
		b[off] ^= 0x10
		os.WriteFile(jp, b, 0o600)
		_, err := Recover(path, RecoverOptions{})
		want := txn.ErrJournalDamaged
		if off == 9 {
			want = txn.ErrJournalVersion // the version field: another format, kept likewise
		}
		if !errors.Is(err, want) {
			t.Fatalf("bit flipped at journal byte %d: Recover = %v, want ErrJournalDamaged", off, err)
		}
		if got, _ := os.ReadFile(path); !bytes.Equal(got, img) {
			t.Fatalf("bit flipped at journal byte %d: the image was written", off)
		}
		if _, err := os.Stat(jp); err != nil {
			t.Fatalf("bit flipped at journal byte %d: the journal was removed", off)
		}
		damaged++
	}
	os.WriteFile(jp, good, 0o600)
	if _, err := Recover(path, RecoverOptions{}); err != nil {
		t.Fatalf("the undamaged journal: %v", err)
	}
	t.Logf("damaged sealed journals kept: %d", damaged)
}
