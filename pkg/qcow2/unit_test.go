package qcow2

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/qcow2/internal/memfile"
)

// TestStructSizesMatchTheSpec: the on-disk structs have the sizes the
// specification gives.
func TestStructSizesMatchTheSpec(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    any
		want int
	}{
		{"header is 112 bytes with compression_type and padding", diskHeader{}, headerV3Size},
		{"header extension head is 8 bytes (type, length)", headerExtension{}, extHeaderSize},
		{"bitmaps extension data is 24 bytes", bitmapsExtension{}, 24},
		{"full disk encryption extension data is 16 bytes", encryptionExtension{}, 16},
		{"snapshot table entry fixed part is 40 bytes", snapshotHeader{}, 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := binary.Size(tc.v); got != tc.want {
				t.Fatalf("binary.Size = %d, want %d", got, tc.want)
			}
		})
	}
}

// memImage creates an image in memory.
func memImage(tb testing.TB, opts CreateOptions) (*memfile.File, *Image) {
	tb.Helper()
	f := memfile.New(nil)
	img, err := Create(f, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return f, img
}

// TestWriteBoundsAndModes: writes past the virtual size, to read-only or
// closed images fail and change nothing.
func TestWriteBoundsAndModes(t *testing.T) {
	f, img := memImage(t, CreateOptions{Size: 1 << 20})
	before := f.Bytes()
	for _, tc := range []struct {
		name string
		off  int64
		n    int
	}{
		{"write past the virtual size", 1 << 20, 1},
		{"write straddling the virtual size", 1<<20 - 512, 1024},
		{"negative offset", -1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := img.WriteAt(make([]byte, tc.n), tc.off); !errors.Is(err, ErrOutOfRange) {
				t.Fatalf("WriteAt: %v, want ErrOutOfRange", err)
			}
			if !bytes.Equal(f.Bytes(), before) {
				t.Fatal("the image changed")
			}
		})
	}
	ro, err := OpenFile(memfile.New(before), Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ro.WriteAt([]byte{1}, 0); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("read-only WriteAt: %v", err)
	}
	o, err := Open(bytes.NewReader(before), int64(len(before)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.WriteAt([]byte{1}, 0); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("Open WriteAt: %v", err)
	}
	img.Close()
	if _, err := img.WriteAt([]byte{1}, 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("closed WriteAt: %v", err)
	}
	if _, err := img.ReadAt(make([]byte, 1), 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("closed ReadAt: %v", err)
	}
}

// setHeader returns a copy of an image with a header field changed.
func setHeader(img []byte, off int, v uint64, width int) []byte {
	out := append([]byte(nil), img...)
	switch width {
	case 4:
		be.PutUint32(out[off:], uint32(v))
	case 8:
		be.PutUint64(out[off:], v)
	case 1:
		out[off] = byte(v)
	}
	return out
}

// TestOpenForWriteRefuses: a writable open of an image this package cannot
// keep consistent fails with the feature named and writes nothing; a
// read-only open of the same image works where reading is safe.
func TestOpenForWriteRefuses(t *testing.T) {
	f, img := memImage(t, CreateOptions{Size: 1 << 20})
	img.WriteAt(bytes.Repeat([]byte{7}, 4096), 0)
	img.Close()
	good := f.Bytes()
	withExt := func(typ uint32, data []byte) []byte {
		out := append([]byte(nil), good...)
		// Replace the feature table (right after the 112-byte header).
		be.PutUint32(out[112:], typ)
		be.PutUint32(out[116:], uint32(len(data)))
		copy(out[120:], data)
		be.PutUint64(out[120+(len(data)+7)&^7:], 0)
		return out
	}
	for _, tc := range []struct {
		name     string
		image    []byte
		want     error
		readable bool
	}{
		{"corrupt bit (incompatible bit 1)", setHeader(good, 72, incompatCorrupt, 8), ErrCorruptBit, true},
		{"dirty bit (incompatible bit 0)", setHeader(good, 72, incompatDirty, 8), ErrDirty, true},
		{"unknown incompatible bit 9", setHeader(good, 72, 1<<9, 8), ErrUnknownFeature, false},
		{"external data file (incompatible bit 2)", setHeader(good, 72, incompatDataFile, 8), ErrExternalData, false},
		{"persistent bitmaps (autoclear bit 0)", setHeader(good, 88, autoclearBitmaps, 8), ErrBitmaps, true},
		{"bitmaps extension 0x23852875", withExt(extBitmaps, make([]byte, 24)), ErrBitmaps, true},
		{"full disk encryption extension 0x0537be77", withExt(extEncryption, make([]byte, 16)), ErrEncrypted, false},
		{"crypt_method 1 (AES)", setHeader(good, 32, 1, 4), ErrEncrypted, false},
		{"version 4", setHeader(good, 4, 4, 4), ErrCorrupt, false},
		{"cluster_bits 22", setHeader(good, 20, 22, 4), ErrCorrupt, false},
		{"refcount_order 7", setHeader(good, 96, 7, 4), ErrCorrupt, false},
		{"compression_type 2", setHeader(setHeader(good, 72, incompatCompression, 8), 104, 2, 1), ErrCorrupt, false},
		{"l1_size huge", setHeader(good, 36, 1<<30, 4), ErrTooLarge, false},
		{"l1_size smaller than the virtual size needs", setHeader(good, 24, 1<<40, 8), ErrCorrupt, false},
		{"L1 table offset past the end of the file", setHeader(good, 40, 1<<40, 8), ErrCorrupt, false},
		{"L1 table in the header cluster", setHeader(good, 40, 0, 8), ErrCorrupt, false},
		{"refcount table overlapping the L1 table", setHeader(good, 48, be.Uint64(good[40:]), 8), ErrCorrupt, false},
		{"not qcow2", setHeader(good, 0, 0x12345678, 4), ErrNotQcow2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mf := memfile.New(tc.image)
			_, err := OpenFile(mf, Options{Name: "x.qcow2"})
			if !errors.Is(err, tc.want) {
				t.Fatalf("OpenFile for writing: %v, want %v", err, tc.want)
			}
			if !bytes.Contains([]byte(err.Error()), []byte("x.qcow2")) {
				t.Fatalf("error %q does not name the image", err)
			}
			if !bytes.Equal(mf.Bytes(), tc.image) || mf.Writes != 0 {
				t.Fatal("the image was written")
			}
			ro, err := OpenFile(mf, Options{ReadOnly: true})
			if tc.readable != (err == nil) {
				t.Fatalf("read-only open: %v, readable=%v", err, tc.readable)
			}
			if err == nil {
				buf := make([]byte, 4096)
				if _, err := ro.ReadAt(buf, 0); err != nil || buf[0] != 7 {
					t.Fatalf("read-only ReadAt: %v %x", err, buf[:4])
				}
			}
		})
	}
}

