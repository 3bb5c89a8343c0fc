package storage

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
	"golang.org/x/sys/unix"
)

// newImage makes an image with qemu-img create in a fresh directory.
func newImage(tb testing.TB, format string) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), "golden."+format)
	if _, e, code := oracle.Run(tb, "qemu-img", "create", "-f", format, p, "1M"); code != 0 {
		tb.Fatalf("qemu-img create: %s", e)
	}
	return p
}

// holdWithQemuNbd starts qemu-nbd serving img (read-only with ro) and
// returns once its locks are visible; the process is killed at cleanup.
func holdWithQemuNbd(tb testing.TB, img, format string, ro bool) {
	tb.Helper()
	bin := oracle.Require(tb, "qemu-nbd")
	sockDir, err := os.MkdirTemp("", "nbd") // short: unix socket paths are limited
	if err != nil {
		tb.Fatal(err)
	}
	args := []string{"-f", format, "--socket", filepath.Join(sockDir, "s"), img}
	if ro {
		args = append([]string{"-r"}, args...)
	}
	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		os.RemoveAll(sockDir)
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, err := Probe(img)
		if err != nil {
			tb.Fatal(err)
		}
		if l.Held.Has(PermConsistentRead) {
			return
		}
		select {
		case <-exited:
			tb.Fatalf("qemu-nbd %v exited before locking: %s", args, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("qemu-nbd %v: no lock visible after 10 s", args)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The locks qemu-nbd 7.2 takes, as measured (FORMAT-NOTES "Locks" for
// qcow2: bytes 100 101 103 201 203 read-write, 100 201 203 with -r; the
// raw driver shares write and takes no resize).
var (
	rwNbdQcow2 = Locks{Held: 1<<PermConsistentRead | 1<<PermWrite | 1<<PermResize, Unshared: 1<<PermWrite | 1<<PermResize}
	roNbdQcow2 = Locks{Held: 1 << PermConsistentRead, Unshared: 1<<PermWrite | 1<<PermResize}
	rwNbdRaw   = Locks{Held: 1<<PermConsistentRead | 1<<PermWrite, Unshared: 1 << PermResize}
	roNbdRaw   = Locks{Held: 1 << PermConsistentRead, Unshared: 1 << PermResize}
)

func TestOpenForWriteRefusesImageQemuHolds(t *testing.T) {
	cases := []struct {
		name       string
		format     string
		ro         bool
		wantInText string
		want       Locks
	}{
		{"qemu-nbd read-write holds write on qcow2", "qcow2", false, "write lock", rwNbdQcow2},
		{"qemu-nbd read-write holds write on raw", "raw", false, "write lock", rwNbdRaw},
		{"qemu-nbd -r holds consistent-read on qcow2", "qcow2", true, "consistent-read lock", roNbdQcow2},
		{"qemu-nbd -r holds consistent-read on raw", "raw", true, "consistent-read lock", roNbdRaw},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			img := newImage(t, c.format)
			before := fixture.SHA256(t, img)
			holdWithQemuNbd(t, img, c.format, c.ro)
			f, err := OpenFile(img, OpenOptions{Write: true, Name: "golden." + c.format})
			if err == nil {
				f.Close()
				t.Fatal("OpenFile(Write) succeeded on an image qemu-nbd holds")
			}
			if !errors.Is(err, ErrInUse) {
				t.Fatalf("error %v does not match ErrInUse", err)
			}
			msg := err.Error()
			for _, want := range []string{"refusing to write", "golden." + c.format, "in use by another process", c.wantInText} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not mention %q", msg, want)
				}
			}
			var iu *InUseError
			if !errors.As(err, &iu) || !iu.Write {
				t.Fatalf("error %T is not a write *InUseError", err)
			}
			if iu.Others != c.want {
				t.Fatalf("saw locks %+v (%s), want %+v (%s)", iu.Others, iu.Others, c.want, c.want)
			}
			if fixture.SHA256(t, img) != before {
				t.Fatal("the image changed")
			}
		})
	}
}

