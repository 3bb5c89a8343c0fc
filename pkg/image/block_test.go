package image

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/storage"
	"github.com/imgprep/imgprep/pkg/txn"
	"golang.org/x/sys/unix"
)

// devJournals lists journals imgprep may have left in /dev.
func devJournals(tb testing.TB) []string {
	m, _ := filepath.Glob("/dev/*" + txn.JournalSuffix)
	return m
}

func readDev(tb testing.TB, dev string, n int) []byte {
	tb.Helper()
	f, err := os.Open(dev)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, 0); err != nil {
		tb.Fatal(err)
	}
	return b
}

func writeDev(tb testing.TB, dev string, b []byte) {
	tb.Helper()
	f, err := os.OpenFile(dev, os.O_WRONLY, 0)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, 0); err != nil {
		tb.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		tb.Fatal(err)
	}
}

// Finding 5: TestBlockDeviceFaultMatrix commits to a loop device, losing power at
// every write and fsync of the device and of the journal, which lives in
// the journal directory (never in /dev); the next open for writing gives
// the device as before or as after (finding 5).
func TestBlockDeviceFaultMatrix(t *testing.T) {
	const size = 1 << 20
	dir := t.TempDir()
	file := filepath.Join(dir, "disk.raw")
	patternFile(t, file, size, "blockdev")
	orig, _ := os.ReadFile(file)
	dev := oracle.Loop(t, file, 0, size, false)
	jdir := filepath.Join(dir, "journals")
	jo := JournalOptions{Dir: jdir}
	ops, jp := rawCrashWith(t, dev, -1, jo)
	if filepath.Dir(jp) != jdir || !strings.Contains(filepath.Base(jp), "-1048576"+txn.JournalSuffix) {
		t.Fatalf("the journal of %s is %s, want one in %s named after the device and its size", dev, jp, jdir)
	}
	after := readDev(t, dev, size)
	if bytes.Equal(after, orig) || ops < 6 {
		t.Fatalf("the clean commit changed nothing (%d ops)", ops)
	}
	points, sawAfter := 0, false
	for k := 0; k <= ops; k++ {
		writeDev(t, dev, orig)
		rawCrashWith(t, dev, k, jo)
		if m := devJournals(t); len(m) > 0 {
			t.Fatalf("crash at op %d: journals in /dev: %v", k, m)
		}
		h, err := Open(dev, OpenOptions{Write: true, Format: FormatRaw, Journal: jo})
		if err != nil {
			t.Fatalf("crash at op %d: reopening the device: %v", k, err)
		}
		h.Close()
		switch got := readDev(t, dev, size); {
		case bytes.Equal(got, orig):
			if sawAfter {
				t.Fatalf("crash at op %d: the device is as before after a crash at an earlier op left it as after", k)
			}
		case bytes.Equal(got, after):
			sawAfter = true
		default:
			t.Fatalf("crash at op %d: the device is neither as before nor as after", k)
		}
		if _, err := os.Lstat(jp); err == nil {
			t.Fatalf("crash at op %d: journal left after recovery", k)
		}
		points++
	}
	if !sawAfter {
		t.Fatal("not even the uninterrupted commit gave the new device")
	}
	t.Logf("block device crash points tried: %d", points)
}

// Finding 5: a block device's journal is never on devtmpfs or tmpfs
// unless asked for; the default is the persistent state directory.
func TestBlockDeviceJournalNeverInMemory(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "disk.raw")
	patternFile(t, file, 1<<20, "volatile")
	dev := oracle.Loop(t, file, 0, 1<<20, false)
	for _, jd := range []string{"/dev", "/dev/shm"} {
		if st, err := os.Stat(jd); err != nil || !st.IsDir() {
			continue
		}
		h, err := Open(dev, OpenOptions{Write: true, Format: FormatRaw, Journal: JournalOptions{Dir: jd}})
		if h != nil {
			h.Close()
		}
		if !errors.Is(err, ErrVolatileJournal) {
			t.Fatalf("journal dir %s (in memory): Open = %v, want ErrVolatileJournal", jd, err)
		}
	}
	// Asked for, it is allowed.
	jd := filepath.Join("/dev/shm", filepath.Base(dir))
	os.Mkdir(jd, 0o700)
	defer os.RemoveAll(jd)
	h, err := Open(dev, OpenOptions{Write: true, Format: FormatRaw, Journal: JournalOptions{Dir: jd, Volatile: true}})
	if err != nil {
		t.Fatalf("a volatile journal dir, allowed: %v", err)
	}
	h.Close()
	// The default is the persistent state directory, not /dev.
	f, err := storage.OpenFile(dev, storage.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	jp, err := journalPath(dev, f, JournalOptions{}, false)
	if err != nil || filepath.Dir(jp) != DefaultDeviceJournalDir {
		t.Fatalf("default journal of %s: %s, %v; want it in %s", dev, jp, err, DefaultDeviceJournalDir)
	}
}

