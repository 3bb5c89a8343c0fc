package ext4_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/fs/ext4"
)

// openWritableCounting opens the filesystem in the file at path for
// writing, straight through the host file (no image layer and its mount
// check), and returns OpenWritable's error and the writes it made.
func openWritableCounting(t *testing.T, path string) (int64, error) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	cf := &countingFile{f: f}
	_, err = ext4.OpenWritable(cf, st.Size(), ext4.Options{Name: filepath.Base(path), Now: func() time.Time { return now }})
	return cf.writes.Load(), err
}

// Finding 6: TestRefusesAMountedOrUncleanFilesystem: an ext2 filesystem without a
// journal, loop-mounted, was written under the kernel's feet (finding 6).
// The kernel clears the superblock's "cleanly unmounted" state at such a
// mount; OpenWritable refuses that state, mounted or not, with nothing
// written.
func TestRefusesAMountedOrUncleanFilesystem(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "ext2.raw")
	if err := os.WriteFile(img, make([]byte, 8<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := oracle.Run(t, "mkfs.ext2", "-q", "-F", img); code != 0 {
		t.Fatalf("mkfs.ext2: %s", stderr)
	}
	if n, err := openWritableCounting(t, img); err != nil || n != 0 {
		t.Fatalf("a clean, unmounted ext2: OpenWritable = %v (%d writes), want it writable", err, n)
	}

	// Mounted by the host's kernel.
	dev := oracle.Loop(t, img, 0, 8<<20, false)
	_, umount := oracle.KernelMountType(t, "ext2", dev)
	sum := fileSHA(t, img)
	n, err := openWritableCounting(t, img)
	if !errors.Is(err, ext4.ErrNotClean) || n != 0 {
		t.Fatalf("a mounted ext2: OpenWritable = %v (%d writes), want ErrNotClean and none", err, n)
	}
	if got := fileSHA(t, img); got != sum {
		t.Fatal("the mounted filesystem's image changed")
	}
	umount()

	// Unmounted, but never cleanly: the state as a crash leaves it.
	if _, err := openWritableCounting(t, img); err != nil {
		t.Fatalf("after a clean unmount: %v", err)
	}
	if _, stderr, code := oracle.Run(t, "debugfs", "-w", "-R", "ssv state 0", img); code != 0 {
		t.Fatalf("debugfs ssv state 0: %s", stderr)
	}
	sum = fileSHA(t, img)
	n, err = openWritableCounting(t, img)
	if !errors.Is(err, ext4.ErrNotClean) || n != 0 {
		t.Fatalf("state not clean: OpenWritable = %v (%d writes), want ErrNotClean and none", err, n)
	}
	if got := fileSHA(t, img); got != sum {
		t.Fatal("the image changed")
	}
}
