package image_test

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/image"
	"github.com/imgprep/imgprep/pkg/qcow2"
	"github.com/imgprep/imgprep/pkg/storage"
)

// copyQemuImg runs qemu-img and fails the test unless it exits 0.
func copyQemuImg(tb testing.TB, args ...string) {
	tb.Helper()
	out, errOut, code := oracle.Run(tb, "qemu-img", args...)
	if code != 0 {
		tb.Fatalf("qemu-img %v: exit %d\n%s%s", args, code, out, errOut)
	}
}

// copyQemuIO runs qemu-io commands on a qcow2 image.
func copyQemuIO(tb testing.TB, path string, cmds ...string) {
	tb.Helper()
	args := []string{"-f", "qcow2"}
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	out, errOut, code := oracle.Run(tb, "qemu-io", append(args, path)...)
	if code != 0 {
		tb.Fatalf("qemu-io: exit %d\n%s%s", code, out, errOut)
	}
}

// copySourceImage makes a qcow2 image with data, zero clusters written as
// data, zero-flag clusters and unallocated clusters; it returns its path
// and the opened image.
func copySourceImage(tb testing.TB, dir string, size int64) (string, *qcow2.Image) {
	tb.Helper()
	p := filepath.Join(dir, "src.qcow2")
	copyQemuImg(tb, "create", "-q", "-f", "qcow2", p, strconv.FormatInt(size, 10))
	copyQemuIO(tb, p,
		"write -P 0x11 0 192k",     // data
		"write -P 0 256k 128k",     // allocated clusters holding zeros
		"write -z 512k 64k",        // zero flag
		"write -P 0x22 1000k 100k", // unaligned data
		"write -P 0x33 "+strconv.FormatInt(size-4096, 10)+" 4k")
	f, err := os.Open(p)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Close() })
	st, _ := f.Stat()
	img, err := qcow2.Open(f, st.Size(), qcow2.Options{Name: "src.qcow2"})
	if err != nil {
		tb.Fatal(err)
	}
	return p, img
}

// readerOnly hides Extents, so Copy must find zeros by content.
type readerOnly struct {
	r interface {
		ReadAt([]byte, int64) (int, error)
	}
	size int64
}

func (r readerOnly) ReadAt(p []byte, off int64) (int, error) { return r.r.ReadAt(p, off) }
func (r readerOnly) Size() int64                             { return r.size }

// TestCopyWritesOnlyData: Copy to qcow2 and to raw reads like the source
// for qemu-img compare, passes qemu-img check, leaves zero clusters
// unallocated (qcow2) or holes (raw), with and without source extents.
func TestCopyWritesOnlyData(t *testing.T) {
	oracle.Require(t, "qemu-img")
	const size = 8 << 20
	for _, tc := range []struct {
		name    string
		format  string
		cluster int
		extents bool
	}{
		{"qcow2 destination from a source with extents", "qcow2", 0, true},
		{"qcow2 destination, 4 KiB clusters", "qcow2", 4096, true},
		{"qcow2 destination from a plain reader (zeros found by content)", "qcow2", 0, false},
		{"raw destination stays sparse", "raw", 0, true},
		{"raw destination from a plain reader", "raw", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			srcPath, src := copySourceImage(t, dir, size)
			var source image.CopySource = src
			if !tc.extents {
				source = readerOnly{src, src.Size()}
			}
			dstPath := filepath.Join(dir, "dst."+tc.format)
			dst, err := storage.CreateFile(dstPath)
			if err != nil {
				t.Fatal(err)
			}
			var calls int
			var last int64
			err = image.Copy(context.Background(), dst, source, image.CopyOptions{Format: tc.format, ClusterSize: tc.cluster, Progress: func(done, total int64) {
				if done < last || total != size {
					t.Fatalf("progress %d/%d after %d", done, total, last)
				}
				calls++
				last = done
			}})
			if err != nil {
				t.Fatal(err)
			}
			dst.Close()
			if last != size || calls == 0 {
				t.Fatalf("progress ended at %d after %d calls", last, calls)
			}
			if tc.format == "qcow2" {
				oracle.QemuImgCheck(t, dstPath, false)
			}
			_, errOut, code := oracle.Run(t, "qemu-img", "compare", "-U", "-f", "qcow2", "-F", tc.format, srcPath, dstPath)
			if code != 0 {
				t.Fatalf("qemu-img compare: exit %d %s", code, errOut)
			}
			// Only data clusters are allocated: 192k + 100k (+ cluster
			// rounding) + 4k of 8 MiB.
			var st syscall.Stat_t
			if err := syscall.Stat(dstPath, &st); err != nil {
				t.Fatal(err)
			}
			if used := st.Blocks * 512; used > 1<<20 {
				t.Fatalf("destination uses %d bytes on disk; zeros were written", used)
			}
			if tc.format == "qcow2" {
				f, _ := os.Open(dstPath)
				defer f.Close()
				fi, _ := f.Stat()
				out, err := qcow2.Open(f, fi.Size(), qcow2.Options{})
				if err != nil {
					t.Fatal(err)
				}
				ext, _ := out.Extents(0, out.Size())
				var data int64
				for _, e := range ext {
					if !e.Zero {
						data += e.Length
					}
				}
				cs := int64(max(tc.cluster, 65536))
				if data > 192<<10+2*cs+100<<10+cs {
					t.Fatalf("destination maps %d bytes of data: %+v", data, ext)
				}
			}
		})
	}
}