func TestReadOnlyOpenSharesEverythingWithQemu(t *testing.T) {
	for _, ro := range []bool{false, true} {
		t.Run(fmt.Sprintf("qemu-nbd ro=%v", ro), func(t *testing.T) {
			img := newImage(t, "qcow2")
			holdWithQemuNbd(t, img, "qcow2", ro)
			f, err := OpenFile(img, OpenOptions{})
			if err != nil {
				t.Fatalf("read-only open refused: %v", err)
			}
			defer f.Close()
			if _, err := f.ReadAt(make([]byte, 4), 0); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestWhileWritingQemuImgInfoFailsOnTheLock(t *testing.T) {
	img := newImage(t, "qcow2")
	f, err := OpenFile(img, OpenOptions{Write: true})
	if err != nil {
		t.Fatal(err)
	}
	_, stderr, code := oracle.Run(t, "qemu-img", "info", img)
	if code == 0 {
		t.Fatal("qemu-img info succeeded while imgprep holds the image for writing")
	}
	if !strings.Contains(stderr, `Failed to get shared "write" lock`) {
		t.Fatalf("qemu-img info failed without naming the lock: %s", stderr)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := oracle.Run(t, "qemu-img", "info", img); code != 0 {
		t.Fatalf("qemu-img info after Close: exit %d: %s", code, stderr)
	}
}

func TestWhileReadingQemuImgInfoSucceeds(t *testing.T) {
	img := newImage(t, "qcow2")
	f, err := OpenFile(img, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, stderr, code := oracle.Run(t, "qemu-img", "info", img); code != 0 {
		t.Fatalf("qemu-img info while imgprep reads: exit %d: %s", code, stderr)
	}
}

// lockedBytes asks the kernel, through a separate open file description,
// which bytes in [90, 210) carry a lock, and of which kind: "R" a shared
// lock (a write probe conflicts, a read probe does not), "W" an exclusive
// one.
func lockedBytes(tb testing.TB, path string) []string {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	conflicts := func(typ int16, off int64) bool {
		lk := unix.Flock_t{Type: typ, Whence: 0, Start: off, Len: 1}
		if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_GETLK, &lk); err != nil {
			tb.Fatal(err)
		}
		return lk.Type != unix.F_UNLCK
	}
	var got []string
	for off := int64(90); off < 210; off++ {
		switch {
		case conflicts(unix.F_RDLCK, off):
			got = append(got, "W"+strconv.FormatInt(off, 10))
		case conflicts(unix.F_WRLCK, off):
			got = append(got, "R"+strconv.FormatInt(off, 10))
		}
	}
	return got
}

func TestLockBytesMatchQemuPermissionLayout(t *testing.T) {
	cases := []struct {
		name  string
		write bool
		want  string
	}{
		{"writer holds consistent-read write resize and shares none of 0-3", true, "R100 R101 R103 R200 R201 R202 R203"},
		{"reader holds only consistent-read", false, "R100"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "img")
			if err := os.WriteFile(p, make([]byte, 4096), 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := OpenFile(p, OpenOptions{Write: c.write})
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(lockedBytes(t, p), " ")
			f.Close()
			if got != c.want {
				t.Fatalf("locked bytes: %s, want %s", got, c.want)
			}
			if after := lockedBytes(t, p); len(after) != 0 {
				t.Fatalf("locks left after Close: %v", after)
			}
		})
	}
}

func TestSecondOpenerConflicts(t *testing.T) {
	cases := []struct {
		name          string
		first, second bool // Write
		wantInUse     bool
	}{
		{"writer then writer is refused", true, true, true},
		{"writer then reader is refused: the writer does not share consistent-read", true, false, true},
		{"reader then writer is refused: the reader holds consistent-read", false, true, true},
		{"reader then reader shares", false, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "img")
			if err := os.WriteFile(p, []byte("data"), 0o644); err != nil {
				t.Fatal(err)
			}
			a, err := OpenFile(p, OpenOptions{Write: c.first})
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			b, err := OpenFile(p, OpenOptions{Write: c.second})
			if b != nil {
				b.Close()
			}
			if got := errors.Is(err, ErrInUse); got != c.wantInUse {
				t.Fatalf("second open: %v; in use = %v, want %v", err, got, c.wantInUse)
			}
		})
	}
}

func TestOpenErrorsNameTheFileAndReason(t *testing.T) {
	dir := t.TempDir()
	ro := filepath.Join(dir, "ro.img")
	if err := os.WriteFile(ro, []byte("x"), 0o444); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		path string
		opts OpenOptions
		want error
	}{
		{"a file whose mode grants no write permission is read-only", ro, OpenOptions{Write: true, Name: "ro.img"}, ErrReadOnly},
		{"a directory is not a regular file", dir, OpenOptions{Name: "dir"}, ErrNotRegular},
		{"a missing file does not exist", filepath.Join(dir, "missing"), OpenOptions{Name: "missing"}, fs.ErrNotExist},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := OpenFile(c.path, c.opts)
			if err == nil {
				f.Close()
				t.Fatal("OpenFile succeeded")
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("error %v does not match %v", err, c.want)
			}
			if !strings.Contains(err.Error(), c.opts.Name) {
				t.Fatalf("error %q does not name %s", err, c.opts.Name)
			}
		})
	}
	if b, _ := os.ReadFile(ro); string(b) != "x" {
		t.Fatal("read-only file changed")
	}
}

