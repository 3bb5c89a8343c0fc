package txn

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/imgprep/imgprep/internal/faultfile"
	"github.com/imgprep/imgprep/pkg/storage"
)

// faultScenario is a multi-region change to a file, with a size change.
type faultScenario struct {
	name  string
	size  int
	steps []step
}

var faultScenarios = []faultScenario{
	{"multi-region writes and a shrink", 20000, []step{
		write(0, strings.Repeat("S", 1024)), // a superblock-like first block
		write(8192, strings.Repeat("B", 3000)),
		write(4000, "inode"),
		trunc(15000),
	}},
	{"multi-region writes and a growth", 20000, []step{
		write(100, "header"),
		write(19990, strings.Repeat("G", 50)), // crosses the old end
		write(30000, "far"),
		write(12000, strings.Repeat("m", 700)),
	}},
	{"shrink then regrow then write", 9000, []step{
		trunc(3000),
		write(2000, strings.Repeat("w", 2000)),
		trunc(12000),
		write(11000, "end"),
	}},
}

// bufSize splits the journal into several writes, so that crashes land
// between them and torn journals are exercised.
const bufSize = 1024

type faultRun struct {
	img *faultfile.Mem
	md  *faultfile.MemDir
	d   *faultfile.Disk
	err error
}

// runCommit stages sc on a fresh copy of before and commits it through
// the Disk that disk returns.
func runCommit(tb testing.TB, sc faultScenario, before []byte, disk func() *faultfile.Disk) faultRun {
	tb.Helper()
	r := faultRun{img: faultfile.NewMem(before), md: faultfile.NewMemDir(), d: disk()}
	opts := Options{JournalPath: "disk.img" + JournalSuffix, Dir: r.d.WrapDir(r.md), BufferSize: bufSize}
	tx, err := Begin(r.d.Wrap(r.img), opts)
	if err != nil {
		tb.Fatal(err)
	}
	stage(tb, tx, sc.steps)
	r.err = tx.Commit()
	return r
}

// recoverClean runs Recover on the persisted state with no faults.
func recoverClean(tb testing.TB, r faultRun) bool {
	tb.Helper()
	rolled, err := Recover(r.img, Options{JournalPath: "disk.img" + JournalSuffix, Dir: r.md})
	if err != nil {
		tb.Fatalf("Recover: %v\nops:\n%s", err, strings.Join(r.d.Log(), "\n"))
	}
	if names := r.md.Names(); len(names) != 0 {
		tb.Fatalf("journal left after Recover: %v", names)
	}
	return rolled
}

// opsOf counts the ops of a fault-free commit of sc.
func opsOf(tb testing.TB, sc faultScenario, before []byte) (int, []string) {
	tb.Helper()
	r := runCommit(tb, sc, before, func() *faultfile.Disk { return faultfile.NewDisk(-1) })
	if r.err != nil {
		tb.Fatal(r.err)
	}
	return r.d.Ops(), r.d.Log()
}

// which names the state got, relative to before and after.
func which(got, before, after []byte) string {
	switch {
	case bytes.Equal(got, after):
		return "after"
	case bytes.Equal(got, before):
		return "before"
	}
	return fmt.Sprintf("neither (len %d; before %d, after %d)", len(got), len(before), len(after))
}

func TestCrashAtEveryOpLeavesBeforeOrAfterAfterRecover(t *testing.T) {
	total := 0
	for _, sc := range faultScenarios {
		before := pattern(sc.size, 11)
		after := model(before, sc.steps)
		n, log := opsOf(t, sc, before)
		for _, torn := range []int{0, 7, 100} { // bytes a crashing write keeps
			for k := 0; k <= n; k++ {
				name := fmt.Sprintf("%s/torn=%d/crashAt=%d", sc.name, torn, k)
				r := runCommit(t, sc, before, func() *faultfile.Disk {
					d := faultfile.NewDisk(k)
					d.TornWrite(torn)
					return d
				})
				if r.err != nil {
					t.Fatalf("%s: Commit = %v; a power loss is invisible to the program", name, r.err)
				}
				recoverClean(t, r)
				got := which(r.img.Bytes(), before, after)
				if got != "before" && got != "after" {
					t.Fatalf("%s: file is %s\nclean-run ops:\n%s", name, got, strings.Join(log, "\n"))
				}
				if k == n && got != "after" {
					t.Fatalf("%s: no crash, yet the file is %s", name, got)
				}
				total++
			}
		}
		t.Logf("%s: %d ops per commit", sc.name, n)
	}
	t.Logf("crash points tried: %d", total)
}

