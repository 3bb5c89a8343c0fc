package qcow2_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/qcow2"
	"github.com/imgprep/imgprep/pkg/storage"
)

// startNBD serves the image at path with qemu-nbd (extra arguments such as
// -r) and waits until it holds QEMU's image locks. The server is killed at
// cleanup.
func startNBD(tb testing.TB, path string, extra ...string) {
	tb.Helper()
	bin := oracle.Require(tb, "qemu-nbd")
	// A short socket path: sun_path holds 108 bytes.
	sockDir, err := os.MkdirTemp("", "nbd")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(sockDir) })
	args := append([]string{"--persistent", "-t", "-f", "qcow2", "--socket=" + filepath.Join(sockDir, "s")}, extra...)
	cmd := exec.Command(bin, append(args, path)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		tb.Fatalf("qemu-nbd: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	tb.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, err := storage.Probe(path)
		if err != nil {
			tb.Fatalf("storage.Probe: %v", err)
		}
		if l.Any() {
			return
		}
		select {
		case err := <-exited:
			tb.Fatalf("qemu-nbd %v exited before locking: %v\n%s", args, err, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			tb.Fatalf("qemu-nbd %v took no lock on %s within 10 s", args, path)
		}
	}
}

// TestImageInUseByQemuIsNotWritten: QEMU's image locking (block/file-posix.c).
// While qemu-nbd serves the image, read-write or with -r (both refuse to
// share the write permission), opening it for writing is refused with
// storage.ErrInUse and the file is unchanged; reading it is allowed.
func TestImageInUseByQemuIsNotWritten(t *testing.T) {
	for _, tc := range []struct {
		name  string
		extra []string
	}{
		{"qemu-nbd read-write holds write and refuses to share it", nil},
		{"qemu-nbd -r holds consistent read and refuses to share write", []string{"-r"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := fixture.Path(t, "qcow2-v3.qcow2")
			startNBD(t, path, tc.extra...)
			sum := fileSum(t, path)
			f, err := storage.OpenFile(path, storage.OpenOptions{Write: true})
			if err == nil {
				f.Close()
				t.Fatal("storage.OpenFile for writing succeeded while qemu-nbd serves the image")
			}
			if !errors.Is(err, storage.ErrInUse) {
				t.Fatalf("storage.OpenFile for writing: %v; want storage.ErrInUse", err)
			}
			var iu *storage.InUseError
			if !errors.As(err, &iu) || !iu.Write || !iu.Others.Any() {
				t.Errorf("error %v: want an *InUseError with Write set and the other side's locks", err)
			}
			ro, err := storage.OpenFile(path, storage.OpenOptions{})
			if err != nil {
				t.Fatalf("storage.OpenFile read-only while qemu-nbd shares consistent read: %v", err)
			}
			img, err := qcow2.OpenFile(ro, qcow2.Options{ReadOnly: true})
			if err != nil {
				t.Fatalf("qcow2.OpenFile read-only: %v", err)
			}
			if _, err := img.ReadAt(make([]byte, 4096), 0); err != nil {
				t.Errorf("reading while qemu-nbd serves: %v", err)
			}
			img.Close()
			ro.Close()
			if got := fileSum(t, path); got != sum {
				t.Errorf("the image in use changed")
			}
		})
	}
}

// TestQemuRefusesImageWeWrite: while we hold an image open for writing,
// qemu-img info (which wants consistent read, shared with no writer) fails
// with a lock error; with -U (force share) it reads, and after we close it
// qemu-img info works again.
func TestQemuRefusesImageWeWrite(t *testing.T) {
	oracle.Require(t, "qemu-img")
	path := fixture.Path(t, "qcow2-v3.qcow2")
	img, f := openRW(t, path)
	_, errOut, code := oracle.Run(t, "qemu-img", "info", path)
	if code == 0 {
		t.Errorf("qemu-img info succeeded while we hold the image for writing")
	} else if !strings.Contains(errOut, "lock") {
		t.Errorf("qemu-img info: exit %d without a lock error: %s", code, errOut)
	}
	if _, errOut, code := oracle.Run(t, "qemu-img", "info", "-U", path); code != 0 {
		t.Errorf("qemu-img info -U: exit %d: %s", code, errOut)
	}
	if err := img.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	waitUnlocked(t, path)
	if _, errOut, code := oracle.Run(t, "qemu-img", "info", path); code != 0 {
		t.Errorf("qemu-img info after we closed the image: exit %d: %s", code, errOut)
	}
}