// TestUnknownAutoclearBitsAreClearedOnWriteOpen: the spec asks a writer to
// clear autoclear bits it does not know; a reader leaves them.
func TestUnknownAutoclearBitsAreClearedOnWriteOpen(t *testing.T) {
	f, img := memImage(t, CreateOptions{Size: 1 << 20})
	img.Close()
	data := setHeader(f.Bytes(), 88, 1<<5|autoclearRawDataFile, 8)
	ro := memfile.New(data)
	if _, err := OpenFile(ro, Options{ReadOnly: true}); err != nil {
		t.Fatal(err)
	}
	if got := be.Uint64(ro.Bytes()[88:]); got != 1<<5|autoclearRawDataFile {
		t.Fatalf("read-only open changed autoclear to %#x", got)
	}
	rw := memfile.New(data)
	if _, err := OpenFile(rw, Options{}); err != nil {
		t.Fatal(err)
	}
	if got := be.Uint64(rw.Bytes()[88:]); got != autoclearRawDataFile {
		t.Fatalf("autoclear after writable open = %#x, want %#x", got, autoclearRawDataFile)
	}
}

type zeroBacking struct{ size int64 }

func (z zeroBacking) ReadAt(p []byte, off int64) (int, error) { clear(p); return len(p), nil }
func (z zeroBacking) Size() int64                             { return z.size }
func (z zeroBacking) Close() error                            { return nil }

