package qcow2_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/image"
	"github.com/imgprep/imgprep/pkg/qcow2"
	"github.com/imgprep/imgprep/pkg/storage"
)

// Where a hostile image must be refused.
const (
	refuseAtOpen         = iota // Open and OpenFile fail
	refuseOpenOrRead            // Open fails, or reading the disk does
	refuseWrite                 // Open reads it; OpenFile for writing fails
	refuseWriteMaybeRead        // writing fails; reading may fail with the same error
)

// hostileCases are the committed hostile fixtures of gen.d/qcow2.sh and the
// error each must produce (testdata/images/README.md, "qcow2 fixtures").
var hostileCases = []struct {
	name string // fixture
	rule string // the specification's rule it breaks
	when int
	want error
}{
	{"qcow2-hostile-l1size.qcow2", "l1_size must cover the virtual size and no more than QEMU's 32 MiB L1 limit", refuseAtOpen, qcow2.ErrTooLarge},
	{"qcow2-hostile-l1past.qcow2", "the L1 table lies inside the image file", refuseAtOpen, qcow2.ErrCorrupt},
	{"qcow2-hostile-l2past.qcow2", "an L2 table offset points inside the image file", refuseOpenOrRead, qcow2.ErrCorrupt},
	{"qcow2-hostile-l2hdr.qcow2", "L2 table offsets must be cluster aligned, and never the header cluster", refuseOpenOrRead, qcow2.ErrCorrupt},
	{"qcow2-hostile-datahdr.qcow2", "data cluster offsets must be cluster aligned, and never the header cluster", refuseOpenOrRead, qcow2.ErrCorrupt},
	{"qcow2-hostile-rcoverl1.qcow2", "the refcount table must not overlap the L1 table", refuseAtOpen, qcow2.ErrCorrupt},
	{"qcow2-hostile-clusterbits.qcow2", "cluster_bits is 9 to 21", refuseAtOpen, qcow2.ErrCorrupt},
	{"qcow2-hostile-incompat.qcow2", "an unknown incompatible feature bit forbids opening", refuseAtOpen, qcow2.ErrUnknownFeature},
	{"qcow2-hostile-corruptbit.qcow2", "incompatible bit 1: the image must not be written until repaired", refuseWrite, qcow2.ErrCorruptBit},
	{"qcow2-hostile-encrypted.qcow2", "crypt_method 1 (AES) needs a key", refuseAtOpen, qcow2.ErrEncrypted},
	{"qcow2-hostile-rtpast.qcow2", "the refcount table lies inside the image file", refuseWriteMaybeRead, qcow2.ErrCorrupt},
	{"qcow2-hostile-snappast.qcow2", "the snapshot table lies inside the image file", refuseAtOpen, qcow2.ErrCorrupt},
	{"qcow2-hostile-nbsnap.qcow2", "nb_snapshots entries must fit the file (QEMU: at most 65536)", refuseAtOpen, qcow2.ErrTooLarge},
	{"qcow2-hostile-backingname.qcow2", "the backing file name is at most 1023 bytes, inside the header cluster", refuseAtOpen, qcow2.ErrCorrupt},
	{"qcow2-hostile-hdrlen.qcow2", "header_length must fit the header cluster", refuseAtOpen, qcow2.ErrCorrupt},
	{"qcow2-hostile-comppast.qcow2", "compressed data lies inside the image file", refuseOpenOrRead, qcow2.ErrCorrupt},
	{"qcow2-hostile-dirty.qcow2", "incompatible bit 0: refcounts may be stale until repaired", refuseWrite, qcow2.ErrDirty},
	{"qcow2-hostile-bitmaps.qcow2", "persistent bitmaps (autoclear bit 0) would go stale under writes", refuseWrite, qcow2.ErrBitmaps},
	{"qcow2-hostile-extdata.qcow2", "incompatible bit 2: the data lives in an external file", refuseAtOpen, qcow2.ErrExternalData},
}

