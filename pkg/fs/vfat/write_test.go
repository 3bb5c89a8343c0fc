package vfat

import (
	"bytes"
	"errors"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/fs"
)

// clock is the writes' fixed time: later than every fixture time
// (2023-11-14), on an even second as FAT stores them.
var clock = time.Date(2024, 5, 6, 7, 8, 10, 0, time.UTC)

// fatImages are the vfat fixtures, one of each FAT type: every write test
// runs on all three (the entry width and the end-of-chain mark differ).
var fatImages = []struct {
	name    string
	fatType int
}{
	{"disk-vfat12.raw", 12},
	{"disk-vfat16.raw", 16},
	{"disk-vfat32.raw", 32},
}

// openFileRW opens a private copy of a fixture read-write, with the fixed
// clock.
func openFileRW(tb testing.TB, name string) (*FS, string, *os.File) {
	tb.Helper()
	p := fixture.Path(tb, name)
	fh, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { fh.Close() })
	st, err := fh.Stat()
	if err != nil {
		tb.Fatal(err)
	}
	f, err := OpenWritable(fh, st.Size(), Options{Now: func() time.Time { return clock }})
	if err != nil {
		tb.Fatal(err)
	}
	return f, p, fh
}

// fsckFatClean fails the test unless dosfstools' fsck.fat -n finds
// nothing to fix (going on when it has a summary), and returns the number of clusters it counts in use
// (from its summary "IMG: N files, USED/TOTAL clusters").
func fsckFatClean(tb testing.TB, img string) int {
	tb.Helper()
	out, errOut, code := oracle.Run(tb, "fsck.fat", "-n", img)
	var bad []string
	used := -1
	for _, l := range strings.Split(out+errOut, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "fsck.fat ") {
			continue
		}
		if sum, ok := strings.CutPrefix(l, img+":"); ok {
			if m := fsckSummary.FindStringSubmatch(sum); m != nil {
				used, _ = strconv.Atoi(m[1])
				continue
			}
		}
		bad = append(bad, l)
	}
	if used < 0 {
		tb.Fatalf("fsck.fat -n %s: exit %d, no summary line:\n%s%s", img, code, out, errOut)
	}
	if code != 0 || len(bad) > 0 {
		// Not fatal: the caller's own assertions on the count still run.
		tb.Errorf("fsck.fat -n %s: exit %d:\n%s%s", img, code, out, errOut)
	}
	return used
}

var fsckSummary = regexp.MustCompile(`^ \d+ files?, (\d+)/\d+ clusters$`)

// mtype reads a file with mtools, an implementation we did not write.
func mtype(tb testing.TB, img, p string) (string, bool) {
	tb.Helper()
	out, _, code := oracle.Run(tb, "mtype", "-i", img, "::"+p)
	return out, code == 0
}

// TestChangesPassFsckFat makes the changes sysprep makes on an ESP on
// FAT12, FAT16 and FAT32 and has fsck.fat and mtools judge the result.
func TestChangesPassFsckFat(t *testing.T) {
	for _, im := range fatImages {
		t.Run(im.name, func(t *testing.T) {
			f, p, _ := openFileRW(t, im.name)
			if f.FATType() != im.fatType {
				t.Fatalf("%s is FAT%d, want FAT%d", im.name, f.FATType(), im.fatType)
			}
			steps := []struct {
				what string
				do   func() error
			}{
				{"remove systemd-boot's random seed", func() error { return f.Remove("/loader/random-seed") }},
				{"remove a tree", func() error { return f.RemoveAll("/deep") }},
				{"remove a multi-cluster directory of long names", func() error { return f.RemoveAll("/many") }},
				{"remove a long-named file", func() error { return f.Remove("/café au lait, a long name.txt") }},
				{"truncate a fragmented file inside its chain", func() error { return f.Truncate("/frag.bin", 100) }},
				{"truncate to zero", func() error { return f.Truncate("/spacer.bin", 0) }},
				{"grow a file by truncate", func() error { return f.Truncate("/README", 3000) }},
				{"rewrite a file larger", func() error { return f.WriteFile("/EFI/BOOT/BOOTX64.EFI", []byte(seq(2000)), fs.WriteOptions{}) }},
				{"rewrite a file empty", func() error { return f.WriteFile("/lower.txt", nil, fs.WriteOptions{}) }},
				{"set times", func() error {
					return f.Utimes("/MixedCase.Txt", fs.Times{Mtime: time.Date(2020, 1, 2, 3, 4, 6, 0, time.UTC)})
				}},
			}
			for _, s := range steps {
				if err := s.do(); err != nil {
					t.Fatalf("%s: %v", s.what, err)
				}
			}
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			fsckFatClean(t, p)
			for _, gone := range []string{"/loader/random-seed", "/deep/a/b/c/d.txt", "/many/file number 1.txt", "/café au lait, a long name.txt"} {
				if _, ok := mtype(t, p, gone); ok {
					t.Errorf("%s still readable by mtools", gone)
				}
			}
			want := map[string]string{
				"/frag.bin":                       seq(700)[:100],
				"/spacer.bin":                     "",
				"/README":                         "readme\n" + string(make([]byte, 3000-7)),
				"/EFI/BOOT/BOOTX64.EFI":           seq(2000),
				"/lower.txt":                      "",
				"/Long File Name With Spaces.txt": "spaces\n",
				"/loader/entries/debian.conf":     "title Debian\nlinux /vmlinuz\n",
			}
			for path, w := range want {
				if got, ok := mtype(t, p, path); !ok || got != w {
					t.Errorf("mtype %s = %d bytes (ok %t), want %d", path, len(got), ok, len(w))
				}
			}
			out, _, _ := oracle.Run(t, "mdir", "-i", p, "::/")
			if !strings.Contains(out, "2020-01-02") {
				t.Errorf("mdir does not show MixedCase.Txt's new date:\n%s", out)
			}
		})
	}
}

