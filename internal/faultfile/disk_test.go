package faultfile

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"sync"
	"syscall"
	"testing"

	"github.com/imgprep/imgprep/pkg/storage"
)

// script runs a fixed sequence of five ops on a wrapped Mem:
// 0 WriteAt "AAAA"@0, 1 WriteAt "BBBB"@4, 2 Sync, 3 Truncate 6, 4 WriteAt "C"@10.
func script(tb testing.TB, f storage.File) {
	tb.Helper()
	steps := []func() error{
		func() error { _, err := f.WriteAt([]byte("AAAA"), 0); return err },
		func() error { _, err := f.WriteAt([]byte("BBBB"), 4); return err },
		f.Sync,
		func() error { return f.Truncate(6) },
		func() error { _, err := f.WriteAt([]byte("C"), 10); return err },
	}
	for _, s := range steps {
		_ = s() // FailAt errors are checked by the callers through the Disk
	}
}

// states[k] is the persisted content when the power goes at op k.
var states = []string{
	"",
	"AAAA",
	"AAAABBBB",
	"AAAABBBB",
	"AAAABB",
	"AAAABB\x00\x00\x00\x00C",
}

func TestCrashAtOpKPersistsExactlyOpsBeforeK(t *testing.T) {
	for k, want := range states {
		t.Run("crashAt="+string(rune('0'+k)), func(t *testing.T) {
			m := NewMem(nil)
			d := NewDisk(k)
			f := d.Wrap(m)
			script(t, f)
			if got := string(m.Bytes()); got != want {
				t.Fatalf("persisted %q, want %q\nlog: %q", got, want, d.Log())
			}
			if d.Ops() != 5 {
				t.Fatalf("Ops() = %d, want 5", d.Ops())
			}
			if k < 5 && !d.Crashed() {
				t.Fatal("Crashed() = false after the crash op")
			}
			if k == 5 && d.Crashed() {
				t.Fatal("Crashed() = true though no op reached crashAt")
			}
		})
	}
}

func TestNegativeCrashAtNeverCrashes(t *testing.T) {
	m := NewMem(nil)
	d := NewDisk(-1)
	script(t, d.Wrap(m))
	if got, want := string(m.Bytes()), states[5]; got != want || d.Crashed() {
		t.Fatalf("persisted %q crashed=%v, want %q and no crash", got, d.Crashed(), want)
	}
}

func TestFailAtReturnsErrorWithoutPersistingAndLaterOpsProceed(t *testing.T) {
	cases := []struct {
		name string
		op   int
		err  error
		want string
	}{
		{"ENOSPC on first write", 0, syscall.ENOSPC, "\x00\x00\x00\x00BB\x00\x00\x00\x00C"},
		{"EIO on sync", 2, syscall.EIO, states[5]},
		{"EIO on truncate", 3, syscall.EIO, "AAAABBBB\x00\x00C"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := NewMem(nil)
			d := NewDisk(-1)
			d.FailAt(c.op, c.err)
			f := d.Wrap(m)
			var errs []error
			ops := []func() error{
				func() error { _, err := f.WriteAt([]byte("AAAA"), 0); return err },
				func() error { _, err := f.WriteAt([]byte("BBBB"), 4); return err },
				f.Sync,
				func() error { return f.Truncate(6) },
				func() error { _, err := f.WriteAt([]byte("C"), 10); return err },
			}
			for _, op := range ops {
				errs = append(errs, op())
			}
			for i, err := range errs {
				if i == c.op && !errors.Is(err, c.err) {
					t.Fatalf("op %d returned %v, want %v", i, err, c.err)
				}
				if i != c.op && err != nil {
					t.Fatalf("op %d returned %v, want nil", i, err)
				}
			}
			if got := string(m.Bytes()); got != c.want {
				t.Fatalf("persisted %q, want %q", got, c.want)
			}
		})
	}
}

func TestTornWriteKeepsPrefixOfCrashingWrite(t *testing.T) {
	m := NewMem(nil)
	d := NewDisk(1)
	d.TornWrite(2)
	f := d.Wrap(m)
	script(t, f)
	if got, want := string(m.Bytes()), "AAAABB"; got != want {
		t.Fatalf("persisted %q, want %q", got, want)
	}
}

