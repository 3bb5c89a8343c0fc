package qcow2_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/image"
	"github.com/imgprep/imgprep/pkg/qcow2"
	"github.com/imgprep/imgprep/pkg/storage"
)

// The benchmarks build their images with qemu-img and qemu-io at bench
// time, as scripts/bench.d/20-qcow2.sh does for the peer timings.

// benchSparse makes a sparse qcow2 image of the given virtual size with
// four 64 KiB clusters written: at 0, 1 MiB, the middle and the end.
func benchSparse(b *testing.B, size int64) (string, []int64) {
	b.Helper()
	p := filepath.Join(b.TempDir(), "sparse.qcow2")
	qemuImgOK(b, "create", "-q", "-f", "qcow2", p, strconv.FormatInt(size, 10))
	offs := []int64{0, 1 << 20, size / 2, size - 65536}
	var cmds []string
	for i, o := range offs {
		cmds = append(cmds, fmt.Sprintf("write -P %d %d 64k", i+1, o))
	}
	benchQemuIO(b, p, cmds...)
	return p, offs
}

func benchQemuIO(b *testing.B, path string, cmds ...string) {
	b.Helper()
	args := []string{"-f", "qcow2"}
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	if _, errOut, code := oracle.Run(b, "qemu-io", append(args, path)...); code != 0 {
		b.Fatalf("qemu-io: exit %d: %s", code, errOut)
	}
}

// BenchmarkQcow2OpenRead opens a sparse image and reads its four written
// clusters: the cost must not grow with the virtual size beyond the L1
// table (2 entries for 1 GiB, 4096 for 2 TiB).
func BenchmarkQcow2OpenRead(b *testing.B) {
	for _, size := range []struct {
		name string
		n    int64
	}{{"1GiB", 1 << 30}, {"2TiB", 2 << 40}} {
		b.Run(size.name, func(b *testing.B) {
			path, offs := benchSparse(b, size.n)
			buf := make([]byte, 65536)
			b.ReportAllocs()
			for b.Loop() {
				f, err := os.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				st, _ := f.Stat()
				img, err := qcow2.Open(f, st.Size(), qcow2.Options{ReadOnly: true})
				if err != nil {
					b.Fatal(err)
				}
				for _, o := range offs {
					if _, err := img.ReadAt(buf, o); err != nil {
						b.Fatal(err)
					}
				}
				img.Close()
				f.Close()
			}
		})
	}
}

// benchCopySource makes a 64 MiB qcow2 image, every other 64 KiB cluster
// written (50% data), as the bench script does for qemu-img convert.
func benchCopySource(b *testing.B) string {
	b.Helper()
	p := filepath.Join(b.TempDir(), "src.qcow2")
	qemuImgOK(b, "create", "-q", "-f", "qcow2", p, "64M")
	var cmds []string
	for i := 0; i < 512; i++ {
		cmds = append(cmds, fmt.Sprintf("write -P %d %dk 64k", i%251+1, i*128))
	}
	benchQemuIO(b, p, cmds...)
	return p
}

// BenchmarkQcow2Copy: image.Copy of a 64 MiB, 50% data qcow2 image into a
// new qcow2 image (synced); the peer is qemu-img convert -O qcow2.
func BenchmarkQcow2Copy(b *testing.B) {
	srcPath := benchCopySource(b)
	f, err := os.Open(srcPath)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	src, err := qcow2.Open(f, st.Size(), qcow2.Options{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	dir := b.TempDir()
	dst := filepath.Join(dir, "dst.qcow2")
	b.SetBytes(src.Size())
	b.ReportAllocs()
	for b.Loop() {
		os.Remove(dst)
		f, err := storage.CreateFile(dst)
		if err != nil {
			b.Fatal(err)
		}
		if err := image.Copy(context.Background(), f, src, image.CopyOptions{Format: "qcow2"}); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	oracle.QemuImgCompare(b, srcPath, dst)
	oracle.QemuImgCheck(b, dst, false)
}

// BenchmarkQcow2CreateOverlay: a new overlay over a qcow2 base (opened
// through the resolver, as qemu-img create opens it), closed; the peer is
// qemu-img create -f qcow2 -b base -F qcow2.
func BenchmarkQcow2CreateOverlay(b *testing.B) {
	dir := b.TempDir()
	base := filepath.Join(dir, "base.qcow2")
	qemuImgOK(b, "create", "-q", "-f", "qcow2", base, "1G")
	top := filepath.Join(dir, "top.qcow2")
	b.ReportAllocs()
	for b.Loop() {
		os.Remove(top)
		f, err := storage.CreateFile(top)
		if err != nil {
			b.Fatal(err)
		}
		img, err := qcow2.Create(f, qcow2.CreateOptions{
			Size: 1 << 30, BackingFile: "base.qcow2", BackingFormat: "qcow2",
			Backing: openBackingIn(dir),
		})
		if err != nil {
			b.Fatal(err)
		}
		if err := img.Close(); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
	b.StopTimer()
	oracle.QemuImgCheck(b, top, false)
	if out := qemuImgInfo(b, top); !strings.Contains(out, "backing file: base.qcow2") || !strings.Contains(out, "backing file format: qcow2") {
		b.Fatalf("qemu-img info of our overlay:\n%s", out)
	}
}

func qemuImgInfo(tb testing.TB, path string) string {
	tb.Helper()
	out, errOut, code := oracle.Run(tb, "qemu-img", "info", "-U", path)
	if code != 0 {
		tb.Fatalf("qemu-img info: %s", errOut)
	}
	return out
}

// closingBacking is a backing image that closes its file with itself.
type closingBacking struct {
	*qcow2.Image
	f *os.File
}

func (c closingBacking) Close() error {
	err := c.Image.Close()
	if ferr := c.f.Close(); err == nil {
		err = ferr
	}
	return err
}

// openBackingIn opens qcow2 backing files in dir, each closed with the
// image that uses it.
func openBackingIn(dir string) func(name, format string) (qcow2.Backing, error) {
	return func(name, format string) (qcow2.Backing, error) {
		f, err := os.Open(filepath.Join(dir, filepath.Base(name)))
		if err != nil {
			return nil, err
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, err
		}
		img, err := qcow2.Open(f, st.Size(), qcow2.Options{ReadOnly: true, Name: name})
		if err != nil {
			f.Close()
			return nil, err
		}
		return closingBacking{img, f}, nil
	}
}

// BenchmarkQcow2Extents maps the whole of a sparse image with four written
// clusters: the cost must follow the L1 and L2 tables in use, not the
// virtual size (1 GiB versus 2 TiB).
func BenchmarkQcow2Extents(b *testing.B) {
	for _, size := range []struct {
		name string
		n    int64
	}{{"1GiB", 1 << 30}, {"2TiB", 2 << 40}} {
		b.Run(size.name, func(b *testing.B) {
			path, _ := benchSparse(b, size.n)
			f, err := os.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			st, _ := f.Stat()
			img, err := qcow2.Open(f, st.Size(), qcow2.Options{ReadOnly: true})
			if err != nil {
				b.Fatal(err)
			}
			defer img.Close()
			b.ReportAllocs()
			for b.Loop() {
				ext, err := img.Extents(0, img.Size())
				if err != nil || len(ext) < 4 {
					b.Fatalf("Extents: %d extents, %v", len(ext), err)
				}
			}
		})
	}
}