// TestBackingErrors: a backing file without a resolver gives ErrNoBacking,
// a failing resolver's error is wrapped, an image naming itself gives
// ErrBackingLoop.
func TestBackingErrors(t *testing.T) {
	zero := func(string, string) (Backing, error) { return zeroBacking{1 << 20}, nil }
	f, img := memImage(t, CreateOptions{Size: 1 << 20, BackingFile: "self.qcow2", BackingFormat: "qcow2", Backing: zero})
	img.Close()
	data := f.Bytes()
	for _, tc := range []struct {
		name string
		opts Options
		want error
	}{
		{"no resolver", Options{Name: "top.qcow2"}, ErrNoBacking},
		{"resolver fails", Options{Name: "top.qcow2", Backing: func(string, string) (Backing, error) { return nil, os.ErrNotExist }}, os.ErrNotExist},
		{"backing file names the image itself", Options{Name: "self.qcow2", Backing: zero}, ErrBackingLoop},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(bytes.NewReader(data), int64(len(data)), tc.opts)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open: %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := Create(memfile.New(nil), CreateOptions{Size: 1 << 20, BackingFile: "b"}); !errors.Is(err, ErrNoBacking) {
		t.Fatalf("Create with a backing file and no resolver: %v", err)
	}
}

// TestRandomWritesMatchRawMirror: a random sequence of writes and flushes
// reads back exactly like the same writes on a byte slice; then qemu-img
// check and qemu-img compare agree.
func TestRandomWritesMatchRawMirror(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts CreateOptions
	}{
		{"64 KiB clusters", CreateOptions{Size: 3<<20 + 512}},
		{"512-byte clusters", CreateOptions{Size: 1 << 20, ClusterSize: 512}},
		{"version 2, 4 KiB clusters", CreateOptions{Size: 2 << 20, ClusterSize: 4096, Version: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, img := memImage(t, tc.opts)
			size := tc.opts.Size
			mirror := make([]byte, size)
			rng := rand.New(rand.NewPCG(42, uint64(size)))
			for step := 0; step < 300; step++ {
				switch rng.IntN(10) {
				case 0:
					if err := img.Flush(); err != nil {
						t.Fatal(err)
					}
				case 1, 2:
					n := rng.Int64N(100 << 10)
					off := rng.Int64N(size - n + 1)
					got := make([]byte, n)
					if _, err := img.ReadAt(got, off); err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, mirror[off:off+n]) {
						t.Fatalf("step %d: read %d+%d differs at %d", step, off, n, firstDiff(got, mirror[off:off+n]))
					}
				default:
					n := 1 + rng.Int64N(150<<10)
					off := rng.Int64N(size - n + 1)
					buf := make([]byte, n)
					for i := range buf {
						buf[i] = byte(step) | 1
					}
					if _, err := img.WriteAt(buf, off); err != nil {
						t.Fatal(err)
					}
					copy(mirror[off:], buf)
				}
			}
			if err := img.Close(); err != nil {
				t.Fatal(err)
			}
			re, err := OpenFile(f, Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			if got := readAll(t, re); !bytes.Equal(got, mirror) {
				t.Fatalf("reopened image differs at %d", firstDiff(got, mirror))
			}
			oracle.Require(t, "qemu-img")
			dir := t.TempDir()
			p, m := filepath.Join(dir, "img.qcow2"), filepath.Join(dir, "mirror.raw")
			os.WriteFile(p, f.Bytes(), 0o644)
			os.WriteFile(m, mirror, 0o644)
			oracle.QemuImgCheck(t, p, false)
			oracle.QemuImgCompare(t, p, m)
		})
	}
}

// TestRefcountTableGrows: enough new refcount blocks to overflow the
// refcount table make Flush move to a bigger table, and the old one is
// freed (qemu-img check finds no leak).
func TestRefcountTableGrows(t *testing.T) {
	f, img := memImage(t, CreateOptions{Size: 16 << 20, ClusterSize: 512})
	oldTable := img.h.RefcountTableOffset
	// One table cluster holds 64 blocks of 256 clusters: 8 MiB of file.
	chunk := bytes.Repeat([]byte{0xab}, 1<<20)
	for off := int64(0); off < 12<<20; off += int64(len(chunk)) {
		if _, err := img.WriteAt(chunk, off); err != nil {
			t.Fatal(err)
		}
	}
	if err := img.Close(); err != nil {
		t.Fatal(err)
	}
	data := f.Bytes()
	if got := be.Uint64(data[48:]); got == oldTable {
		t.Fatalf("refcount table did not move (still at %#x)", got)
	}
	oracle.Require(t, "qemu-img")
	p := filepath.Join(t.TempDir(), "grown.qcow2")
	os.WriteFile(p, data, 0o644)
	oracle.QemuImgCheck(t, p, false)
	re := openImage(t, p)
	got := make([]byte, 12<<20)
	re.ReadAt(got, 0)
	if !bytes.Equal(got, bytes.Repeat(chunk, 12)) {
		t.Fatal("data differs after the refcount table grew")
	}
}

