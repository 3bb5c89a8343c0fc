package qcow2

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/qcow2/internal/memfile"
)

// hostFile adapts *os.File to storage.File for tests.
type hostFile struct{ *os.File }

func (f hostFile) Size() (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// openHost opens path read-write as a storage.File, closed at cleanup.
func openHost(tb testing.TB, path string) hostFile {
	tb.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Close() })
	return hostFile{f}
}

// qemuImg runs qemu-img and fails the test on a non-zero exit.
func qemuImg(tb testing.TB, args ...string) string {
	tb.Helper()
	out, errOut, code := oracle.Run(tb, "qemu-img", args...)
	if code != 0 {
		tb.Fatalf("qemu-img %v: exit %d\n%s%s", args, code, out, errOut)
	}
	return out
}

// qemuIO runs qemu-io commands on a qcow2 image.
func qemuIO(tb testing.TB, path string, cmds ...string) {
	tb.Helper()
	args := []string{"-f", "qcow2"}
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	args = append(args, path)
	out, errOut, code := oracle.Run(tb, "qemu-io", args...)
	if code != 0 || bytes.Contains([]byte(out+errOut), []byte("error")) {
		tb.Fatalf("qemu-io %v: exit %d\n%s%s", args, code, out, errOut)
	}
}

// patternRaw writes a raw file of size bytes in which roughly every other
// 64 KiB block holds pseudo-random data (some blocks half written), the
// rest zeros, so conversions produce data, zero and unallocated clusters.
func patternRaw(tb testing.TB, dir string, size int64, seed uint64) (string, []byte) {
	tb.Helper()
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	data := make([]byte, size)
	for off := int64(0); off < size; off += 65536 {
		switch rng.IntN(4) {
		case 0, 1:
			end := min(size, off+65536)
			if rng.IntN(2) == 0 {
				end = min(size, off+int64(rng.IntN(65536)))
			}
			// Compressible but not trivially: words from a small alphabet.
			for i := off; i < end; i++ {
				data[i] = "imgprep qcow2 \x01\xff"[rng.IntN(16)]
			}
		}
	}
	p := filepath.Join(dir, "src.raw")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		tb.Fatal(err)
	}
	return p, data
}

// readAll reads the whole virtual disk of img.
func readAll(tb testing.TB, img *Image) []byte {
	tb.Helper()
	buf := make([]byte, img.Size())
	if n, err := img.ReadAt(buf, 0); err != nil || n != len(buf) {
		tb.Fatalf("ReadAt whole disk: n=%d err=%v", n, err)
	}
	return buf
}

// openImage opens path read-only with a backing resolver for files in
// the same directory.
func openImage(tb testing.TB, path string) *Image {
	tb.Helper()
	img, err := OpenFile(openHost(tb, path), Options{ReadOnly: true, Name: filepath.Base(path), Backing: dirBacking(tb, filepath.Dir(path), 0)})
	if err != nil {
		tb.Fatalf("open %s: %v", path, err)
	}
	tb.Cleanup(func() { img.Close() })
	return img
}

// dirBacking resolves backing files in dir: qcow2 by magic, else raw.
func dirBacking(tb testing.TB, dir string, depth int) func(name, format string) (Backing, error) {
	return func(name, format string) (Backing, error) {
		if depth > 8 {
			return nil, ErrBackingLoop
		}
		p := name
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, name)
		}
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		hf := hostFile{f}
		var magic [4]byte
		f.ReadAt(magic[:], 0)
		if format == "qcow2" || format == "" && Probe(magic[:]) {
			img, err := OpenFile(hf, Options{ReadOnly: true, Name: name, Backing: dirBacking(tb, filepath.Dir(p), depth+1)})
			if err != nil {
				f.Close()
				return nil, err
			}
			return &closingImage{img, f}, nil
		}
		size, _ := hf.Size()
		return rawBacking{f, size}, nil
	}
}

type closingImage struct {
	*Image
	f *os.File
}

func (c *closingImage) Close() error {
	err := c.Image.Close()
	c.f.Close()
	return err
}

type rawBacking struct {
	*os.File
	size int64
}

func (r rawBacking) Size() int64 { return r.size }

// countKinds counts the guest clusters of each kind in the committed tables.
func countKinds(tb testing.TB, img *Image) map[clusterKind]int {
	tb.Helper()
	img.mu.Lock()
	defer img.mu.Unlock()
	out := map[clusterKind]int{}
	n := ceilDiv(img.Size(), img.h.clusterSize)
	for gc := int64(0); gc < n; gc++ {
		m, err := img.lookup(gc)
		if err != nil {
			tb.Fatal(err)
		}
		out[m.kind]++
	}
	return out
}

// newMem returns an in-memory storage.File holding a copy of data.
func newMem(data []byte) *memfile.File { return memfile.New(data) }