func TestCrashAtEveryOpWithAVolatileCacheLeavesBeforeOrAfter(t *testing.T) {
	// The harsher model: writes reach the disk only at fsync, directory
	// entries only at the directory's fsync, and the power loss keeps an
	// arbitrary subset of what was waiting. Each fsync of the protocol
	// is needed for this to pass.
	keeps := map[string]func(uint64) func(int) bool{
		"cache lost whole": func(uint64) func(int) bool { return nil },
		"cache kept whole": func(uint64) func(int) bool { return func(int) bool { return true } },
		"cache kept at random": func(seed uint64) func(int) bool {
			r := rand.New(rand.NewPCG(seed, 3))
			return func(int) bool { return r.IntN(2) == 0 }
		},
	}
	total := 0
	for _, sc := range faultScenarios {
		before := pattern(sc.size, 16)
		after := model(before, sc.steps)
		n, _ := opsOf(t, sc, before)
		for kname, keep := range keeps {
			for seed := range uint64(4) {
				for k := 0; k <= n; k++ {
					r := runCommit(t, sc, before, func() *faultfile.Disk {
						d := faultfile.NewDisk(k)
						d.LoseUnsynced(keep(seed*1000 + uint64(k)))
						return d
					})
					if r.err != nil {
						t.Fatalf("%s/%s/crashAt=%d: Commit = %v", sc.name, kname, k, r.err)
					}
					recoverClean(t, r)
					got := which(r.img.Bytes(), before, after)
					if got != "before" && got != "after" {
						t.Fatalf("%s/%s seed %d/crashAt=%d: file is %s\nops:\n%s", sc.name, kname, seed, k, got, strings.Join(r.d.Log(), "\n"))
					}
					if k == n && got != "after" {
						t.Fatalf("%s/%s: no crash, yet the file is %s", sc.name, kname, got)
					}
					total++
				}
			}
		}
	}
	t.Logf("volatile-cache crash points tried: %d", total)
}

func TestCrashDuringRecoverIsRecoveredByTheNextRecover(t *testing.T) {
	total := 0
	for _, sc := range faultScenarios {
		before := pattern(sc.size, 12)
		after := model(before, sc.steps)
		n, _ := opsOf(t, sc, before)
		for k := 0; k < n; k++ {
			// Snapshot of the state a crash at k leaves.
			r := runCommit(t, sc, before, func() *faultfile.Disk { return faultfile.NewDisk(k) })
			img0 := r.img.Bytes()
			j0, hasJournal := r.md.File("disk.img" + JournalSuffix)
			if !hasJournal {
				continue
			}
			jb := j0.Bytes()
			// Count the ops of a clean recovery from it.
			probe := faultfile.NewDisk(-1)
			md := faultfile.NewMemDir()
			md.Put("disk.img"+JournalSuffix, faultfile.NewMem(jb))
			if _, err := Recover(probe.Wrap(faultfile.NewMem(img0)), Options{JournalPath: "disk.img" + JournalSuffix, Dir: probe.WrapDir(md)}); err != nil {
				t.Fatal(err)
			}
			for m := 0; m < probe.Ops(); m++ {
				d := faultfile.NewDisk(m)
				img := faultfile.NewMem(img0)
				md := faultfile.NewMemDir()
				md.Put("disk.img"+JournalSuffix, faultfile.NewMem(jb))
				if _, err := Recover(d.Wrap(img), Options{JournalPath: "disk.img" + JournalSuffix, Dir: d.WrapDir(md)}); err != nil {
					t.Fatalf("%s commit crash %d, recover crash %d: %v", sc.name, k, m, err)
				}
				if _, err := Recover(img, Options{JournalPath: "disk.img" + JournalSuffix, Dir: md}); err != nil {
					t.Fatal(err)
				}
				if got := which(img.Bytes(), before, after); got != "before" && got != "after" {
					t.Fatalf("%s commit crash %d, recover crash %d: file is %s", sc.name, k, m, got)
				}
				total++
			}
		}
	}
	t.Logf("commit-crash × recover-crash points tried: %d", total)
}

// cleanupOp reports whether op k of a clean commit is in step 5 (remove
// the committed journal): a failure there does not undo the commit.
func cleanupOp(k, n int) bool { return k >= n-1 }

func TestFailureAtEveryOpReturnsErrorAndLeavesFileAsBefore(t *testing.T) {
	total := 0
	for _, sc := range faultScenarios {
		before := pattern(sc.size, 13)
		after := model(before, sc.steps)
		n, log := opsOf(t, sc, before)
		for _, errno := range []syscall.Errno{syscall.ENOSPC, syscall.EIO, syscall.EROFS} {
			for k := 0; k < n; k++ {
				name := fmt.Sprintf("%s/%v at op %d (%s)", sc.name, errno, k, log[k])
				r := runCommit(t, sc, before, func() *faultfile.Disk {
					d := faultfile.NewDisk(-1)
					d.FailAt(k, errno)
					return d
				})
				if cleanupOp(k, n) {
					if r.err != nil {
						t.Fatalf("%s: Commit = %v; the commit point had passed", name, r.err)
					}
					recoverClean(t, r)
					if got := which(r.img.Bytes(), before, after); got != "after" {
						t.Fatalf("%s: file is %s, want after", name, got)
					}
					total++
					continue
				}
				if r.err == nil {
					t.Fatalf("%s: Commit succeeded", name)
				}
				if !errors.Is(r.err, errno) {
					t.Fatalf("%s: error %v does not wrap %v", name, r.err, errno)
				}
				// Before any Recover, the file is already as before.
				if got := which(r.img.Bytes(), before, after); got != "before" {
					t.Fatalf("%s: file is %s right after the failed Commit (%v)", name, got, r.err)
				}
				if rolled := recoverClean(t, r); rolled {
					t.Fatalf("%s: Recover rolled back though Commit had already", name)
				}
				if got := which(r.img.Bytes(), before, after); got != "before" {
					t.Fatalf("%s: file is %s after Recover", name, got)
				}
				total++
			}
		}
	}
	t.Logf("single-failure points tried: %d", total)
}

