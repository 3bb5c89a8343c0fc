package qcow2_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/imgprep/imgprep/internal/faultfile"
	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/qcow2"
	"github.com/imgprep/imgprep/pkg/storage"
)

// mutants is how many mutated copies of each fixture are tried.
const mutants = 150

// errHostGrowth is the capped file refusing to grow past its bound.
var errHostGrowth = errors.New("test: the image file would grow past 64 MiB")

// cappedFile is an in-memory image file that refuses writes past 64 MiB,
// so a corrupt image cannot make the engine write at a huge host offset
// and have the test allocate it.
type cappedFile struct{ *faultfile.Mem }

const capBytes = 64 << 20

func (c cappedFile) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > capBytes {
		return 0, fmt.Errorf("%w (write of %d at %d)", errHostGrowth, len(p), off)
	}
	return c.Mem.WriteAt(p, off)
}

func (c cappedFile) Truncate(size int64) error {
	if size > capBytes {
		return fmt.Errorf("%w (truncate to %d)", errHostGrowth, size)
	}
	return c.Mem.Truncate(size)
}

var _ storage.File = cappedFile{}

// TestMutatedImagesNeverPanicHangOrBalloon: an image whose metadata has a
// few random bytes changed is opened, read whole, opened for writing,
// written (two clusters) and closed. Any error is fine; a panic, a call
// taking more than 10 s, or more than 128 MiB allocated for a 4 MiB disk
// is not. Seeded: 150 mutants of each of five fixtures, the bytes changed
// drawn from the header (first 112 bytes) and the first clusters, where
// qemu-img puts the refcount table and blocks and the L1 and L2 tables.
func TestMutatedImagesNeverPanicHangOrBalloon(t *testing.T) {
	for fi, name := range []string{"qcow2-v3.qcow2", "qcow2-c512.qcow2", "qcow2-deflate.qcow2", "qcow2-extl2.qcow2", "qcow2-snapshot.qcow2"} {
		t.Run(name, func(t *testing.T) {
			// Not parallel: allocated() reads process-wide statistics.
			orig, err := os.ReadFile(fixture.Path(t, name))
			if err != nil {
				t.Fatal(err)
			}
			clusterSize := 1 << (uint32(orig[20])<<24 | uint32(orig[21])<<16 | uint32(orig[22])<<8 | uint32(orig[23]))
			metaEnd := min(len(orig), 6*clusterSize)
			if clusterSize < 4096 {
				metaEnd = min(len(orig), 64*clusterSize)
			}
			rng := rand.New(rand.NewPCG(uint64(fi), 0x4d))
			var refused, accepted int
			for m := range mutants {
				img := append([]byte(nil), orig...)
				var changes []string
				for range 1 + rng.IntN(4) {
					var at int
					if rng.IntN(3) == 0 {
						at = rng.IntN(112)
					} else {
						at = rng.IntN(metaEnd)
					}
					img[at] ^= byte(1 + rng.IntN(255))
					changes = append(changes, fmt.Sprintf("%#x", at))
				}
				what := fmt.Sprintf("mutant %d (bytes %v)", m, changes)
				var opErr error
				var panicked any
				done := make(chan struct{})
				var alloc uint64
				go func() {
					defer close(done)
					alloc = allocated(func() {
						defer func() { panicked = recover() }()
						opErr = exerciseMutant(img)
					})
				}()
				select {
				case <-done:
				case <-time.After(10 * time.Second):
					t.Fatalf("%s: open, read, write and close still running after 10 s", what)
				}
				if panicked != nil {
					t.Fatalf("%s: panic: %v", what, panicked)
				}
				if alloc > 128<<20 {
					t.Errorf("%s: allocated %d MiB for a %d KiB image", what, alloc>>20, len(img)>>10)
				}
				if opErr != nil {
					refused++
				} else {
					accepted++
				}
			}
			t.Logf("%d mutants: %d refused with an error somewhere, %d read and written", mutants, refused, accepted)
		})
	}
}