func TestReadOnlyOpenRefusesWrites(t *testing.T) {
	p := filepath.Join(t.TempDir(), "img")
	if err := os.WriteFile(p, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := OpenFile(p, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("x"), 0); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("WriteAt = %v, want ErrReadOnly", err)
	}
	if err := f.Truncate(0); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("Truncate = %v, want ErrReadOnly", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close = %v, want ErrClosed", err)
	}
	if _, err := f.ReadAt(make([]byte, 1), 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("ReadAt after Close = %v, want ErrClosed", err)
	}
}

func TestCreateFileIsExclusiveAndLocked(t *testing.T) {
	p := filepath.Join(t.TempDir(), "new.img")
	f, err := CreateFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("hello"), 10); err != nil {
		t.Fatal(err)
	}
	if n, err := f.Size(); n != 15 || err != nil {
		t.Fatalf("Size = %d, %v; want 15", n, err)
	}
	if err := f.Truncate(4096); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenFile(p, OpenOptions{}); !errors.Is(err, ErrInUse) {
		t.Fatalf("open while created file is held: %v, want ErrInUse", err)
	}
	if _, err := CreateFile(p); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("CreateFile over an existing file = %v, want ErrExist", err)
	}
	f.Close()
	if st, err := os.Stat(p); err != nil || st.Size() != 4096 {
		t.Fatalf("created file: %v %v", st, err)
	}
}

func TestOSDirJournalOps(t *testing.T) {
	p := filepath.Join(t.TempDir(), "img-imgprep-journal")
	var d Dir = OSDir{}
	f, err := d.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("j"), 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := d.Create(p); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Create existing = %v", err)
	}
	if err := d.SyncDir(p); err != nil {
		t.Fatal(err)
	}
	g, err := d.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	if _, err := g.ReadAt(b, 0); err != nil || b[0] != 'j' {
		t.Fatalf("read back %q %v", b, err)
	}
	g.Close()
	if err := d.Remove(p); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Open(p); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open removed = %v", err)
	}
	if err := d.Remove(p); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Remove removed = %v", err)
	}
}

