package txn

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/storage"
	"golang.org/x/sys/unix"
)

// dataExtents lists a file's data extents as SEEK_DATA/SEEK_HOLE give
// them.
func dataExtents(tb testing.TB, path string) [][2]int64 {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	var out [][2]int64
	for off := int64(0); off < st.Size(); {
		d, err := f.Seek(off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break
		}
		if err != nil {
			tb.Fatal(err)
		}
		h, err := f.Seek(d, unix.SEEK_HOLE)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, [2]int64{d, h})
		off = h
	}
	return out
}

func allocatedBytes(tb testing.TB, path string) int64 {
	tb.Helper()
	st, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	return st.Sys().(*syscall.Stat_t).Blocks * 512
}

func freeBytes(tb testing.TB, dir string) int64 {
	tb.Helper()
	var s unix.Statfs_t
	if err := unix.Statfs(dir, &s); err != nil {
		tb.Fatal(err)
	}
	return int64(s.Bavail) * s.Bsize
}

// Finding 12: TestRollbackAfterENOSPCRestoresHolesAsHoles: a commit that
// fills a hole of a sparse image runs out of space on a nearly full
// filesystem part way through; the rollback punches the hole back instead
// of writing zeros (which would need the space that ran out), so it
// succeeds, and the image is byte-identical with the same holes and the
// same free space as before. The journal records the hole without its
// zeros.
func TestRollbackAfterENOSPCRestoresHolesAsHoles(t *testing.T) {
	if os.Geteuid() != 0 {
		oracle.Unavailable(t, "mounting a small tmpfs needs root")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8m", "imgprep-enospc", mnt).CombinedOutput(); err != nil {
		oracle.Unavailable(t, "mount -t tmpfs: "+err.Error()+": "+string(out))
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	path := filepath.Join(mnt, "disk.raw")
	const size = 64 << 20
	f0, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	f0.WriteAt(bytes.Repeat([]byte("data"), 1<<18), 0)      // [0, 1 MiB)
	f0.WriteAt(bytes.Repeat([]byte("tail"), 1<<18), 40<<20) // [40, 41 MiB)
	f0.Truncate(size)
	f0.Close()
	// Leave about 2 MiB free.
	filler := filepath.Join(mnt, "filler")
	if err := os.WriteFile(filler, make([]byte, freeBytes(t, mnt)-2<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	extents, alloc, free := dataExtents(t, path), allocatedBytes(t, path), freeBytes(t, mnt)

	f, err := storage.OpenFile(path, storage.OpenOptions{Write: true, Name: path})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	jp := filepath.Join(t.TempDir(), "disk.raw"+JournalSuffix) // the journal has room elsewhere
	tx, err := Begin(f, Options{JournalPath: jp, Dir: storage.OSDir{}, ImageName: path})
	if err != nil {
		t.Fatal(err)
	}
	tx.WriteAt([]byte("changed in the data"), 4096)
	tx.WriteAt(bytes.Repeat([]byte("fill the hole "), (6<<20)/14), 8<<20) // 6 MiB into the hole at 8 MiB
	err = tx.Commit()
	if !errors.Is(err, ErrRolledBack) || errors.Is(err, ErrRollbackFailed) || !errors.Is(err, unix.ENOSPC) {
		t.Fatalf("Commit on a full filesystem = %v, want ENOSPC and a rollback that succeeds", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, before) {
		t.Fatal("the image is not as before")
	}
	if got := dataExtents(t, path); len(got) != len(extents) || got[0] != extents[0] || got[len(got)-1] != extents[len(extents)-1] {
		t.Fatalf("data extents %v after the rollback, %v before: a hole was filled", got, extents)
	}
	if got := allocatedBytes(t, path); got != alloc {
		t.Fatalf("the image allocates %d bytes after the rollback, %d before", got, alloc)
	}
	if got := freeBytes(t, mnt); got != free {
		t.Fatalf("%d bytes free after the rollback, %d before", got, free)
	}
	if _, err := os.Lstat(jp); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the journal is left: %v", err)
	}
}

// Finding 12: TestJournalRecordsHolesWithoutTheirZeros: the journal of a
// commit over a hole holds the hole as a record without data, parses,
// and a recovery from it (a crash after the image was written) leaves
// the hole a hole.
func TestJournalRecordsHolesWithoutTheirZeros(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "disk.raw")
	f0, _ := os.Create(path)
	f0.WriteAt(bytes.Repeat([]byte("data"), 1024), 0)
	f0.Truncate(16 << 20)
	f0.Close()
	if ext := dataExtents(t, path); len(ext) != 1 || ext[0][1] > 1<<20 {
		oracle.Unavailable(t, "the test directory's filesystem keeps no holes")
	}
	before, _ := os.ReadFile(path)
	alloc := allocatedBytes(t, path)
	f, err := storage.OpenFile(path, storage.OpenOptions{Write: true, Name: path})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	jp := path + JournalSuffix
	tx, err := Begin(f, Options{JournalPath: jp, Dir: storage.OSDir{}, ImageName: path})
	if err != nil {
		t.Fatal(err)
	}
	tx.WriteAt(bytes.Repeat([]byte{0xee}, 4<<20), 4<<20)
	if _, _, err := tx.writeJournal(tx.Regions()); err != nil {
		t.Fatal(err)
	}
	if err := tx.apply(); err != nil { // the crash comes after the image was written
		t.Fatal(err)
	}
	st, _ := os.Stat(jp)
	if st.Size() > 256<<10 {
		t.Fatalf("the journal of a 4 MiB hole is %d bytes: it holds the zeros", st.Size())
	}
	if rolled, err := Recover(f, Options{JournalPath: jp, Dir: storage.OSDir{}, ImageName: path}); err != nil || !rolled {
		t.Fatalf("Recover = %v, %v", rolled, err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, before) {
		t.Fatal("the image is not as before")
	}
	if got := allocatedBytes(t, path); got != alloc {
		t.Fatalf("the image allocates %d bytes after recovery, %d before: the hole was written with zeros", got, alloc)
	}
}

// holeJournal returns the journal of a commit over a hole of a sparse
// file (a record without data, when the temporary directory keeps
// holes), for the fuzz seeds.
func holeJournal(tb testing.TB) []byte {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "disk.raw")
	f0, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	f0.WriteAt([]byte("data"), 0)
	f0.Truncate(64 << 10)
	f0.Close()
	f, err := storage.OpenFile(path, storage.OpenOptions{Write: true, Name: path})
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	jp := path + JournalSuffix
	tx, err := Begin(f, Options{JournalPath: jp, Dir: storage.OSDir{}, ImageName: path})
	if err != nil {
		tb.Fatal(err)
	}
	tx.WriteAt([]byte("x"), 2)
	tx.WriteAt(bytes.Repeat([]byte{1}, 600), 40<<10)
	if _, _, err := tx.writeJournal(tx.Regions()); err != nil {
		tb.Fatal(err)
	}
	b, err := os.ReadFile(jp)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
