package image

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/imgprep/imgprep/internal/oracle"
)

// imageKinds builds a 1 MiB image of each kind from the same pattern and
// returns its path and its virtual disk before any write.
var imageKinds = []struct {
	name  string
	build func(tb testing.TB, dir string) (path string, disk []byte)
}{
	{"raw", func(tb testing.TB, dir string) (string, []byte) {
		p := filepath.Join(dir, "disk.raw")
		patternFile(tb, p, 1<<20, "raw")
		b, _ := os.ReadFile(p)
		return p, b
	}},
	{"qcow2", func(tb testing.TB, dir string) (string, []byte) {
		src := filepath.Join(dir, "src.raw")
		patternFile(tb, src, 1<<20, "qcow2")
		p := filepath.Join(dir, "disk.qcow2")
		qemuImg(tb, "convert", "-f", "raw", "-O", "qcow2", src, p)
		b, _ := os.ReadFile(src)
		return p, b
	}},
	{"qcow2 over a raw backing file", func(tb testing.TB, dir string) (string, []byte) {
		base := filepath.Join(dir, "base.raw")
		patternFile(tb, base, 1<<20, "base")
		p := filepath.Join(dir, "top.qcow2")
		qemuImg(tb, "create", "-f", "qcow2", "-b", "base.raw", "-F", "raw", p)
		b, _ := os.ReadFile(base)
		return p, b
	}},
	{"qcow2 over a qcow2 backing file", func(tb testing.TB, dir string) (string, []byte) {
		src := filepath.Join(dir, "src.raw")
		patternFile(tb, src, 1<<20, "qbase")
		qemuImg(tb, "convert", "-f", "raw", "-O", "qcow2", src, filepath.Join(dir, "base.qcow2"))
		p := filepath.Join(dir, "top.qcow2")
		qemuImg(tb, "create", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", p)
		b, _ := os.ReadFile(src)
		return p, b
	}},
}

// filesIn returns the sha256 of every file in dir.
func filesIn(tb testing.TB, dir string) map[string]string {
	tb.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	sums := map[string]string{}
	for _, e := range ents {
		sums[e.Name()] = sha256File(tb, filepath.Join(dir, e.Name()))
	}
	return sums
}

func TestDryRunStagesWritesAndLeavesTheImageByteIdentical(t *testing.T) {
	for _, kind := range imageKinds {
		t.Run(kind.name, func(t *testing.T) {
			dir := t.TempDir()
			path, disk := kind.build(t, dir)
			before := filesIn(t, dir)
			h, err := Open(path, OpenOptions{DryRun: true, Write: true})
			if err != nil {
				t.Fatal(err)
			}
			ws := someWrites(h.Size())
			for _, w := range ws {
				if _, err := h.WriteAt(w.data, w.off); err != nil {
					t.Fatal(err)
				}
			}
			apply(disk, ws)
			if !bytes.Equal(readAll(t, h), disk) {
				t.Fatal("a dry run does not read back its staged writes")
			}
			staged := h.Staged()
			var n int64
			for _, r := range staged {
				n += r.Length
			}
			if len(staged) == 0 || n < int64(len(ws)) {
				t.Fatalf("Staged = %+v after %d writes", staged, len(ws))
			}
			if err := h.Commit(); !errors.Is(err, ErrDryRun) {
				t.Fatalf("Commit in a dry run: %v, want ErrDryRun", err)
			}
			h.Discard()
			if err := h.Close(); err != nil {
				t.Fatal(err)
			}
			after := filesIn(t, dir)
			for name, sum := range before {
				if after[name] != sum {
					t.Errorf("%s changed in a dry run", name)
				}
			}
			if len(after) != len(before) {
				t.Errorf("a dry run left files: %v", after)
			}
		})
	}
}

func TestCommitWritesThroughAsQemuImgReadsIt(t *testing.T) {
	for _, kind := range imageKinds {
		t.Run(kind.name, func(t *testing.T) {
			dir := t.TempDir()
			path, disk := kind.build(t, dir)
			backings := filesIn(t, dir)
			delete(backings, filepath.Base(path))
			h, err := Open(path, OpenOptions{Write: true})
			if err != nil {
				t.Fatal(err)
			}
			ws := someWrites(h.Size())
			for _, w := range ws {
				if _, err := h.WriteAt(w.data, w.off); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := h.WriteAt([]byte("past the end"), h.Size()-3); err == nil {
				t.Fatal("a write past the end of the virtual disk succeeded")
			}
			if err := h.Commit(); err != nil {
				t.Fatal(err)
			}
			if _, err := h.WriteAt([]byte("late"), 0); !errors.Is(err, ErrFinished) {
				t.Fatalf("WriteAt after Commit: %v, want ErrFinished", err)
			}
			if err := h.Close(); err != nil {
				t.Fatal(err)
			}
			apply(disk, ws)
			if h.Format() == "qcow2" {
				oracle.QemuImgCheck(t, path, false)
			}
			if got := qemuRaw(t, path); !bytes.Equal(got, disk) {
				t.Fatal("qemu-img convert -O raw of the committed image differs from the expected disk")
			}
			// Backing files are never written.
			for name, sum := range backings {
				if sha256File(t, filepath.Join(dir, name)) != sum {
					t.Errorf("backing file %s changed", name)
				}
			}
			if _, err := os.Stat(path + "-imgprep-journal"); !os.IsNotExist(err) {
				t.Errorf("journal left after Commit: %v", err)
			}
			// Reopened, our reader agrees with qemu-img.
			h2, err := Open(path, OpenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer h2.Close()
			if !bytes.Equal(readAll(t, h2), disk) {
				t.Fatal("reopened image differs")
			}
		})
	}
}

func TestCloseWithoutCommitDiscards(t *testing.T) {
	for _, kind := range imageKinds {
		t.Run(kind.name, func(t *testing.T) {
			dir := t.TempDir()
			path, _ := kind.build(t, dir)
			before := filesIn(t, dir)
			h, err := Open(path, OpenOptions{Write: true})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := h.WriteAt(bytes.Repeat([]byte{0xEE}, 4096), 8192); err != nil {
				t.Fatal(err)
			}
			if err := h.Close(); err != nil {
				t.Fatal(err)
			}
			after := filesIn(t, dir)
			for name, sum := range before {
				if after[name] != sum {
					t.Errorf("%s changed without Commit", name)
				}
			}
		})
	}
}
