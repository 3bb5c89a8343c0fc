package vfat

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path"
	"sort"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/partition"
)

func TestStructSizesMatchFatgen103(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want int
	}{
		{"boot sector and BPB through BPB_TotSec32", BootSector{}, 36},
		{"FAT32 BPB from BPB_FATSz32 through BPB_Reserved", BPB32{}, 28},
		{"extended BPB from BS_DrvNum through BS_FilSysType", ExtBPB{}, 26},
		{"directory entry", DirEntry{}, 32},
		{"long name entry", LFNEntry{}, 32},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := binary.Size(tt.v); got != tt.want {
				t.Fatalf("size %d, want %d", got, tt.want)
			}
		})
	}
}

// openImage opens a fixture, or one partition of it when part > 0.
func openImage(tb testing.TB, name string, part int) (*FS, string) {
	tb.Helper()
	p := fixture.Path(tb, name)
	b, err := os.ReadFile(p)
	if err != nil {
		tb.Fatal(err)
	}
	var dev interface {
		ReadAt([]byte, int64) (int, error)
	} = bytes.NewReader(b)
	size := int64(len(b))
	if part > 0 {
		tab, err := partition.Read(bytes.NewReader(b), size)
		if err != nil {
			tb.Fatal(err)
		}
		for _, pt := range tab.Partitions {
			if pt.Number == part {
				sec := partition.Section(rw{bytes.NewReader(b)}, pt)
				dev, size = sec, sec.Size()
			}
		}
	}
	f, err := Open(dev, size)
	if err != nil {
		tb.Fatalf("Open %s: %v", name, err)
	}
	return f, p
}

type rw struct{ *bytes.Reader }

func (rw) WriteAt([]byte, int64) (int, error) { return 0, fs.ErrReadOnly }

// walk lists every path below dir.
func walk(tb testing.TB, f *FS, dir string) []string {
	tb.Helper()
	ents, err := f.ReadDir(dir)
	if err != nil {
		tb.Fatalf("ReadDir %s: %v", dir, err)
	}
	var out []string
	for _, e := range ents {
		p := path.Join(dir, e.Name)
		out = append(out, p)
		if e.Type == fs.TypeDir {
			out = append(out, walk(tb, f, p)...)
		}
	}
	return out
}

func seq(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "%d\n", i)
	}
	return b.String()
}