func TestRefusalsChangeNothing(t *testing.T) {
	tests := []struct {
		name string
		do   func(f *FS) error
		want error
	}{
		{"creating a file is not supported", func(f *FS) error { return f.WriteFile("/new.txt", []byte("x"), fs.WriteOptions{}) }, fs.ErrInvalid},
		{"mkdir is not supported", func(f *FS) error { return f.Mkdir("/d", 0o755, fs.Owner{}) }, fs.ErrInvalid},
		{"FAT has no symlinks", func(f *FS) error { return f.Symlink("/x", "/l", fs.Owner{}) }, fs.ErrInvalid},
		{"FAT stores no permissions", func(f *FS) error { return f.Chmod("/README", 0o600) }, fs.ErrInvalid},
		{"a non-empty directory is not removed", func(f *FS) error { return f.Remove("/EFI") }, fs.ErrNotEmpty},
		{"the root is not removed", func(f *FS) error { return f.RemoveAll("/") }, fs.ErrInvalid},
		{"a file larger than the free space is ENOSPC", func(f *FS) error {
			return f.WriteFile("/README", make([]byte, 4<<20), fs.WriteOptions{})
		}, fs.ErrNoSpace},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, p, _ := openFileRW(t, "disk-vfat12.raw")
			before, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.do(f); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			after, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(before, after) {
				t.Fatal("the image changed")
			}
		})
	}
}

func TestReadOnlyOpenRefusesChanges(t *testing.T) {
	f, _ := openImage(t, "disk-vfat12.raw", 0)
	if err := f.Remove("/README"); !errors.Is(err, fs.ErrReadOnly) {
		t.Fatalf("got %v, want fs.ErrReadOnly", err)
	}
}

// memRW is an in-memory device.
type memRW []byte

func (m memRW) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= int64(len(m)) {
		return 0, errors.New("out of range")
	}
	n := copy(p, m[off:])
	if n < len(p) {
		return n, errors.New("short read")
	}
	return n, nil
}

func (m memRW) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(m)) {
		return 0, errors.New("out of range")
	}
	return copy(m[off:], p), nil
}

// FuzzWrite runs the ESP cleanup (truncate and remove everything) on
// arbitrary images: no panic, no endless loop, no write outside the device.
func FuzzWrite(f *testing.F) {
	b, err := os.ReadFile(fixture.Path(f, "disk-vfat12.raw"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b[:64<<10])
	f.Fuzz(func(t *testing.T, data []byte) {
		dev := memRW(append([]byte(nil), data...))
		v, err := OpenWritable(dev, int64(len(dev)), Options{})
		if err != nil {
			return
		}
		ents, err := v.ReadDir("/")
		if err != nil {
			return
		}
		for i, e := range ents {
			if i > 50 {
				break
			}
			if e.Type == fs.TypeRegular {
				_ = v.Truncate("/"+e.Name, 1)
				_ = v.WriteFile("/"+e.Name, []byte("x"), fs.WriteOptions{})
			}
			_ = v.RemoveAll("/" + e.Name)
		}
	})
}
