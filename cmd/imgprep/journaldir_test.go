package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
)

// TestSysprepOfABlockDeviceKeepsItsJournalInJournalDir: `imgprep sysprep
// --journal-dir DIR /dev/loopN` prepares the device with its journal in
// DIR, none in /dev; a journal dir on tmpfs is refused unless
// --volatile-journal (Finding 5).
func TestSysprepOfABlockDeviceKeepsItsJournalInJournalDir(t *testing.T) {
	src := fixture.Path(t, "disk-gpt.raw")
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(t.TempDir(), "disk.raw")
	if err := os.WriteFile(img, data, 0o644); err != nil {
		t.Fatal(err)
	}
	dev := oracle.Loop(t, img, 0, int64(len(data)), false)

	shm := filepath.Join("/dev/shm", "imgprep-"+filepath.Base(t.TempDir()))
	os.Mkdir(shm, 0o700)
	defer os.RemoveAll(shm)
	r := mustRun(t, 1, "sysprep", "--journal-dir", shm, dev)
	if !strings.Contains(r.stderr, "tmpfs") || !strings.Contains(r.stderr, dev) {
		t.Fatalf("a journal dir on tmpfs: stderr %q, want the image and the reason", r.stderr)
	}
	if got, _ := os.ReadFile(img); string(got) != string(data) {
		t.Fatal("the device was written although its journal could not be kept")
	}

	jdir := filepath.Join(t.TempDir(), "journals")
	mustRun(t, 0, "sysprep", "--journal-dir", jdir, dev)
	if got, _ := os.ReadFile(img); string(got) == string(data) {
		t.Fatal("sysprep changed nothing on the device")
	}
	if m, _ := filepath.Glob("/dev/*-imgprep-journal"); len(m) > 0 {
		t.Fatalf("journals in /dev: %v", m)
	}
	if es, err := os.ReadDir(jdir); err != nil || len(es) != 0 {
		t.Fatalf("journal dir after a committed run: %v, %v; want it there and empty", es, err)
	}
	r = mustRun(t, 0, "recover", "--journal-dir", jdir, dev)
	if !strings.Contains(r.stdout, "nothing to recover") {
		t.Fatalf("recover: %q", r.stdout)
	}
}

// Finding 4: TestSysprepOfALoopDeviceNeverScansDev: `imgprep sysprep
// /dev/loopN` looks for the device's linked clones without scanning /dev:
// a FIFO planted there does not hang it, and a qcow2 overlay of the
// device planted there (which a scan would find and refuse the run for)
// is not seen; the device is prepared.
func TestSysprepOfALoopDeviceNeverScansDev(t *testing.T) {
	oracle.Require(t, "qemu-img")
	if os.Geteuid() != 0 {
		oracle.Unavailable(t, "needs root to plant files in /dev")
	}
	src := fixture.Path(t, "disk-gpt.raw")
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(t.TempDir(), "disk.raw")
	if err := os.WriteFile(img, data, 0o644); err != nil {
		t.Fatal(err)
	}
	dev := oracle.Loop(t, img, 0, int64(len(data)), false)
	planted := filepath.Join("/dev", "imgprep-test-"+filepath.Base(t.TempDir()))
	if err := syscall.Mkfifo(planted+".fifo", 0o600); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(planted + ".fifo")
	if _, errOut, code := oracle.Run(t, "qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", dev, planted+".qcow2"); code != 0 {
		t.Fatalf("qemu-img create: %s", errOut)
	}
	defer os.Remove(planted + ".qcow2")
	done := make(chan cliResult, 1)
	go func() { done <- runReal(t, "", "sysprep", "--journal-dir", filepath.Join(t.TempDir(), "j"), dev) }()
	select {
	case r := <-done:
		if r.code != 0 {
			t.Fatalf("sysprep %s: exit %d\n%s%s", dev, r.code, r.stdout, r.stderr)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("sysprep of a loop device hangs (a FIFO in /dev was opened)")
	}
	if got, _ := os.ReadFile(img); string(got) == string(data) {
		t.Fatal("sysprep changed nothing on the device")
	}
}