// TestCopyRandomSourceMatches: a raw source of pseudo-random sparse data
// whose size is not a multiple of 512 copies exactly (qcow2 rounds the
// virtual size up to 512 bytes, the tail reads as zeros).
func TestCopyRandomSourceMatches(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	data := make([]byte, 3<<20+1000)
	for i := 0; i < 40; i++ {
		off := rng.IntN(len(data) - 5000)
		for k := 0; k < 1+rng.IntN(5000); k++ {
			data[off+k] = byte(rng.Uint32()) | 1
		}
	}
	dir := t.TempDir()
	for _, format := range []string{"qcow2", "raw"} {
		p := filepath.Join(dir, "out."+format)
		dst, err := storage.CreateFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := image.Copy(context.Background(), dst, readerOnly{bytes.NewReader(data), int64(len(data))}, image.CopyOptions{Format: format, ClusterSize: 4096}); err != nil {
			t.Fatal(err)
		}
		dst.Close()
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if format == "qcow2" {
			f, _ := os.Open(p)
			img, err := qcow2.Open(f, int64(len(got)), qcow2.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if img.Size() != int64(len(data)+511)&^511 {
				t.Fatalf("qcow2 size %d", img.Size())
			}
			got = make([]byte, img.Size())
			img.ReadAt(got, 0)
			f.Close()
			if !bytes.Equal(got[len(data):], make([]byte, len(got)-len(data))) {
				t.Fatal("qcow2 tail past the source size is not zero")
			}
			got = got[:len(data)]
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("%s copy differs", format)
		}
	}
}

// TestCopyErrors: an unknown format and a cancelled context.
func TestCopyErrors(t *testing.T) {
	dir := t.TempDir()
	src := readerOnly{bytes.NewReader(bytes.Repeat([]byte{1}, 1<<20)), 1 << 20}
	dst, err := storage.CreateFile(filepath.Join(dir, "x"))
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if err := image.Copy(context.Background(), dst, src, image.CopyOptions{Format: "vmdk"}); !errors.Is(err, image.ErrCopyFormat) {
		t.Fatalf("format vmdk: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := image.Copy(ctx, dst, src, image.CopyOptions{Format: "raw"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	if err := image.Copy(context.Background(), dst, src, image.CopyOptions{ClusterSize: 3000}); err == nil {
		t.Fatal("cluster size 3000 accepted")
	}
}

// BenchmarkCopyQcow2: a 256 MiB qcow2 image, half of its 64 KiB clusters
// written, copied to a new qcow2 image; the peer is
// qemu-img convert -O qcow2 (BenchmarkCopyQemuImgConvert).
func BenchmarkCopyQcow2(b *testing.B) {
	dir := b.TempDir()
	srcPath := copyBenchSource(b, dir)
	f, err := os.Open(srcPath)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	src, err := qcow2.Open(f, st.Size(), qcow2.Options{})
	if err != nil {
		b.Fatal(err)
	}
	dstPath := filepath.Join(dir, "dst.qcow2")
	b.SetBytes(src.Size())
	for b.Loop() {
		os.Remove(dstPath)
		dst, err := storage.CreateFile(dstPath)
		if err != nil {
			b.Fatal(err)
		}
		if err := image.Copy(context.Background(), dst, src, image.CopyOptions{}); err != nil {
			b.Fatal(err)
		}
		dst.Close()
	}
	b.StopTimer()
	oracle.QemuImgCheck(b, dstPath, false)
	oracle.QemuImgCompare(b, srcPath, dstPath)
}

// BenchmarkCopyQemuImgConvert is the peer of BenchmarkCopyQcow2.
func BenchmarkCopyQemuImgConvert(b *testing.B) {
	dir := b.TempDir()
	srcPath := copyBenchSource(b, dir)
	dstPath := filepath.Join(dir, "dst.qcow2")
	b.SetBytes(256 << 20)
	for b.Loop() {
		os.Remove(dstPath)
		copyQemuImg(b, "convert", "-f", "qcow2", "-O", "qcow2", srcPath, dstPath)
	}
}

func copyBenchSource(b *testing.B, dir string) string {
	b.Helper()
	p := filepath.Join(dir, "src.qcow2")
	copyQemuImg(b, "create", "-q", "-f", "qcow2", p, "256M")
	var cmds []string
	for i := 0; i < 2048; i++ {
		cmds = append(cmds, "write -P "+strconv.Itoa(i%251+1)+" "+strconv.Itoa(i*128)+"k 64k")
	}
	copyQemuIO(b, p, cmds...)
	return p
}
