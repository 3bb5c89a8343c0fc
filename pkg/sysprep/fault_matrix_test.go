package sysprep_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/imgprep/imgprep/internal/faultfile"
	"github.com/imgprep/imgprep/internal/killtest"
	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/image"
	"github.com/imgprep/imgprep/pkg/storage"
	"github.com/imgprep/imgprep/pkg/sysprep"
	"github.com/imgprep/imgprep/pkg/txn"
)

// faultFixtures are the realistic fixtures of the fault matrix: GPT, an
// ESP, ext4 root and a separate ext4 /var, in both image formats; and
// Ubuntu Server's LVM layout (ESP, ext4 /boot, the ext4 root on an LV,
// written through the LV's mapping, and the PV's metadata, which the
// default lvm-uuids rewrites, all in the one transaction); and the GPT
// raw image with its root's journal left to replay (dirtyFixture).
var faultFixtures = []string{"disk-gpt.qcow2", "disk-gpt.raw", "lvm-ubuntu.raw", dirtyFixture}

// inject returns an opener that opens the image file itself and hands it
// to image.OpenFile with d under the file and under the directory of its
// journal (beside the real file, as image.Open puts it).
func inject(d *faultfile.Disk) opener {
	return func(path string, o image.OpenOptions) (*image.Handle, error) {
		f, err := storage.OpenFile(path, storage.OpenOptions{Write: o.Write && !o.DryRun, Name: path, ForceShare: o.ForceShare})
		if err != nil {
			return nil, err
		}
		real, err := filepath.EvalSymlinks(path)
		if err != nil {
			f.Close()
			return nil, err
		}
		o.Path, o.Journal.Path = path, txn.JournalPathFor(real)
		return image.OpenFile(d.WrapNamed("image", f), d.WrapDir(storage.OSDir{}), o)
	}
}

// cleanRun runs a full default sysprep under a Disk that never fails and
// returns the resulting image's path, its bytes and the op log.
func cleanRun(t *testing.T, p *pristine) (path string, after []byte, log []string) {
	t.Helper()
	path = p.layDown(t, t.TempDir())
	d := faultfile.NewDisk(-1)
	rep, err := runWith(path, inject(d))
	if err != nil {
		t.Fatalf("clean run: %v", err)
	}
	if !rep.Committed || len(rep.Changes()) == 0 || len(rep.Filesystems) < 2 {
		t.Fatalf("clean run: committed %v, %d changes, filesystems %v: the matrix needs a run that changes root and /var",
			rep.Committed, len(rep.Changes()), rep.Filesystems)
	}
	if strings.HasPrefix(p.name, "lvm-") && (!slices.Contains(rep.Filesystems, "ext4 on LV ubuntu-vg/ubuntu-lv (/)") ||
		!slices.Contains(rep.Filesystems, "LVM2_member on partition 3")) {
		t.Fatalf("clean run on %s touched %v: the matrix needs a run that writes the LV's filesystem and the PV's metadata", p.name, rep.Filesystems)
	}
	if p.name == dirtyFixture {
		if b, _ := oracle.DebugfsCat(t, oracle.Device(path, p.extFS[0]), "/etc/hostname"); string(b) != "replayed\n" {
			t.Fatalf("clean run on %s: hostname %q on disk, want the journal's replayed one", p.name, b)
		}
	}
	after = readImage(t, path)
	if bytes.Equal(after, p.data) {
		t.Fatal("clean run left the image byte-identical")
	}
	if journalLeft(t, path) {
		t.Fatal("clean run left its journal")
	}
	// A second clean run on another copy writes the same bytes: the
	// matrix compares against this result byte for byte.
	again := p.layDown(t, t.TempDir())
	if _, err := runWith(again, nil); err != nil {
		t.Fatalf("second clean run: %v", err)
	}
	if !sameImage(t, again, after) {
		t.Fatal("two clean runs with the same clock wrote different images")
	}
	judgeAfter(t, p, path, again)
	return path, after, d.Log()
}