// exerciseMutant opens img read-only and reads its disk, then opens it for
// writing, writes two clusters' worth and closes it; the first error ends it.
func exerciseMutant(img []byte) error {
	ro, err := qcow2.Open(faultfile.NewMem(img), int64(len(img)), qcow2.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	size := min(ro.Size(), 64<<20)
	buf := make([]byte, 1<<20)
	for off := int64(0); off < size; off += int64(len(buf)) {
		if _, err := ro.ReadAt(buf[:min(int64(len(buf)), size-off)], off); err != nil {
			ro.Close()
			return err
		}
	}
	ro.Close()
	f := cappedFile{faultfile.NewMem(img)}
	rw, err := qcow2.OpenFile(f, qcow2.Options{})
	if err != nil {
		return err
	}
	data := make([]byte, 96<<10)
	for i := range data {
		data[i] = byte(i)
	}
	for _, off := range []int64{0, rw.Size() / 2} {
		if _, err := rw.WriteAt(data[:min(int64(len(data)), rw.Size()-off)], off); err != nil {
			rw.Close()
			return err
		}
	}
	return rw.Close()
}

// TestMutantsQemuCallsCleanStayClean: a differential test against QEMU on
// damaged images. Of seeded mutants (1-2 bytes changed in the header and
// first clusters), those qemu-img check calls clean (exit 0) must read
// through us exactly as qemu-img convert reads them (or be refused with an
// error), and after our writes (two 96 KiB pieces, Close) still be clean
// and equal to a raw mirror given the same writes.
func TestMutantsQemuCallsCleanStayClean(t *testing.T) {
	oracle.Require(t, "qemu-img")
	for fi, name := range []string{"qcow2-v3.qcow2", "qcow2-c4k.qcow2", "qcow2-zstd.qcow2", "qcow2-zero.qcow2"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			orig, err := os.ReadFile(fixture.Path(t, name))
			if err != nil {
				t.Fatal(err)
			}
			clusterSize := 1 << binary.BigEndian.Uint32(orig[20:])
			metaEnd := min(len(orig), max(6*clusterSize, 64<<10))
			rng := rand.New(rand.NewPCG(uint64(fi), 0x71))
			dir := t.TempDir()
			var clean, refused int
			for m := range 25 {
				img := append([]byte(nil), orig...)
				var changes []string
				for range 1 + rng.IntN(2) {
					at := rng.IntN(metaEnd)
					if rng.IntN(3) == 0 {
						at = rng.IntN(112)
					}
					img[at] ^= byte(1 + rng.IntN(255))
					changes = append(changes, fmt.Sprintf("%#x", at))
				}
				what := fmt.Sprintf("mutant %d (bytes %v)", m, changes)
				path := filepath.Join(dir, fmt.Sprintf("m%02d.qcow2", m))
				if err := os.WriteFile(path, img, 0o644); err != nil {
					t.Fatal(err)
				}
				if _, _, code := oracle.Run(t, "qemu-img", "check", "-U", "-f", "qcow2", path); code != 0 {
					continue
				}
				rawPath := path + ".raw"
				if _, _, code := oracle.Run(t, "qemu-img", "convert", "-U", "-f", "qcow2", "-O", "raw", path, rawPath); code != 0 {
					continue
				}
				clean++
				want, err := os.ReadFile(rawPath)
				if err != nil {
					t.Fatal(err)
				}
				got, err := readWhole(path)
				if err != nil {
					refused++
					t.Logf("%s: qemu-img calls it clean, we refuse it: %v", what, err)
					continue
				}
				if len(got) != len(want) && len(got)&^511 == len(want) {
					// QEMU sees size/512 sectors of a size that is not a
					// multiple of 512 (bs->total_sectors); we keep the bytes.
					t.Logf("%s: virtual size %d; qemu-img rounds it down to %d", what, len(got), len(want))
					got = got[:len(want)]
				}
				sameBytes(t, what+": read vs qemu-img convert", got, want)

				var werr error
				guard(t, what, func() {
					f, err := storage.OpenFile(path, storage.OpenOptions{Write: true})
					if err != nil {
						t.Fatal(err)
					}
					defer f.Close()
					w, err := qcow2.OpenFile(f, qcow2.Options{})
					if err != nil {
						werr = err
						return
					}
					data := make([]byte, 96<<10)
					for i := range data {
						data[i] = byte(i*7 + 1)
					}
					for _, off := range []int64{100, int64(len(want)) / 2} {
						if _, err := w.WriteAt(data, off); err != nil {
							werr = err
							break
						}
						copy(want[off:], data)
					}
					if err := w.Close(); werr == nil {
						werr = err
					}
				})
				if werr != nil {
					refused++
					t.Logf("%s: qemu-img calls it clean, our write refused: %v", what, werr)
					continue
				}
				waitUnlocked(t, path)
				if err := os.WriteFile(rawPath, want, 0o644); err != nil {
					t.Fatal(err)
				}
				if out, errOut, code := oracle.Run(t, "qemu-img", "check", "-U", path); code != 0 {
					t.Fatalf("%s: clean before our writes, qemu-img check exit %d after:\n%s%s", what, code, out, errOut)
				}
				oracle.QemuImgCompare(t, path, rawPath)
			}
			if clean == 0 {
				t.Fatal("no mutant was clean for qemu-img check; the test judged nothing")
			}
			t.Logf("25 mutants: %d clean for qemu-img, %d of those refused by us, %d read, written and still clean", clean, refused, clean-refused)
		})
	}
}

// TestBackingFileSizeUndefinedWithoutBackingFile: qcow2.rst, header bytes
// 16-19 backing_file_size: "Undefined if the image doesn't have a backing
// file", which backing_file_offset 0 says. Garbage there must be ignored,
// as QEMU ignores it (found by TestMutantsQemuCallsCleanStayClean).
func TestBackingFileSizeUndefinedWithoutBackingFile(t *testing.T) {
	path := fixture.Path(t, "qcow2-v3.qcow2")
	want, err := readWhole(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []uint32{5, 1024, 0xffffffff} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if binary.BigEndian.Uint64(b[8:]) != 0 {
			t.Fatal("fixture has a backing file")
		}
		binary.BigEndian.PutUint32(b[16:], size)
		p := filepath.Join(t.TempDir(), "img.qcow2")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := readWhole(p)
		if err != nil {
			t.Errorf("backing_file_offset 0, backing_file_size %d: %v; want the image read as without it", size, err)
			continue
		}
		sameBytes(t, "read", got, want)
	}
}