// TestCommitIsOneHeaderSwitch: until the 12-byte L1 switch the file reads
// as before; the file cut after every write of a Flush is the old or the
// new image, and never worse than leaked clusters.
func TestCommitIsOneHeaderSwitch(t *testing.T) {
	f, img := memImage(t, CreateOptions{Size: 1 << 20, ClusterSize: 4096})
	img.WriteAt(bytes.Repeat([]byte{1}, 300<<10), 0)
	img.Close()
	base := f.Bytes()
	old := readAllBytes(t, base)
	rec := &recordingFile{File: memfile.New(base)}
	w, err := OpenFile(rec, Options{})
	if err != nil {
		t.Fatal(err)
	}
	w.WriteAt(bytes.Repeat([]byte{2}, 200<<10), 100<<10)
	w.WriteAt(bytes.Repeat([]byte{3}, 5000), 900<<10)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	newData := readAllBytes(t, rec.Bytes())
	oracle.Require(t, "qemu-img")
	dir := t.TempDir()
	for k := 0; k <= len(rec.ops); k++ {
		img := replay(base, rec.ops[:k])
		got := readAllBytes(t, img)
		if !bytes.Equal(got, old) && !bytes.Equal(got, newData) {
			t.Fatalf("after %d of %d writes the image is neither old nor new", k, len(rec.ops))
		}
		p := filepath.Join(dir, "prefix.qcow2")
		os.WriteFile(p, img, 0o644)
		oracle.QemuImgCheck(t, p, true)
	}
}

type writeOp struct {
	off  int64
	data []byte
}

type recordingFile struct {
	*memfile.File
	ops []writeOp
}

func (r *recordingFile) WriteAt(p []byte, off int64) (int, error) {
	r.ops = append(r.ops, writeOp{off, append([]byte(nil), p...)})
	return r.File.WriteAt(p, off)
}

func replay(base []byte, ops []writeOp) []byte {
	f := memfile.New(base)
	for _, op := range ops {
		f.WriteAt(op.data, op.off)
	}
	return f.Bytes()
}

func readAllBytes(t *testing.T, data []byte) []byte {
	t.Helper()
	img, err := Open(bytes.NewReader(data), int64(len(data)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	return readAll(t, img)
}

// TestRefcountZeroOnMetadataRefusesWrite: refcounts that call a metadata
// cluster free (here the L1 table's) make the write fail with ErrCorrupt
// instead of allocating over the metadata; the image stays byte-identical.
func TestRefcountZeroOnMetadataRefusesWrite(t *testing.T) {
	f, img := memImage(t, CreateOptions{Size: 1 << 20, ClusterSize: 512})
	img.Close()
	data := f.Bytes()
	// Clear the refcounts of every cluster but the header.
	block := int64(be.Uint64(data[be.Uint64(data[48:]):]))
	for i := int64(1); i < 256; i++ {
		be.PutUint16(data[block+2*i:], 0)
	}
	mf := memfile.New(data)
	w, err := OpenFile(mf, Options{Name: "bad.qcow2"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteAt([]byte{1}, 0); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("WriteAt: %v, want ErrCorrupt", err)
	}
	var fe *FormatError
	if _, err := w.WriteAt([]byte{1}, 0); !errors.As(err, &fe) || fe.Offset == 0 {
		t.Fatalf("error carries no offset: %v", err)
	}
	w.Close()
	if !bytes.Equal(mf.Bytes(), data) {
		t.Fatal("the image changed")
	}
}

// TestInfoNamesFeaturesAndSnapshots: Info reports version, sizes, named
// feature bits and the snapshot count; Snapshots lists them.
func TestInfoNamesFeaturesAndSnapshots(t *testing.T) {
	oracle.Require(t, "qemu-img")
	dir := t.TempDir()
	p := filepath.Join(dir, "i.qcow2")
	qemuImg(t, "create", "-q", "-f", "qcow2", "-o", "lazy_refcounts=on,extended_l2=on,compression_type=zstd", p, "10M")
	qemuImg(t, "snapshot", "-c", "first", p)
	qemuImg(t, "snapshot", "-c", "second", p)
	img := openImage(t, p)
	info := img.Info()
	want := Info{Version: 3, ClusterSize: 65536, VirtualSize: 10 << 20, CompressionType: "zstd", RefcountBits: 16,
		Snapshots: 2, ExtendedL2: true, LazyRefcounts: true, HeaderLength: 112, L1Size: 1}
	got := info
	got.IncompatibleFeatures, got.CompatibleFeatures, got.AutoclearFeatures, got.UnknownExtensions = nil, nil, nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Info = %+v\nwant %+v", got, want)
	}
	if !reflect.DeepEqual(info.IncompatibleFeatures, []string{"compression type (bit 3)", "extended L2 entries (bit 4)"}) ||
		!reflect.DeepEqual(info.CompatibleFeatures, []string{"lazy refcounts (bit 0)"}) {
		t.Fatalf("features %q %q", info.IncompatibleFeatures, info.CompatibleFeatures)
	}
	snaps := img.Snapshots()
	if len(snaps) != 2 || snaps[0].Name != "first" || snaps[1].Name != "second" || snaps[0].L1Size != 1 {
		t.Fatalf("Snapshots = %+v", snaps)
	}
}