// powerModels are the ways a power loss can treat the op it cuts and the
// ops before it (internal/faultfile).
var powerModels = []struct {
	name string
	set  func(d *faultfile.Disk)
	// ordered: every completed op persisted, so the outcome is
	// monotonic in k (before up to the commit point, after from it).
	ordered bool
	// long: on the 64 MiB raw image only with IMGPREP_LONG=1, since the
	// volatile-cache model copies the whole file at its first write.
	long bool
}{
	{name: "ordered disk", set: func(*faultfile.Disk) {}, ordered: true},
	{name: "ordered disk, the cut write torn after 7 bytes", set: func(d *faultfile.Disk) { d.TornWrite(7) }, ordered: true},
	{name: "volatile cache, nothing unsynced persists", set: func(d *faultfile.Disk) { d.LoseUnsynced(nil) }, long: true},
	{name: "volatile cache, every other unsynced op persists", set: func(d *faultfile.Disk) {
		d.LoseUnsynced(func(i int) bool { return i%2 == 1 })
	}, long: true},
}

// TestACrashAtEveryWriteOrSyncLeavesTheImageBeforeOrAfter is the fault
// matrix of issue 5: "a storage layer that crashes at the k-th write or
// sync, for every k ... After imgprep's own recovery on the next open,
// each image must be byte-identical to before, or identical in content
// to a clean run, with e2fsck -fn clean and qemu-img check free of
// errors." Every WriteAt, Truncate and Sync of the image file and every
// Create, WriteAt, Sync, SyncDir and Remove of the journal is a crash
// point, under each power model; recovery alternates between
// image.Recover (imgprep recover) and the next sysprep's open for
// writing.
func TestACrashAtEveryWriteOrSyncLeavesTheImageBeforeOrAfter(t *testing.T) {
	for _, name := range faultFixtures {
		t.Run(name, func(t *testing.T) {
			p := loadPristine(t, name)
			ref, newImage, log := cleanRun(t, p)
			ops := len(log)
			t.Logf("the ops of a clean run:\n%s", strings.Join(log, "\n"))
			if ops < 6 {
				t.Fatalf("a clean run did only %d ops", ops)
			}
			total, models := 0, 0
			for _, m := range powerModels {
				if m.long && strings.HasSuffix(name, ".raw") && os.Getenv("IMGPREP_LONG") == "" {
					t.Logf("%s: the %s model runs with IMGPREP_LONG=1 (make test-long)", name, m.name)
					continue
				}
				models++
				t.Run(m.name, func(t *testing.T) {
					var before, after, journals, reported int
					sawAfter := false
					for k := 0; k <= ops; k++ {
						total++
						path := p.layDown(t, t.TempDir())
						d := faultfile.NewDisk(k)
						m.set(d)
						if _, err := runWith(path, inject(d)); err != nil {
							reported++ // the crash surfaced as an error; the files tell the rest
						}
						if k < ops && !d.Crashed() {
							t.Fatalf("crash at op %d of %d: the power never went", k, ops)
						}
						if journalLeft(t, path) {
							journals++
						}
						if k%2 == 0 {
							if _, err := image.Recover(path, image.RecoverOptions{}); err != nil {
								t.Fatalf("crash at op %d (%s): image.Recover: %v", k, opName(log, k), err)
							}
						} else {
							h, err := image.Open(path, image.OpenOptions{Write: true})
							if err != nil {
								t.Fatalf("crash at op %d (%s): the next open for writing: %v", k, opName(log, k), err)
							}
							if err := h.Close(); err != nil {
								t.Fatal(err)
							}
						}
						if journalLeft(t, path) {
							t.Fatalf("crash at op %d (%s): journal still there after recovery", k, opName(log, k))
						}
						switch {
						case sameImage(t, path, p.data):
							before++
							if m.ordered && sawAfter {
								t.Fatalf("crash at op %d (%s): image as before, but an earlier crash point left it as after", k, opName(log, k))
							}
						case sameImage(t, path, newImage):
							after++
							sawAfter = true
							judgeAfter(t, p, path, ref)
						default:
							t.Fatalf("crash at op %d (%s): after recovery the image is neither byte-identical to before nor to a clean run\nops:\n%s",
								k, opName(log, k), strings.Join(d.Log(), "\n"))
						}
					}
					if before == 0 || after == 0 || journals == 0 {
						t.Fatalf("%d crash points: %d before, %d after, %d left a journal: the matrix missed a stage", ops+1, before, after, journals)
					}
					t.Logf("%s, %s: %d crash points tried (ops 0..%d and none): %d left the image as before, %d as after; %d left a journal to recover, %d runs reported an error",
						name, m.name, ops+1, ops-1, before, after, journals, reported)
				})
			}
			t.Logf("%s: %d crash points in all (%d x %d power models)", name, total, ops+1, models)
		})
	}
}