// hostileMemLimit bounds what opening and reading one hostile image may
// allocate: the images are 1 MiB disks, and nothing the header claims may
// be allocated unchecked.
const hostileMemLimit = 32 << 20

// guard turns a panic in f into a test failure naming what panicked.
func guard(tb testing.TB, what string, f func()) {
	tb.Helper()
	defer func() {
		if r := recover(); r != nil {
			tb.Fatalf("%s panicked: %v", what, r)
		}
	}()
	f()
}

// allocated runs f and returns the bytes it allocated.
func allocated(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// openAndRead opens the image at path read-only and reads the whole disk,
// returning the first error.
func openAndRead(tb testing.TB, path string) (opened bool, err error) {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	img, err := qcow2.Open(f, st.Size(), qcow2.Options{ReadOnly: true, Name: filepath.Base(path)})
	if err != nil {
		return false, err
	}
	defer img.Close()
	return true, readDisk(img)
}

func readDisk(img *qcow2.Image) error {
	buf := make([]byte, 64<<10)
	for off := int64(0); off < img.Size(); off += int64(len(buf)) {
		n := min(int64(len(buf)), img.Size()-off)
		if _, err := img.ReadAt(buf[:n], off); err != nil {
			return fmt.Errorf("reading %d bytes at %d: %w", n, off, err)
		}
	}
	return nil
}

// openForWrite opens the image at path for writing through storage and
// qcow2.OpenFile and, when that succeeds, reads the disk, writes its last
// 64 KiB (a new cluster, so a new L2 entry and refcount) and closes
// (commits) it; it returns the first error.
func openForWrite(tb testing.TB, path string) (opened bool, err error) {
	tb.Helper()
	f, err := storage.OpenFile(path, storage.OpenOptions{Write: true})
	if err != nil {
		tb.Fatalf("storage.OpenFile: %v", err)
	}
	defer f.Close()
	img, err := qcow2.OpenFile(f, qcow2.Options{Name: filepath.Base(path)})
	if err != nil {
		return false, err
	}
	err = readDisk(img)
	if err == nil {
		buf := make([]byte, 65536)
		for i := range buf {
			buf[i] = 0xa5
		}
		_, err = img.WriteAt(buf, img.Size()-int64(len(buf)))
	}
	if cerr := img.Close(); err == nil {
		err = cerr
	}
	return true, err
}

// TestHostileImagesAreRefused: each hostile fixture gives its documented
// error (errors.Is), without a panic and with bounded allocation, and a
// refused open for writing leaves the file byte-identical.
func TestHostileImagesAreRefused(t *testing.T) {
	for _, tc := range hostileCases {
		t.Run(tc.name+": "+tc.rule, func(t *testing.T) {
			path := fixture.Path(t, tc.name)
			sum := fileSum(t, path)

			var opened bool
			var err error
			n := allocated(func() {
				guard(t, "Open and read", func() { opened, err = openAndRead(t, path) })
			})
			if n > hostileMemLimit {
				t.Errorf("Open and read allocated %d MiB, limit %d MiB", n>>20, hostileMemLimit>>20)
			}
			switch tc.when {
			case refuseAtOpen:
				if opened || !errors.Is(err, tc.want) {
					t.Errorf("Open: opened=%v err=%v; want Open to fail with %v", opened, err, tc.want)
				}
			case refuseOpenOrRead:
				if !errors.Is(err, tc.want) {
					t.Errorf("Open and read: opened=%v err=%v; want %v", opened, err, tc.want)
				}
			case refuseWriteMaybeRead:
				if err != nil && !errors.Is(err, tc.want) {
					t.Errorf("read-only Open and read: %v; want success or %v", err, tc.want)
				}
			case refuseWrite:
				if err != nil {
					t.Errorf("read-only Open and read: %v; want success (only writing is refused)", err)
				}
			}
			var fe *qcow2.FormatError
			if errors.Is(tc.want, qcow2.ErrCorrupt) && err != nil && !errors.As(err, &fe) {
				t.Errorf("error %v carries no *qcow2.FormatError (with the offset of the bad structure)", err)
			}

			n = allocated(func() {
				guard(t, "OpenFile for writing", func() { opened, err = openForWrite(t, path) })
			})
			if n > hostileMemLimit {
				t.Errorf("OpenFile for writing allocated %d MiB, limit %d MiB", n>>20, hostileMemLimit>>20)
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("OpenFile for writing (and read): opened=%v err=%v; want %v", opened, err, tc.want)
			}
			if (tc.when == refuseAtOpen || tc.when == refuseWrite) && opened {
				t.Errorf("OpenFile for writing succeeded; want it refused with %v", tc.want)
			}
			if got := fileSum(t, path); got != sum {
				t.Errorf("the refused image changed: sha256 %s, was %s", got, sum)
			}
		})
	}
}

// TestBackingLoopIsRefused: a -> b -> a. qcow2.Open with a resolver that
// opens whatever is named must end with an error (the resolver's bound or
// the engine's), and pkg/image's resolver must name the loop.
func TestBackingLoopIsRefused(t *testing.T) {
	dir := t.TempDir()
	a := fixture.PathIn(t, "qcow2-hostile-loop-a.qcow2", dir)
	fixture.PathIn(t, "qcow2-hostile-loop-b.qcow2", dir)
	sum := fileSum(t, a)

	f, err := os.Open(a)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	r := newResolver(t, dir, 200)
	guard(t, "qcow2.Open of a loop", func() {
		img, err := qcow2.Open(f, st.Size(), qcow2.Options{ReadOnly: true, Name: filepath.Base(a), Backing: r.open})
		if err == nil {
			img.Close()
			t.Fatal("qcow2.Open of a backing loop succeeded")
		}
		switch {
		case errors.Is(err, qcow2.ErrBackingLoop):
			t.Logf("the engine refused the loop after %d backing files: %.200v", r.opened, err)
		case errors.Is(err, errResolverBound):
			t.Logf("only the test resolver's bound stopped the loop (%d files opened); "+
				"the engine detects depth only after its resolver returns", r.opened)
		default:
			t.Fatalf("qcow2.Open of a loop: %v; want qcow2.ErrBackingLoop or the resolver's bound", err)
		}
	})

	guard(t, "image.Open of a loop", func() {
		h, err := image.Open(a, image.OpenOptions{})
		if err == nil {
			h.Close()
			t.Fatal("image.Open of a backing loop succeeded")
		}
		if !errors.Is(err, image.ErrBackingLoop) {
			t.Errorf("image.Open of a loop: %v; want image.ErrBackingLoop", err)
		}
	})
	if got := fileSum(t, a); got != sum {
		t.Errorf("loop image changed")
	}
}

// TestDeepBackingChainIsRefused: a chain 100 qcow2 images deep (made here
// with qemu-img create -b) is beyond qcow2.MaxBackingDepth and
// image.MaxChainDepth; it is refused with the depth error, without stack
// overflow, while a chain within the bound opens.
func TestDeepBackingChainIsRefused(t *testing.T) {
	oracle.Require(t, "qemu-img")
	dir := t.TempDir()
	const depth = 100
	name := func(i int) string { return fmt.Sprintf("deep-%03d.qcow2", i) }
	// qemu-img makes the base and the first overlay; the other overlays
	// are copies of that one with the (same-length) backing name changed,
	// which saves 99 process starts.
	qemuImgOK(t, "create", "-q", "-f", "qcow2", filepath.Join(dir, name(0)), "1M")
	qemuImgOK(t, "create", "-q", "-f", "qcow2", "-u", "-b", name(0), "-F", "qcow2", filepath.Join(dir, name(1)), "1M")
	overlay, err := os.ReadFile(filepath.Join(dir, name(1)))
	if err != nil {
		t.Fatal(err)
	}
	nameOff := binary.BigEndian.Uint64(overlay[8:])  // backing_file_offset
	nameLen := binary.BigEndian.Uint32(overlay[16:]) // backing_file_size
	if got := string(overlay[nameOff : nameOff+uint64(nameLen)]); got != name(0) {
		t.Fatalf("qemu-img wrote backing name %q, want %q", got, name(0))
	}
	for i := 2; i <= depth; i++ {
		copy(overlay[nameOff:], name(i-1))
		if err := os.WriteFile(filepath.Join(dir, name(i)), overlay, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	open := func(i int) (int, error) {
		p := filepath.Join(dir, name(i))
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		st, _ := f.Stat()
		r := newResolver(t, dir, 10*depth)
		img, err := qcow2.Open(f, st.Size(), qcow2.Options{ReadOnly: true, Name: name(i), Backing: r.open})
		if err == nil {
			err = readDisk(img)
			img.Close()
		}
		return r.opened, err
	}
	guard(t, "qcow2.Open of a 100-deep chain", func() {
		opened, err := open(depth)
		if !errors.Is(err, qcow2.ErrBackingLoop) {
			t.Errorf("qcow2.Open of a %d-deep chain (%d files opened): %v; want qcow2.ErrBackingLoop", depth, opened, err)
		}
		within := min(qcow2.MaxBackingDepth, image.MaxChainDepth) - 1
		if _, err := open(within); err != nil {
			t.Errorf("qcow2.Open of a %d-deep chain, within the bound: %v", within, err)
		}
	})
	guard(t, "image.Open of a 100-deep chain", func() {
		h, err := image.Open(filepath.Join(dir, name(depth)), image.OpenOptions{})
		if err == nil {
			h.Close()
			t.Fatal("image.Open of a 100-deep chain succeeded")
		}
		if !errors.Is(err, image.ErrBackingTooDeep) {
			t.Errorf("image.Open of a 100-deep chain: %v; want image.ErrBackingTooDeep", err)
		}
	})
}

func qemuImgOK(tb testing.TB, args ...string) {
	tb.Helper()
	out, errOut, code := oracle.Run(tb, "qemu-img", args...)
	if code != 0 {
		tb.Fatalf("qemu-img %v: exit %d\n%s%s", args, code, out, errOut)
	}
}

// TestCorruptReferencesDoNotSpreadOnWrite: qcow2.rst, "a cluster is free
// when its refcount is 0" and every cluster has one owner. Images whose
// refcounts or tables break that (a referenced data cluster with refcount
// 0; a data cluster that is the L1 table; an L2 table that is the refcount
// table) are written twice (three new or rewritten guest clusters each
// round, closed and reopened between): each round must either be refused
// with ErrCorrupt, leaving the file byte-identical, or leave the whole
// disk reading as before with exactly the written ranges changed, so that
// no freed or reused cluster destroyed data or metadata.
func TestCorruptReferencesDoNotSpreadOnWrite(t *testing.T) {
	for _, tc := range []struct{ name, rule string }{
		{"qcow2-hostile-datarc0.qcow2", "a referenced data cluster with refcount 0 is not handed out again"},
		{"qcow2-hostile-dataonl1.qcow2", "a data cluster that is the L1 table is not freed or overwritten"},
		{"qcow2-hostile-l2onrt.qcow2", "an L2 table that is the refcount table is not freed or overwritten"},
	} {
		t.Run(tc.name+": "+tc.rule, func(t *testing.T) {
			path := fixture.Path(t, tc.name)
			model, err := readWhole(path)
			if err != nil {
				t.Logf("the image does not read (%v); writes must be refused", err)
			}
			for round, offs := range [][]int64{{0, 256 << 10, 768 << 10}, {64 << 10, 320 << 10, 960 << 10}} {
				sum := fileSum(t, path)
				werr := writeRound(t, path, offs, byte(0xc0+round))
				if werr != nil {
					if !errors.Is(werr, qcow2.ErrCorrupt) {
						t.Errorf("round %d refused with %v; want qcow2.ErrCorrupt", round, werr)
					}
					if got := fileSum(t, path); got != sum {
						t.Errorf("round %d was refused (%v) but changed the image", round, werr)
					}
					return
				}
				if model == nil {
					t.Fatalf("round %d: writes accepted on an image that does not read", round)
				}
				for _, off := range offs {
					for i := off; i < off+65536; i++ {
						model[i] = byte(0xc0 + round)
					}
				}
				got, err := readWhole(path)
				if err != nil {
					t.Fatalf("after round %d the image no longer reads: %v", round, err)
				}
				if i := firstDiff(got, model); i < len(model) {
					t.Fatalf("after round %d guest byte %d (cluster %d) is %#x, want %#x: "+
						"a write reused or freed a cluster still in use", round, i, i/65536, got[i], model[i])
				}
			}
		})
	}
}

// readWhole opens the image read-only and reads its whole disk.
func readWhole(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	img, err := qcow2.Open(f, st.Size(), qcow2.Options{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer img.Close()
	out := make([]byte, img.Size())
	if _, err := img.ReadAt(out, 0); err != nil {
		return nil, err
	}
	return out, nil
}

// writeRound opens the image for writing, fills the 64 KiB guest clusters
// at offs with fill and closes it; it returns the first error.
func writeRound(tb testing.TB, path string, offs []int64, fill byte) (err error) {
	tb.Helper()
	guard(tb, "a write round", func() {
		f, ferr := storage.OpenFile(path, storage.OpenOptions{Write: true})
		if ferr != nil {
			tb.Fatal(ferr)
		}
		defer f.Close()
		img, oerr := qcow2.OpenFile(f, qcow2.Options{Name: filepath.Base(path)})
		if oerr != nil {
			err = oerr
			return
		}
		data := make([]byte, 65536)
		for i := range data {
			data[i] = fill
		}
		for _, off := range offs {
			if _, werr := img.WriteAt(data, off); werr != nil {
				err = werr
				break
			}
		}
		if cerr := img.Close(); err == nil {
			err = cerr
		}
	})
	return err
}

// TestTruncatedImageIsNotReadAsZeros: a copy cut short (an interrupted
// download) has data clusters past its end. Reading them must fail with an
// error naming the image as corrupt, never return zeros in place of the
// guest's data; opening it for writing must not write. A cut inside the
// last cluster is what QEMU reads as zeros (file-posix pads reads past the
// end), and so does qcow2 here; that case is only logged.
func TestTruncatedImageIsNotReadAsZeros(t *testing.T) {
	full := fixture.Path(t, "qcow2-v3.qcow2")
	b, err := os.ReadFile(full)
	if err != nil {
		t.Fatal(err)
	}
	// Half the file; the whole last cluster; part of the last cluster,
	// losing the pattern's non-zero bytes in the last 4 KiB of the disk.
	for _, cut := range []int{len(b) / 2, len(b) - 65536, len(b) - 2048} {
		partial := cut%65536 != 0
		t.Run(fmt.Sprintf("cut at %d of %d bytes", cut, len(b)), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "cut.qcow2")
			if err := os.WriteFile(path, b[:cut], 0o644); err != nil {
				t.Fatal(err)
			}
			sum := fileSum(t, path)
			var opened bool
			var rerr error
			guard(t, "reading a truncated image", func() { opened, rerr = openAndRead(t, path) })
			if rerr == nil && partial {
				t.Logf("a data cluster cut short reads without error, its missing tail as zeros (as QEMU reads it)")
				return
			}
			if rerr == nil {
				t.Fatal("the truncated image read without error: its lost clusters read as something")
			}
			if !errors.Is(rerr, qcow2.ErrCorrupt) {
				t.Errorf("opened=%v, error %v; want qcow2.ErrCorrupt", opened, rerr)
			}
			var werr error
			guard(t, "writing a truncated image", func() { _, werr = openForWrite(t, path) })
			if werr == nil {
				t.Error("a truncated image was written")
			}
			if got := fileSum(t, path); got != sum {
				t.Error("the truncated image changed")
			}
		})
	}
}
