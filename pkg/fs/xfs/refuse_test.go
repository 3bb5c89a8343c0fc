package xfs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/pkg/fs"
)

// sbPatched returns the fuzz base image's superblock sector changed by
// edit, with its CRC fixed.
func sbPatched(fb *fuzzBase, edit func(b []byte)) []byte {
	b := append([]byte{}, fb.img[:fb.sect]...)
	edit(b)
	binary.LittleEndian.PutUint32(b[sbCRCOff:], cksum(b, sbCRCOff))
	return b
}

func openOverlay(fb *fuzzBase, patches ...patch) (*FS, error) {
	return Open(&overlay{base: fb.img, patches: patches}, int64(len(fb.img)), Options{Name: "xfs on partition 2"})
}

// TestRefusals: what is not read is refused by name, and what is read
// but not written says why in one line.
func TestRefusals(t *testing.T) {
	fb := loadFuzzBase(t)
	if err := fb.f.Refusal(); !errors.Is(err, fs.ErrReadOnly) || !strings.HasSuffix(err.Error(), ": imgprep cannot write xfs yet") {
		t.Errorf("clean filesystem: %v", err)
	}
	for _, c := range []struct {
		name    string
		edit    func(b []byte)
		openErr error
		want    string // in the Open error, or else in the refusal
	}{
		{"V4", func(b []byte) { binary.BigEndian.PutUint16(b[100:], 0xb4a4) }, ErrUnsupported, "a V4 filesystem"},
		{"unknown incompat", func(b []byte) { binary.BigEndian.PutUint32(b[216:], binary.BigEndian.Uint32(b[216:])|1<<20) }, ErrUnsupported, "incompatible feature unknown incompat feature 0x100000"},
		{"metadir", func(b []byte) { binary.BigEndian.PutUint32(b[216:], binary.BigEndian.Uint32(b[216:])|incompatMetadir) }, ErrUnsupported, "incompatible feature metadir"},
		{"unknown ro_compat", func(b []byte) { binary.BigEndian.PutUint32(b[212:], binary.BigEndian.Uint32(b[212:])|1<<9) }, nil, "xfs on partition 2: imgprep cannot write xfs with unknown ro_compat feature 0x200"},
		{"nrext64", func(b []byte) { binary.BigEndian.PutUint32(b[216:], binary.BigEndian.Uint32(b[216:])|incompatNrext64) }, nil, "imgprep cannot write xfs with nrext64"},
		{"log_incompat", func(b []byte) { binary.BigEndian.PutUint32(b[220:], 1) }, nil, "imgprep cannot write xfs with log_incompat xattrs"},
		{"unknown log_incompat", func(b []byte) { binary.BigEndian.PutUint32(b[220:], 4) }, nil, "unknown log_incompat feature 0x4"},
		{"real-time device", func(b []byte) { binary.BigEndian.PutUint64(b[16:], 100) }, nil, "imgprep cannot write xfs with real-time device"},
		{"bad magic", func(b []byte) { b[0] = 'Y' }, ErrNotXFS, "not an xfs filesystem"},
		{"blocks past the device", func(b []byte) { binary.BigEndian.PutUint64(b[8:], 1<<40) }, ErrCorrupt, "superblock"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, err := openOverlay(fb, patch{0, sbPatched(fb, c.edit)})
			if c.openErr != nil {
				if !errors.Is(err, c.openErr) || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("Open: %v, want %v saying %q", err, c.openErr, c.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			r := f.Refusal()
			if !errors.Is(r, fs.ErrReadOnly) || !strings.Contains(r.Error(), c.want) {
				t.Fatalf("Refusal %v, want %q", r, c.want)
			}
			if err := f.Remove("/one"); !errors.Is(err, fs.ErrReadOnly) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Remove: %v", err)
			}
			if _, err := f.ReadFile("/etc/hostname"); err != nil {
				t.Fatalf("read: %v", err)
			}
		})
	}
	// A superblock CRC mismatch is a typed checksum error.
	b := sbPatched(fb, func([]byte) {})
	b[150] ^= 1
	_, err := openOverlay(fb, patch{0, b})
	var ce *CorruptError
	if !errors.As(err, &ce) || !ce.Checksum || !errors.Is(err, ErrChecksum) {
		t.Fatalf("flipped superblock bit: %v", err)
	}
}

// TestRealtimeFileRefused: a file flagged real-time is refused by name
// (its data is on a device imgprep does not read).
func TestRealtimeFileRefused(t *testing.T) {
	fb := loadFuzzBase(t)
	ino := fb.inos["/big"]
	off, _ := fb.f.inodeOffset(ino)
	in := append([]byte{}, fb.img[off:off+int64(fb.f.g.inodeSize)]...)
	binary.BigEndian.PutUint16(in[90:], binary.BigEndian.Uint16(in[90:])|diflagRealtime)
	binary.LittleEndian.PutUint32(in[dinodeCRCOff:], cksum(in, dinodeCRCOff))
	f, err := openOverlay(fb, patch{off, in})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.ReadFile("/big"); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "real-time file") {
		t.Fatalf("ReadFile of a real-time file: %v", err)
	}
	// The inode with its CRC left stale is a checksum error naming
	// where it is.
	binary.LittleEndian.PutUint32(in[dinodeCRCOff:], 0)
	f, _ = openOverlay(fb, patch{off, in})
	_, err = f.Stat("/big")
	var ce *CorruptError
	if !errors.As(err, &ce) || !ce.Checksum || ce.Offset != off || ce.Structure != fmt.Sprintf("inode %d", ino) {
		t.Fatalf("stale inode CRC: %v", err)
	}
}