// opName returns the op log line of op k of a clean run, for messages.
func opName(log []string, k int) string {
	if k < len(log) {
		return log[k]
	}
	return "no crash"
}

// TestENOSPCOrEIOAtAnyOpIsAnErrorAndTheImageIsAsBefore: "ENOSPC, EIO, or
// a read-only image file: a clear error, and the image is as it was."
// Each write, sync and journal op in turn fails; the run must report it
// and leave the image byte-identical with no journal, except a failure to
// remove the committed journal (the last op), which is no failure of the
// commit: the run succeeds and the next open removes the journal.
func TestENOSPCOrEIOAtAnyOpIsAnErrorAndTheImageIsAsBefore(t *testing.T) {
	for _, name := range faultFixtures {
		t.Run(name, func(t *testing.T) {
			p := loadPristine(t, name)
			_, newImage, log := cleanRun(t, p)
			ops := len(log)
			tried := 0
			for _, errno := range []syscall.Errno{syscall.ENOSPC, syscall.EIO} {
				for k := 0; k < ops; k++ {
					tried++
					path := p.layDown(t, t.TempDir())
					d := faultfile.NewDisk(-1)
					d.FailAt(k, errno)
					_, err := runWith(path, inject(d))
					last := k == ops-1
					switch {
					case err == nil && last:
						if !journalLeft(t, path) {
							t.Fatalf("%v at op %d (%s): no journal left, yet its removal failed", errno, k, opName(log, k))
						}
						if _, err := image.Recover(path, image.RecoverOptions{}); err != nil {
							t.Fatal(err)
						}
						if !sameImage(t, path, newImage) || journalLeft(t, path) {
							t.Fatalf("%v at the removal of the committed journal: after recovery the image is not the committed one", errno)
						}
						continue
					case err == nil:
						t.Fatalf("%v at op %d (%s): the run reported success\nops:\n%s", errno, k, opName(log, k), strings.Join(d.Log(), "\n"))
					case !errors.Is(err, errno):
						t.Fatalf("%v at op %d (%s): error %q does not wrap the cause", errno, k, opName(log, k), err)
					case !strings.Contains(err.Error(), path):
						t.Fatalf("%v at op %d: error %q does not name the image", errno, k, err)
					}
					if journalLeft(t, path) {
						t.Fatalf("%v at op %d (%s): the failed run left a journal: %v", errno, k, opName(log, k), err)
					}
					if !sameImage(t, path, p.data) {
						t.Fatalf("%v at op %d (%s): the failed run changed the image: %v", errno, k, opName(log, k), err)
					}
				}
			}
			t.Logf("%s: ENOSPC and EIO each at every one of %d ops: %d failing runs, each an error with the image byte-identical (but the journal's removal)", name, ops, tried)
		})
	}
}