func TestReadsSeeWhatPersisted(t *testing.T) {
	m := NewMem([]byte("0123456789"))
	d := NewDisk(0)
	f := d.Wrap(m)
	if n, err := f.WriteAt([]byte("xx"), 0); n != 2 || err != nil {
		t.Fatalf("lost write reported (%d, %v), want success", n, err)
	}
	buf := make([]byte, 10)
	if _, err := f.ReadAt(buf, 0); err != nil || string(buf) != "0123456789" {
		t.Fatalf("read %q, %v after a lost write, want the persisted bytes", buf, err)
	}
}

func TestDirectoryOpsAreCounted(t *testing.T) {
	// ops: 0 Create j, 1 WriteAt j, 2 SyncDir, 3 Remove j, 4 SyncDir
	for crashAt, wantExists := range []bool{false, true, true, true, false} {
		md := NewMemDir()
		d := NewDisk(crashAt)
		dir := d.WrapDir(md)
		f, err := dir.Create("j")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte("data"), 0); err != nil {
			t.Fatal(err)
		}
		if err := dir.SyncDir("j"); err != nil {
			t.Fatal(err)
		}
		if err := dir.Remove("j"); err != nil {
			t.Fatal(err)
		}
		if err := dir.SyncDir("j"); err != nil {
			t.Fatal(err)
		}
		if d.Ops() != 5 {
			t.Fatalf("crashAt=%d: Ops() = %d, want 5", crashAt, d.Ops())
		}
		m, exists := md.File("j")
		if exists != wantExists {
			t.Fatalf("crashAt=%d: journal exists=%v, want %v (log %q)", crashAt, exists, wantExists, d.Log())
		}
		if exists && crashAt == 1 && len(m.Bytes()) != 0 {
			t.Fatalf("crashAt=1: write persisted %q", m.Bytes())
		}
	}
}

func TestFailedCreateMakesNoFile(t *testing.T) {
	md := NewMemDir()
	d := NewDisk(-1)
	d.FailAt(0, syscall.EROFS)
	if _, err := d.WrapDir(md).Create("j"); !errors.Is(err, syscall.EROFS) {
		t.Fatalf("Create = %v, want EROFS", err)
	}
	if _, ok := md.File("j"); ok {
		t.Fatal("failed Create left a file")
	}
}

func TestMemDirMissingFilesAreErrNotExist(t *testing.T) {
	md := NewMemDir()
	if _, err := md.Open("x"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open = %v", err)
	}
	if err := md.Remove("x"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Remove = %v", err)
	}
	if _, err := md.Create("x"); err != nil {
		t.Fatal(err)
	}
	if _, err := md.Create("x"); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second Create = %v, want ErrExist", err)
	}
}

func TestMemReadAtFollowsReaderAtContract(t *testing.T) {
	m := NewMem([]byte("abc"))
	cases := []struct {
		name    string
		off     int64
		n       int
		wantN   int
		wantErr error
	}{
		{"whole", 0, 3, 3, nil},
		{"past end returns EOF", 1, 4, 2, io.EOF},
		{"at end returns EOF", 3, 1, 0, io.EOF},
		{"negative offset", -1, 1, 0, ErrNegativeOffset},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n, err := m.ReadAt(make([]byte, c.n), c.off)
			if n != c.wantN || !errors.Is(err, c.wantErr) {
				t.Fatalf("ReadAt = (%d, %v), want (%d, %v)", n, err, c.wantN, c.wantErr)
			}
		})
	}
	if err := m.Truncate(MaxMemSize + 1); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Truncate past the limit = %v", err)
	}
	if err := m.Truncate(5); err != nil || !bytes.Equal(m.Bytes(), []byte("abc\x00\x00")) {
		t.Fatalf("Truncate grow: %v %q", err, m.Bytes())
	}
}

func TestConcurrentOpsAreEachCountedOnce(t *testing.T) {
	d := NewDisk(-1)
	f := d.Wrap(NewMem(nil))
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 100 {
				_, _ = f.WriteAt([]byte{byte(i)}, int64(i*100+j))
			}
		}()
	}
	wg.Wait()
	if d.Ops() != 800 {
		t.Fatalf("Ops() = %d, want 800", d.Ops())
	}
}