// Finding 5: devices are opened O_EXCL; one another program holds so is
// refused.
func TestBlockDeviceHeldExclusivelyIsRefused(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "disk.raw")
	patternFile(t, file, 1<<20, "excl")
	dev := oracle.Loop(t, file, 0, 1<<20, false)
	fd, err := unix.Open(dev, unix.O_RDONLY|unix.O_EXCL|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("holding %s O_EXCL: %v", dev, err)
	}
	defer unix.Close(fd)
	h, err := Open(dev, OpenOptions{Write: true, Format: FormatRaw, Journal: JournalOptions{Dir: dir}})
	if h != nil {
		h.Close()
	}
	if !errors.Is(err, storage.ErrInUse) {
		t.Fatalf("Open of a device another program holds O_EXCL = %v, want ErrInUse", err)
	}
}

// Finding 6: TestMountedImageIsRefused: a loop-mounted filesystem without a journal
// (ext2), through its device, its backing file, or the whole disk of a
// mounted partition, is refused, naming where it is mounted (finding 6).
func TestMountedImageIsRefused(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "fs.raw")
	if err := os.WriteFile(file, make([]byte, 8<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := oracle.Run(t, "mkfs.ext2", "-q", "-F", file); code != 0 {
		t.Fatalf("mkfs.ext2: %s", stderr)
	}
	dev := oracle.Loop(t, file, 0, 8<<20, false)
	mnt, umount := oracle.KernelMountType(t, "ext2", dev)
	defer umount()
	before, _ := os.ReadFile(file)
	for _, p := range []string{dev, file} {
		h, err := Open(p, OpenOptions{Write: true, Format: FormatRaw, Journal: JournalOptions{Dir: dir}})
		if h != nil {
			h.Close()
		}
		if !errors.Is(err, storage.ErrMounted) || !strings.Contains(err.Error(), mnt) {
			t.Fatalf("Open(%s) of a mounted filesystem = %v, want ErrMounted naming %s", p, err, mnt)
		}
	}
	if after, _ := os.ReadFile(file); !bytes.Equal(after, before) {
		t.Fatal("the mounted filesystem's file was written")
	}
	umount()

	// A partition of a whole disk, mounted: the whole disk is refused.
	disk := filepath.Join(dir, "disk.raw")
	os.WriteFile(disk, make([]byte, 12<<20), 0o644)
	if _, stderr, code := oracle.Run(t, "sgdisk", "-n", "1:2048:0", disk); code != 0 {
		t.Fatalf("sgdisk: %s", stderr)
	}
	out, err := exec.Command("losetup", "-f", "--show", "-P", disk).CombinedOutput()
	if err != nil {
		t.Fatalf("losetup -P: %v %s", err, out)
	}
	whole := strings.TrimSpace(string(out))
	defer exec.Command("losetup", "-d", whole).Run()
	// Without udev (a container) the partition's node may be missing:
	// make one from sysfs.
	part := whole + "p1"
	sysPart := filepath.Join("/sys/class/block", filepath.Base(part), "dev")
	if _, err := os.Stat(sysPart); err != nil {
		// The kernel's scan may not have run: ask for it.
		if _, stderr, code := oracle.Run(t, "partx", "-a", whole); code != 0 {
			t.Fatalf("partx -a %s: %s", whole, stderr)
		}
	}
	if _, err := os.Stat(part); err != nil {
		devno, err := os.ReadFile(sysPart)
		if err != nil {
			t.Fatalf("the kernel found no partition on %s: %v", whole, err)
		}
		var maj, mnr uint32
		if _, err := fmt.Sscanf(strings.TrimSpace(string(devno)), "%d:%d", &maj, &mnr); err != nil {
			t.Fatal(err)
		}
		part = filepath.Join(dir, filepath.Base(part))
		if err := unix.Mknod(part, unix.S_IFBLK|0o600, int(unix.Mkdev(maj, mnr))); err != nil {
			t.Fatalf("mknod %s: %v", part, err)
		}
	}
	if _, stderr, code := oracle.Run(t, "mkfs.ext2", "-q", "-F", part); code != 0 {
		t.Fatalf("mkfs.ext2 %s: %s", part, stderr)
	}
	pmnt, pumount := oracle.KernelMountType(t, "ext2", part)
	defer pumount()
	h, err := Open(whole, OpenOptions{Write: true, Format: FormatRaw, Journal: JournalOptions{Dir: dir}})
	if h != nil {
		h.Close()
	}
	if !errors.Is(err, storage.ErrMounted) || !strings.Contains(err.Error(), pmnt) || !strings.Contains(err.Error(), part) {
		t.Fatalf("Open(%s) with %s mounted = %v, want ErrMounted naming %s at %s", whole, part, err, part, pmnt)
	}
}
