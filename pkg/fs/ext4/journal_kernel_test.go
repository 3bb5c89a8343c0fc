package ext4_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/imgprep/imgprep/internal/ext4test"
	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/fs/ext4"
)

// kernelDirty makes an ext4 whose journal the running kernel wrote: a
// fresh filesystem is mounted through a loop device, changed (files
// created, one removed, one renamed, /etc/hostname written), synced, and
// copied while still mounted, as a snapshot of a running VM is. The copy
// has needs_recovery set and committed transactions in its journal.
// This is no committed fixture: the kernel's journal holds its commit
// times and depends on its version, so a generator could not be
// reproduced byte for byte.
func kernelDirty(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	img := filepath.Join(dir, "kernel.img")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 32<<20); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := oracle.Run(t, "mkfs.ext4", "-q", "-F", "-O", "^orphan_file", "-L", "kernel", img); code != 0 {
		t.Fatalf("mkfs.ext4: %s", errOut)
	}
	mnt, umount := oracle.KernelMountType(t, "ext4", oracle.Loop(t, img, 0, 32<<20, false))
	for _, d := range []string{"etc", "data"} {
		if err := os.Mkdir(filepath.Join(mnt, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 50; i++ {
		if err := os.WriteFile(filepath.Join(mnt, "data", "f"+strconv.Itoa(i)), []byte(strings.Repeat("line "+strconv.Itoa(i)+"\n", i*40)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(mnt, "etc", "hostname"), []byte("kernel\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(mnt, "data", "f7")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(mnt, "data", "f8"), filepath.Join(mnt, "data", "g8")); err != nil {
		t.Fatal(err)
	}
	syscall.Sync()
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	umount()
	dirty := filepath.Join(dir, "dirty.img")
	if err := os.WriteFile(dirty, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dirty
}

// TestKernelWrittenJournal: an ext4 left dirty by the kernel itself (see
// kernelDirty) reads through the replay in memory as the kernel left it,
// and our replay on writing leaves the image e2fsck -fy leaves, byte for
// byte but for e2fsck's own fields, with the same tree (debugfs) and
// nothing for e2fsck -fn to fix.
func TestKernelWrittenJournal(t *testing.T) {
	oracle.Require(t, "e2fsck")
	img := kernelDirty(t)
	out, _, _ := oracle.Run(t, "dumpe2fs", "-h", img)
	if !strings.Contains(out, "needs_recovery") || strings.Contains(out, "Journal start:            0\n") {
		t.Fatalf("the copy of the mounted filesystem does not need recovery:\n%s", out)
	}
	f, size := fixture.Open(t, img, os.O_RDONLY)
	ro, err := ext4.Open(f, size)
	if err != nil {
		t.Fatal(err)
	}
	if n := ro.Info().Note; !strings.Contains(n, "journal replayed in memory") {
		t.Errorf("Info().Note = %q", n)
	} else {
		t.Logf("the kernel's journal: %s", n)
	}
	for p, want := range map[string]string{"/etc/hostname": "kernel\n", "/data/g8": strings.Repeat("line 8\n", 320)} {
		if b, err := ro.ReadFile(p); err != nil || string(b) != want {
			t.Errorf("%s through the replay: %d bytes, %v", p, len(b), err)
		}
	}
	if _, err := ro.Lstat("/data/f7"); err == nil {
		t.Error("/data/f7, removed, is there through the replay")
	}
	ref := replayByE2fsck(t, img)
	replayByUs(t, img)
	sameImages(t, img, ref)
	ext4test.Parity(t, ext4test.Snapshot(t, img), ext4test.Snapshot(t, ref))
	oracle.E2fsckClean(t, img)
}