// TestAReadOnlyImageFileIsAClearErrorAndUnchanged: a read-only image file
// (mode 0444) is refused before anything is staged, with an error naming
// the image and matching storage.ErrReadOnly, even for root.
func TestAReadOnlyImageFileIsAClearErrorAndUnchanged(t *testing.T) {
	for _, name := range faultFixtures {
		t.Run(name, func(t *testing.T) {
			p := loadPristine(t, name)
			path := p.layDown(t, t.TempDir())
			if err := os.Chmod(path, 0o444); err != nil {
				t.Fatal(err)
			}
			_, err := runWith(path, nil)
			if !errors.Is(err, storage.ErrReadOnly) || !strings.Contains(err.Error(), path) {
				t.Fatalf("sysprep of a 0444 image: %v, want storage.ErrReadOnly naming %s", err, path)
			}
			if !sameImage(t, path, p.data) || journalLeft(t, path) {
				t.Fatal("a refused read-only image changed, or got a journal")
			}
			if _, err := os.Stat(filepath.Dir(path)); err != nil {
				t.Fatal(err)
			}
			// A dry run of the same file still works: it never writes.
			rep, err := sysprep.Run(t.Context(), path, sysprep.Options{DryRun: true, Operations: defaultOps(), Backend: sysprep.Stack{Now: faultClock}})
			if err != nil || rep.BytesStaged == 0 {
				t.Fatalf("dry run of a read-only image: %v, %d bytes staged", err, rep.BytesStaged)
			}
			if !sameImage(t, path, p.data) {
				t.Fatal("a dry run changed the image")
			}
		})
	}
}

// TestACrashDuringRecoveryIsRecoveredByTheNextOpen: a run cut in the
// middle of writing the image leaves a pending journal; the next open for
// writing rolls it back, and is itself cut at each of its writes and
// syncs. The open after that must still give the image as before.
func TestACrashDuringRecoveryIsRecoveredByTheNextOpen(t *testing.T) {
	for _, name := range faultFixtures {
		t.Run(name, func(t *testing.T) {
			p := loadPristine(t, name)
			_, _, log := cleanRun(t, p)
			// The first write of the image itself: the journal is
			// complete and synced, the image about to be touched.
			k := slices.IndexFunc(log, func(l string) bool { return strings.Contains(l, " WriteAt image ") })
			if k < 0 {
				t.Fatalf("no image write in the clean run:\n%s", strings.Join(log, "\n"))
			}
			k++ // crash after one image write: a mix of old and new
			crashed := p.layDown(t, t.TempDir())
			d := faultfile.NewDisk(k)
			d.TornWrite(100)
			runWith(crashed, inject(d))
			img := readImage(t, crashed)
			journal, err := os.ReadFile(txn.JournalPathFor(crashed))
			if err != nil {
				t.Fatalf("crash at op %d (%s) left no journal: %v", k, opName(log, k), err)
			}
			if sameImage(t, crashed, p.data) {
				t.Fatalf("crash at op %d (%s) left the image as before: nothing to roll back", k, opName(log, k))
			}
			// layCrashed puts the crashed image back, over the same file
			// (a journal belongs to one file: device and inode), and its
			// journal beside it.
			layCrashed := func() string {
				path := crashed
				os.Remove(txn.JournalPathFor(path))
				killtest.WriteSparse(t, path, img)
				if err := os.WriteFile(txn.JournalPathFor(path), journal, 0o600); err != nil {
					t.Fatal(err)
				}
				return path
			}
			openWith := func(path string, d *faultfile.Disk) {
				h, err := inject(d)(path, image.OpenOptions{Write: true})
				if err == nil {
					h.Close()
				}
			}
			count := faultfile.NewDisk(-1)
			path := layCrashed()
			openWith(path, count)
			if !sameImage(t, path, p.data) || journalLeft(t, path) {
				t.Fatal("an uninterrupted recovery did not restore the image")
			}
			ops := count.Ops()
			if ops < 3 {
				t.Fatalf("the recovery did %d ops:\n%s", ops, strings.Join(count.Log(), "\n"))
			}
			for j := 0; j < ops; j++ {
				path := layCrashed()
				openWith(path, faultfile.NewDisk(j))
				if _, err := image.Recover(path, image.RecoverOptions{}); err != nil {
					t.Fatalf("recovery cut at op %d (%s): the next recovery: %v", j, count.Log()[j], err)
				}
				if !sameImage(t, path, p.data) || journalLeft(t, path) {
					t.Fatalf("recovery cut at op %d (%s): the next recovery did not give the image as before", j, count.Log()[j])
				}
			}
			t.Logf("%s: the run cut at op %d (%s); its recovery cut at each of its %d ops, then recovered: as before each time", name, k, opName(log, k), ops)
		})
	}
}
