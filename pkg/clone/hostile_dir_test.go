package clone

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/image"
	"golang.org/x/sys/unix"
)

// linkedClone makes a qcow2 overlay of tmpl at path with qemu-img.
func linkedClone(tb testing.TB, tmpl, path string) {
	tb.Helper()
	if _, errOut, code := oracle.Run(tb, "qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", tmpl, path); code != 0 {
		tb.Fatalf("qemu-img create -b: %s", errOut)
	}
}

// dependentsWithin runs Dependents, failing the test if it does not
// return within a minute (a blocking open of a FIFO never would).
func dependentsWithin(t *testing.T, x *Index, img string, dirs []string) []string {
	t.Helper()
	type res struct {
		deps []string
		err  error
	}
	ch := make(chan res, 1)
	go func() {
		d, err := x.Dependents(img, dirs)
		ch <- res{d, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatal(r.err)
		}
		return r.deps
	case <-time.After(time.Minute):
		t.Fatal("looking for linked clones hangs")
		return nil
	}
}

// Finding 4: TestLinkedCloneScanOpensOnlyRegularFiles: a template's directory holding
// a FIFO, symlinks (to a FIFO, to a device, to a real clone elsewhere), a
// socket and a character device node is scanned without opening any of
// them; the real clone beside the template is found (finding 4).
func TestLinkedCloneScanOpensOnlyRegularFiles(t *testing.T) {
	oracle.Require(t, "qemu-img")
	dir := t.TempDir()
	tmpl := filepath.Join(dir, "golden.raw")
	if err := os.WriteFile(tmpl, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	linkedClone(t, tmpl, filepath.Join(dir, "vm1.qcow2"))
	elsewhere := t.TempDir()
	linkedClone(t, tmpl, filepath.Join(elsewhere, "vm2.qcow2"))

	hostile := map[string]func(p string) error{
		"fifo":                  func(p string) error { return unix.Mkfifo(p, 0o644) },
		"symlink-to-fifo":       func(p string) error { return os.Symlink("fifo", p) },
		"symlink-to-dev-zero":   func(p string) error { return os.Symlink("/dev/zero", p) },
		"symlink-to-a-clone":    func(p string) error { return os.Symlink(filepath.Join(elsewhere, "vm2.qcow2"), p) },
		"dangling-symlink":      func(p string) error { return os.Symlink("nowhere", p) },
		"socket":                func(p string) error { l, err := net.Listen("unix", p); t.Cleanup(func() { l.Close() }); return err },
		"char-device-like-null": func(p string) error { return unix.Mknod(p, unix.S_IFCHR|0o600, int(unix.Mkdev(1, 3))) },
	}
	tried := 0
	for name, mk := range hostile {
		if err := mk(filepath.Join(dir, name)); err != nil {
			if name == "char-device-like-null" && os.Geteuid() != 0 {
				continue // mknod of a device needs root
			}
			t.Fatalf("%s: %v", name, err)
		}
		tried++
	}
	deps := dependentsWithin(t, NewIndex(), tmpl, nil)
	if !slices.Equal(deps, []string{filepath.Join(dir, "vm1.qcow2")}) {
		t.Fatalf("dependents = %v, want only the regular clone beside the template", deps)
	}
	t.Logf("hostile entries in the template's directory: %d", tried)
}

// Finding 4: TestLinkedCloneScanNeverReadsDev: a block device's directory is /dev;
// it is not scanned, not even for a regular file that is a linked clone
// of the device (finding 4).
func TestLinkedCloneScanNeverReadsDev(t *testing.T) {
	oracle.Require(t, "qemu-img")
	if os.Geteuid() != 0 {
		oracle.Unavailable(t, "needs root to write in /dev")
	}
	if !image.DeviceDir("/dev") {
		t.Fatal("/dev is not taken for a device directory")
	}
	dev := oracle.Loop(t, writeZeros(t, 1<<20), 0, 1<<20, false)
	clone := filepath.Join("/dev", "imgprep-test-"+filepath.Base(t.TempDir())+".qcow2")
	linkedClone(t, dev, clone)
	defer os.Remove(clone)
	fifo := clone + ".fifo"
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(fifo)
	if deps := dependentsWithin(t, NewIndex(), dev, nil); len(deps) != 0 {
		t.Fatalf("dependents of %s = %v: /dev was scanned", dev, deps)
	}
	// An explicit --clones-dir of /dev is not scanned either.
	if deps := dependentsWithin(t, NewIndex(), dev, []string{"/dev"}); len(deps) != 0 {
		t.Fatalf("dependents of %s in /dev = %v: /dev was scanned", dev, deps)
	}
}

func writeZeros(tb testing.TB, n int64) string {
	p := filepath.Join(tb.TempDir(), "zeros.raw")
	if err := os.WriteFile(p, make([]byte, n), 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}

// Finding 7: TestIndexSeesACloneCreatedAfterItsFirstScan: the index is reused
// across a batch, yet a clone created after a directory was scanned is
// found at the next check (finding 7: the check under the image's lock
// must see what exists then).
func TestIndexSeesACloneCreatedAfterItsFirstScan(t *testing.T) {
	oracle.Require(t, "qemu-img")
	dir := t.TempDir()
	tmpl := filepath.Join(dir, "golden.raw")
	os.WriteFile(tmpl, make([]byte, 1<<20), 0o644)
	x := NewIndex()
	if deps := dependentsWithin(t, x, tmpl, nil); len(deps) != 0 {
		t.Fatalf("dependents before any clone: %v", deps)
	}
	linkedClone(t, tmpl, filepath.Join(dir, "late.qcow2"))
	if deps := dependentsWithin(t, x, tmpl, nil); len(deps) != 1 {
		t.Fatalf("dependents after a clone was made: %v, want it", deps)
	}
}