func TestQemuStartedWhileWritingRefusesTheImage(t *testing.T) {
	img := newImage(t, "qcow2")
	f, err := OpenFile(img, OpenOptions{Write: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bin := oracle.Require(t, "qemu-nbd")
	sockDir, err := os.MkdirTemp("", "nbd")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(sockDir)
	for _, ro := range []bool{false, true} {
		args := []string{"-f", "qcow2", "--socket", filepath.Join(sockDir, "s"), img}
		if ro {
			args = append([]string{"-r"}, args...)
		}
		cmd := exec.Command(bin, args...)
		done := make(chan error, 1)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(out.String(), "lock") {
				t.Fatalf("qemu-nbd %v: %v, output %q; want a lock failure", args, err, out.String())
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Fatalf("qemu-nbd %v started serving an image imgprep holds for writing", args)
		}
	}
}

func TestInUseMessagesLeadWithTheLockThatMatters(t *testing.T) {
	cases := []struct {
		name string
		err  InUseError
		want string
	}{
		{"a writer's write lock comes first", InUseError{Name: "golden.qcow2", Write: true, Others: rwNbdQcow2},
			"refusing to write: golden.qcow2 is in use by another process (QEMU holds its write lock; also holds consistent-read and resize; does not share write and resize)"},
		{"a reader's consistent-read lock", InUseError{Name: "a.raw", Write: true, Others: roNbdRaw},
			"refusing to write: a.raw is in use by another process (QEMU holds its consistent-read lock; does not share resize)"},
		{"a writer refusing to share consistent-read stops a reader", InUseError{Name: "b", Others: Locks{Unshared: 1 << PermConsistentRead}},
			"refusing to read: b is in use by another process (QEMU does not share consistent-read)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.err.Error(); got != c.want {
				t.Fatalf("got  %s\nwant %s", got, c.want)
			}
			if !errors.Is(&c.err, ErrInUse) {
				t.Fatal("does not match ErrInUse")
			}
		})
	}
}

// TestForceShareReadsWhatAWriterHolds: as qemu-img -U, a force-share open
// reads an image whose writer forbids readers (another imgprep writing),
// takes no lock, and says what the writer holds.
func TestForceShareReadsWhatAWriterHolds(t *testing.T) {
	p := filepath.Join(t.TempDir(), "img")
	if err := os.WriteFile(p, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := OpenFile(p, OpenOptions{Write: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if f, err := OpenFile(p, OpenOptions{}); !errors.Is(err, ErrInUse) {
		if f != nil {
			f.Close()
		}
		t.Fatalf("plain read-only open of an image imgprep writes: %v, want ErrInUse", err)
	}
	r, err := OpenFile(p, OpenOptions{ForceShare: true})
	if err != nil {
		t.Fatalf("force-share open refused: %v", err)
	}
	defer r.Close()
	if got := r.Others(); !got.Held.Has(PermWrite) || !got.Unshared.Has(PermConsistentRead) {
		t.Fatalf("Others() = %s, want the writer's write lock and its unshared consistent-read", got)
	}
	b := make([]byte, 4)
	if _, err := r.ReadAt(b, 0); err != nil || string(b) != "data" {
		t.Fatalf("read %q, %v", b, err)
	}
	// It took no lock: once the writer is gone, nobody holds anything.
	w.Close()
	if l, err := Probe(p); err != nil || l.Any() {
		t.Fatalf("with only the force-share reader open, Probe = %s, %v; want no lock", l, err)
	}
	if _, err := OpenFile(p, OpenOptions{Write: true, ForceShare: true}); !errors.Is(err, ErrForceShareWrite) {
		t.Fatalf("Write with ForceShare: %v, want ErrForceShareWrite", err)
	}
}

// TestReadOnlyOpenSeesQemuWriting: a read-only open of an image qemu-nbd
// serves read-write succeeds and reports qemu-nbd's locks, so that the
// reader can warn.
func TestReadOnlyOpenSeesQemuWriting(t *testing.T) {
	img := newImage(t, "qcow2")
	holdWithQemuNbd(t, img, "qcow2", false)
	for _, force := range []bool{false, true} {
		f, err := OpenFile(img, OpenOptions{ForceShare: force})
		if err != nil {
			t.Fatalf("ForceShare=%v: %v", force, err)
		}
		if got := f.Others(); got != rwNbdQcow2 {
			t.Errorf("ForceShare=%v: Others() = %s, want %s", force, got, rwNbdQcow2)
		}
		f.Close()
	}
}
