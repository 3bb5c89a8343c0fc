package vfat

import (
	"encoding/binary"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/oracle"
)

// rawFAT is the first FAT of an image file, decoded by the test itself
// from the bytes on disk (not through the engine's FAT reader or its
// cache): entry[c] for every cluster number c below clusterCount+2.
type rawFAT struct {
	entry  []uint32
	copies [][]byte // every FAT copy, byte for byte
}

func readRawFAT(tb testing.TB, img string) rawFAT {
	tb.Helper()
	b, err := os.ReadFile(img)
	if err != nil {
		tb.Fatal(err)
	}
	f, err := Open(readerAt(b), int64(len(b)))
	if err != nil {
		tb.Fatal(err)
	}
	var r rawFAT
	for i := 0; i < f.numFATs; i++ {
		off := f.fatOffset + int64(i)*f.fatBytes
		r.copies = append(r.copies, b[off:off+f.fatBytes])
	}
	fat := r.copies[0]
	for c := uint32(0); c < f.clusterCount+2; c++ {
		var v uint32
		switch f.fatType {
		case 12:
			w := uint32(binary.LittleEndian.Uint16(fat[c+c/2:]))
			if c%2 == 1 {
				v = w >> 4
			} else {
				v = w & 0xFFF
			}
		case 16:
			v = uint32(binary.LittleEndian.Uint16(fat[2*c:]))
		default:
			v = binary.LittleEndian.Uint32(fat[4*c:]) & 0x0FFFFFFF
		}
		r.entry = append(r.entry, v)
	}
	return r
}

type readerAt []byte

func (b readerAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off > int64(len(b)) {
		return 0, os.ErrInvalid
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, os.ErrInvalid
	}
	return n, nil
}

// free counts the free data clusters (entry 0).
func (r rawFAT) free() int {
	n := 0
	for _, v := range r.entry[2:] {
		if v == 0 {
			n++
		}
	}
	return n
}

// chain follows the entries from first to the end-of-chain mark.
func (r rawFAT) chain(tb testing.TB, first uint32, fatType int) []uint32 {
	tb.Helper()
	eoc := map[int]uint32{12: 0xFF8, 16: 0xFFF8, 32: 0x0FFFFFF8}[fatType]
	var cl []uint32
	for c := first; ; c = r.entry[c] {
		if c < 2 || int(c) >= len(r.entry) || len(cl) > len(r.entry) {
			tb.Fatalf("chain from %d leaves the FAT at %d", first, c)
		}
		cl = append(cl, c)
		if r.entry[c] >= eoc {
			return cl
		}
	}
}

var mdirFree = regexp.MustCompile(`([\d ]+) bytes free`)

// mdirFreeBytes is the free space mtools counts.
func mdirFreeBytes(tb testing.TB, img string) int64 {
	tb.Helper()
	out, errOut, code := oracle.Run(tb, "mdir", "-i", img, "::/")
	m := mdirFree.FindStringSubmatch(out)
	if code != 0 || m == nil {
		tb.Fatalf("mdir -i %s: exit %d, no free space line:\n%s%s", img, code, out, errOut)
	}
	n, err := strconv.ParseInt(strings.ReplaceAll(strings.TrimSpace(m[1]), " ", ""), 10, 64)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// TestRemoveFreesEveryClusterOfTheChain is a direct check of freeing, on
// every FAT width: the removed file's chain, read from the FAT bytes on
// disk before the change, has every entry zero afterwards, in every FAT
// copy, to the last cluster; no other entry changes; the free count grows
// by the chain's length, which is the file's size in clusters; and
// mtools counts the same free space.
func TestRemoveFreesEveryClusterOfTheChain(t *testing.T) {
	tests := []struct {
		name string
		path string
		size int // the file's size (testdata/images/gen.d/guest.sh)
		do   func(f *FS, p string) error
	}{
		{"Remove of a multi-cluster file", "/EFI/BOOT/BOOTX64.EFI", len(seq(1000)), func(f *FS, p string) error { return f.Remove(p) }},
		{"Remove of a fragmented file", "/frag.bin", len(seq(700)), func(f *FS, p string) error { return f.Remove(p) }},
		{"RemoveAll of a file", "/frag.bin", len(seq(700)), func(f *FS, p string) error { return f.RemoveAll(p) }},
		{"Truncate to zero", "/frag.bin", len(seq(700)), func(f *FS, p string) error { return f.Truncate(p, 0) }},
	}
	for _, im := range fatImages {
		for _, tt := range tests {
			t.Run(im.name+"/"+tt.name, func(t *testing.T) {
				f, img, _ := openFileRW(t, im.name)
				n, err := f.lookup("test", tt.path)
				if err != nil {
					t.Fatal(err)
				}
				before := readRawFAT(t, img)
				chain := before.chain(t, n.cluster, im.fatType)
				if want := (int64(tt.size) + f.clusterSize - 1) / f.clusterSize; int64(len(chain)) != want || want < 2 {
					t.Fatalf("%s has a chain of %d clusters, its size says %d (at least 2 wanted)", tt.path, len(chain), want)
				}
				freeBytes := mdirFreeBytes(t, img)
				if freeBytes != int64(before.free())*f.clusterSize {
					t.Fatalf("before: mtools counts %d bytes free, the FAT %d clusters of %d", freeBytes, before.free(), f.clusterSize)
				}
				if err := tt.do(f, tt.path); err != nil {
					t.Fatal(err)
				}
				after := readRawFAT(t, img)
				inChain := map[uint32]bool{}
				for i, c := range chain {
					inChain[c] = true
					if after.entry[c] != 0 {
						t.Errorf("cluster %d (%d of %d in the chain) still has entry %#x", c, i+1, len(chain), after.entry[c])
					}
				}
				for c := range after.entry {
					if !inChain[uint32(c)] && after.entry[c] != before.entry[c] {
						t.Errorf("cluster %d outside the chain changed from %#x to %#x", c, before.entry[c], after.entry[c])
					}
				}
				for i := 1; i < len(after.copies); i++ {
					if string(after.copies[i]) != string(after.copies[0]) {
						t.Errorf("FAT copy %d differs from the first", i+1)
					}
				}
				if got, want := after.free(), before.free()+len(chain); got != want {
					t.Errorf("%d clusters free, want %d (%d before, %d freed)", got, want, before.free(), len(chain))
				}
				if got, want := mdirFreeBytes(t, img), freeBytes+int64(len(chain))*f.clusterSize; got != want {
					t.Errorf("mtools counts %d bytes free, want %d", got, want)
				}
			})
		}
	}
}