// TestTreeMatchesFsckFat lists each fixture with our reader and with
// dosfstools' fsck.fat -l, which prints the long name of each file or
// its short name in upper case.
func TestTreeMatchesFsckFat(t *testing.T) {
	for _, im := range fatImages {
		t.Run(im.name, func(t *testing.T) {
			f, p := openImage(t, im.name, 0)
			out, _, code := oracle.Run(t, "fsck.fat", "-n", "-l", p)
			if code != 0 {
				t.Fatalf("fsck.fat exit %d:\n%s", code, out)
			}
			var want []string
			for _, line := range strings.Split(out, "\n") {
				rest, ok := strings.CutPrefix(line, "Checking file ")
				if !ok || rest == "/" {
					continue
				}
				if i := strings.LastIndex(rest, " ("); i > 0 && strings.HasSuffix(rest, ")") {
					rest = rest[:i]
				}
				want = append(want, ascii(strings.ToLower(rest)))
			}
			var got []string
			for _, p := range walk(t, f, "/") {
				got = append(got, ascii(strings.ToLower(p)))
			}
			label := "/" + strings.ToLower(f.Info().Label)
			want = slicesDelete(want, label)
			sort.Strings(got)
			sort.Strings(want)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("our tree:\n%s\nfsck.fat:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// ascii replaces every non-ASCII character (or invalid byte) with '?':
// fsck.fat, run with LC_ALL=C, prints a long name's é as a raw byte.
func ascii(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 0x80 {
			r = '?'
		}
		b.WriteRune(r)
	}
	return b.String()
}

func slicesDelete(s []string, v string) []string {
	out := s[:0]
	for _, x := range s {
		if x != v {
			out = append(out, x)
		}
	}
	return out
}

// TestReadFilesAsLinuxShowsThem reads what gen.d/guest.sh wrote with mtools.
func TestReadFilesAsLinuxShowsThem(t *testing.T) {
	images := []struct {
		name    string
		part    int
		fatType int
		uuid    string
		label   string
	}{
		{"disk-vfat12.raw", 0, 12, "12AB-34CD", "FAT12VOL"},
		{"disk-vfat16.raw", 0, 16, "16AB-34CD", "FAT16VOL"},
		{"disk-vfat32.raw", 0, 32, "32AB-34CD", "FAT32VOL"},
	}
	files := []struct {
		name, path, want string
	}{
		{"a file of several clusters", "/EFI/BOOT/BOOTX64.EFI", seq(1000)},
		{"a fragmented chain jumps over another file", "/frag.bin", seq(700)},
		{"the file it jumps over", "/spacer.bin", seq(300)},
		{"a long name with spaces", "/Long File Name With Spaces.txt", "spaces\n"},
		{"a UTF-8 long name", "/café au lait, a long name.txt", "cafe\n"},
		{"lookups are case-insensitive", "/efi/boot/../BOOT/bootx64.efi", seq(1000)},
		{"a short name without extension", "/README", "readme\n"},
		{"deep directories", "/deep/a/b/c/d.txt", "deep\n"},
		{"a directory of several clusters", "/many/file number 40.txt", "file 40\n"},
		{"systemd-boot's random seed", "/loader/random-seed", "esp-random-seed-0123456789abcdef"},
	}
	for _, im := range images {
		t.Run(im.name, func(t *testing.T) {
			f, _ := openImage(t, im.name, im.part)
			if f.FATType() != im.fatType || f.Info().UUID != im.uuid || f.Info().Label != im.label {
				t.Fatalf("FAT%d %s %q, want FAT%d %s %q", f.FATType(), f.Info().UUID, f.Info().Label, im.fatType, im.uuid, im.label)
			}
			for _, fl := range files {
				t.Run(fl.name, func(t *testing.T) {
					b, err := f.ReadFile(fl.path)
					if err != nil || string(b) != fl.want {
						t.Fatalf("ReadFile(%q) = %d bytes, %v; want %d bytes", fl.path, len(b), err, len(fl.want))
					}
				})
			}
			ents, err := f.ReadDir("/")
			if err != nil {
				t.Fatal(err)
			}
			names := map[string]bool{}
			for _, e := range ents {
				names[e.Name] = true
			}
			for _, n := range []string{"lower.txt", "MixedCase.Txt", "README", "EFI", "loader"} {
				if !names[n] {
					t.Errorf("root lacks %q as Linux names it (NTRes case flags, long names): %v", n, names)
				}
			}
			if a, err := f.Stat("/readonly.txt"); err != nil || a.Perm() != 0o555 {
				t.Errorf("readonly.txt mode %o, %v; want 0555 (ATTR_RO)", a.Perm(), err)
			}
			if m, err := f.ReadDir("/many"); err != nil || len(m) != 40 {
				t.Errorf("/many holds %d files (%v), want 40", len(m), err)
			}
		})
	}
}

// TestReadsTheGPTFixturesFAT16ESP reads the ESP of disk-gpt.raw, a FAT16
// made by mkfs.vfat -F 16, through its partition.
func TestReadsTheGPTFixturesFAT16ESP(t *testing.T) {
	f, _ := openImage(t, "disk-gpt.raw", 1)
	if f.FATType() != 16 || f.Info().UUID != "7A3B-1C2D" || f.Info().Label != "ESP" {
		t.Fatalf("FAT%d %s %q", f.FATType(), f.Info().UUID, f.Info().Label)
	}
	for p, want := range map[string]string{"/EFI/BOOT/BOOTX64.EFI": "MZ fake EFI loader\n", "/loader/random-seed": "esp-random-seed\n"} {
		if b, err := f.ReadFile(p); err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", p, b, err, want)
		}
	}
}

func TestPathRulesWithoutSymlinks(t *testing.T) {
	f, _ := openImage(t, "disk-vfat12.raw", 0)
	tests := []struct {
		name string
		do   func() error
		want error
	}{
		{"a missing file is ENOENT", func() error { _, err := f.Stat("/nope"); return err }, fs.ErrNotExist},
		{"a file used as a directory is ENOTDIR", func() error { _, err := f.Stat("/README/x"); return err }, fs.ErrNotDir},
		{"a relative path is invalid", func() error { _, err := f.Stat("README"); return err }, fs.ErrInvalid},
		{"readlink of a file is not a symlink", func() error { _, err := f.Readlink("/README"); return err }, fs.ErrNotSymlink},
		{"opening a directory is EISDIR", func() error { _, err := f.Open("/EFI"); return err }, fs.ErrIsDir},
		{".. never climbs above /", func() error { _, err := f.Stat("/../../README"); return err }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.do(); !errors.Is(err, tt.want) && !(tt.want == nil && err == nil) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	if x, err := f.Xattrs("/README"); err != nil || len(x) != 0 {
		t.Fatalf("Xattrs = %v, %v", x, err)
	}
}

// damage returns a copy of the FAT12 fixture with fn applied.
func damage(tb testing.TB, fn func(b []byte, f *FS)) []byte {
	tb.Helper()
	f, p := openImage(tb, "disk-vfat12.raw", 0)
	b, err := os.ReadFile(p)
	if err != nil {
		tb.Fatal(err)
	}
	fn(b, f)
	return b
}

// TestHostileImagesFailCleanly: damaged structures give a *CorruptError
// wrapping ErrCorrupt or ErrNotFAT, never a panic, a loop or a huge
// allocation.
func TestHostileImagesFailCleanly(t *testing.T) {
	entryOf := func(tb testing.TB, f *FS, p string) int64 {
		a, err := f.Lstat(p)
		if err != nil {
			tb.Fatal(err)
		}
		return int64(a.Ino)
	}
	tests := []struct {
		name string
		edit func(b []byte, f *FS)
		read string // the path to read, "" when Open itself must fail
		want error
	}{
		{"no 0x55AA signature", func(b []byte, f *FS) { b[510] = 0 }, "", ErrNotFAT},
		{"a sector size that is not a power of two", func(b []byte, f *FS) { binary.LittleEndian.PutUint16(b[11:], 513) }, "", ErrNotFAT},
		{"more sectors than the device has", func(b []byte, f *FS) {
			binary.LittleEndian.PutUint16(b[19:], 0)
			binary.LittleEndian.PutUint32(b[32:], 1<<30)
		}, "", ErrCorrupt},
		{"a FAT too small for the clusters", func(b []byte, f *FS) { binary.LittleEndian.PutUint16(b[22:], 1) }, "", ErrCorrupt},
		{"a cluster chain that loops", func(b []byte, f *FS) {
			// frag.bin's first cluster points to itself (FAT12 entries).
			off := entryOf(t, f, "/frag.bin")
			c := uint32(binary.LittleEndian.Uint16(b[off+26:]))
			setFAT12(b, f, c, c)
			binary.LittleEndian.PutUint32(b[off+28:], 1<<20)
		}, "/frag.bin", ErrCorrupt},
		{"a file size past its chain", func(b []byte, f *FS) {
			off := entryOf(t, f, "/README")
			binary.LittleEndian.PutUint32(b[off+28:], 100000)
		}, "/README", ErrCorrupt},
		{"a first cluster outside the data area", func(b []byte, f *FS) {
			off := entryOf(t, f, "/README")
			binary.LittleEndian.PutUint16(b[off+26:], 0xFF0)
		}, "/README", ErrCorrupt},
		{"a directory whose chain loops", func(b []byte, f *FS) {
			off := entryOf(t, f, "/deep")
			c := uint32(binary.LittleEndian.Uint16(b[off+26:]))
			setFAT12(b, f, c, c)
		}, "/deep/a/b/c/d.txt", ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := damage(t, tt.edit)
			f, err := Open(bytes.NewReader(b), int64(len(b)))
			if tt.read == "" {
				var ce *CorruptError
				if !errors.Is(err, tt.want) || !errors.As(err, &ce) {
					t.Fatalf("Open: %v, want a *CorruptError wrapping %v", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			_, err = f.ReadFile(tt.read)
			if !errors.Is(err, tt.want) {
				t.Fatalf("ReadFile: %v, want %v", err, tt.want)
			}
		})
	}
}

// setFAT12 sets the FAT12 entry of cluster c in every FAT copy.
func setFAT12(b []byte, f *FS, c, v uint32) {
	for copyOff := f.fatOffset; copyOff < f.rootOffset; copyOff += f.fatBytes {
		off := copyOff + int64(c) + int64(c)/2
		cur := uint32(binary.LittleEndian.Uint16(b[off:]))
		if c&1 == 1 {
			cur = cur&0x000F | v<<4
		} else {
			cur = cur&0xF000 | v&0xFFF
		}
		binary.LittleEndian.PutUint16(b[off:], uint16(cur))
	}
}

func FuzzOpen(f *testing.F) {
	for _, name := range []string{"disk-vfat12.raw"} {
		p := fixture.Path(f, name)
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[:64<<10])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Open(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		seen := 0
		var visit func(dir string, depth int)
		visit = func(dir string, depth int) {
			ents, err := v.ReadDir(dir)
			if err != nil || depth > 8 {
				return
			}
			for _, e := range ents {
				if seen++; seen > 2000 {
					return
				}
				p := path.Join(dir, e.Name)
				if e.Type == fs.TypeDir {
					visit(p, depth+1)
				} else if b, err := v.ReadFile(p); err == nil && int64(len(b)) > int64(len(data)) {
					t.Fatalf("%s: %d bytes from a %d-byte device", p, len(b), len(data))
				}
			}
		}
		visit("/", 0)
	})
}

// lookup returns the node of path p, found by the walker.
func (f *FS) lookup(op, p string) (*node, error) {
	a, err := f.Lstat(p)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return f.entry(int64(a.Ino))
}