func TestDiskDyingAtEveryOpLeavesFileAsBeforeAfterRecover(t *testing.T) {
	// From op k on every op fails with EIO: the rollback fails too, the
	// journal must stay, and the next Recover (on a healed disk) restores.
	total, kept, uncertain := 0, 0, 0
	for _, sc := range faultScenarios {
		before := pattern(sc.size, 14)
		after := model(before, sc.steps)
		n, _ := opsOf(t, sc, before)
		for k := 0; k < n; k++ {
			r := runCommit(t, sc, before, func() *faultfile.Disk {
				d := faultfile.NewDisk(-1)
				for op := k; op < 4*n; op++ {
					d.FailAt(op, syscall.EIO)
				}
				return d
			})
			if cleanupOp(k, n) {
				if r.err != nil {
					t.Fatalf("op %d: Commit = %v after the commit point", k, r.err)
				}
				recoverClean(t, r)
				if got := which(r.img.Bytes(), before, after); got != "after" {
					t.Fatalf("op %d: file is %s", k, got)
				}
				continue
			}
			if r.err == nil {
				t.Fatalf("%s: disk dead from op %d, Commit succeeded", sc.name, k)
			}
			if errors.Is(r.err, ErrRollbackFailed) {
				kept++
				if len(r.md.Names()) == 0 {
					t.Fatalf("%s op %d: rollback failed but the journal is gone: %v", sc.name, k, r.err)
				}
				if !strings.Contains(r.err.Error(), "kept") && !strings.Contains(r.err.Error(), "next recovery") {
					t.Fatalf("error does not say the journal is kept: %v", r.err)
				}
			}
			recoverClean(t, r)
			got := which(r.img.Bytes(), before, after)
			if errors.Is(r.err, ErrUncertain) {
				uncertain++
				if got != "before" && got != "after" {
					t.Fatalf("%s: disk dead from op %d: file is %s after Recover (%v)", sc.name, k, got, r.err)
				}
			} else if got != "before" {
				t.Fatalf("%s: disk dead from op %d: file is %s after Recover (%v)", sc.name, k, got, r.err)
			}
			total++
		}
	}
	if kept == 0 {
		t.Fatal("no case exercised a failed rollback")
	}
	t.Logf("dying-disk points tried: %d (rollback failed, journal kept: %d; outcome left to recovery: %d)", total, kept, uncertain)
}

// TestCrashMatrixOnHostFiles runs the crash matrix once through the real
// storage layer: an OSFile image, OSDir journal, default journal path.
func TestCrashMatrixOnHostFiles(t *testing.T) {
	sc := faultScenarios[0]
	before := pattern(sc.size, 15)
	after := model(before, sc.steps)
	dir := t.TempDir()
	path := filepath.Join(dir, "disk.img")
	for k := 0; ; k++ {
		if err := os.WriteFile(path, before, 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := storage.OpenFile(path, storage.OpenOptions{Write: true})
		if err != nil {
			t.Fatal(err)
		}
		d := faultfile.NewDisk(k)
		tx, err := Begin(d.Wrap(f), Options{JournalPath: JournalPathFor(path), Dir: d.WrapDir(storage.OSDir{}), BufferSize: bufSize})
		if err != nil {
			t.Fatal(err)
		}
		stage(t, tx, sc.steps)
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		f.Close()
		f, err = storage.OpenFile(path, storage.OpenOptions{Write: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Recover(f, Options{}); err != nil { // default path and OSDir
			t.Fatal(err)
		}
		f.Close()
		got, _ := os.ReadFile(path)
		if w := which(got, before, after); w != "before" && w != "after" {
			t.Fatalf("crash at %d: file is %s", k, w)
		}
		if _, err := os.Stat(JournalPathFor(path)); !os.IsNotExist(err) {
			t.Fatalf("crash at %d: journal left: %v", k, err)
		}
		if !d.Crashed() {
			if w := which(got, before, after); w != "after" {
				t.Fatalf("no crash, file is %s", w)
			}
			t.Logf("host-file crash points tried: %d", k+1)
			return
		}
	}
}
