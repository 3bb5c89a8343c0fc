package btrfs_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/fs/btrfs"
)

// openImage opens a fixture image with opts.
func openImage(t *testing.T, path string, opts btrfs.Options) *btrfs.FS {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	v, err := btrfs.OpenOptions(f, st.Size(), opts)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	return v
}

// openSection opens the filesystem in bytes [offset, offset+size) of an
// image with opts.
func openSection(t *testing.T, path string, offset, size int64, opts btrfs.Options) *btrfs.FS {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	v, err := btrfs.OpenOptions(io.NewSectionReader(f, offset, size), size, opts)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	return v
}

// TestReadParityWithKernel reads every fixture, in every subvolume view,
// with the engine and through the kernel's read-only mount of the same
// image, and compares every path: inode number, mode, link count, owner,
// size, device number, mtime, directory listings and entry types, file
// contents, symlink targets and xattrs.
func TestReadParityWithKernel(t *testing.T) {
	// guest-fedora.raw's btrfs is partition 3 (gen.d/btrfs.sh).
	const p3, p3size = 165888 * 512, (655326 - 165888) * 512
	cases := []struct {
		image, mountOpts string
		opts             btrfs.Options
		min              int   // at least this many paths
		offset, size     int64 // the filesystem's bytes in the image; size 0: all
	}{
		{"btrfs-rootdir.img", "", btrfs.Options{}, 5010, 0, 0},
		{"btrfs-mixed.img", "", btrfs.Options{}, 5010, 0, 0},
		{"btrfs-dupdata.img", "", btrfs.Options{}, 5010, 0, 0},
		{"btrfs-xxhash.img", "", btrfs.Options{}, 5010, 0, 0},
		{"btrfs-sha256.img", "", btrfs.Options{}, 5010, 0, 0},
		{"btrfs-kernel.img", "subvolid=5", btrfs.Options{SubvolID: 5}, 10020, 0, 0},
		{"btrfs-kernel.img", "", btrfs.Options{}, 5020, 0, 0},
		{"btrfs-kernel.img", "subvol=home", btrfs.Options{Subvol: "home"}, 2, 0, 0},
		{"btrfs-kernel.img", "subvol=/root-snap", btrfs.Options{Subvol: "/root-snap"}, 5020, 0, 0},
		{"btrfs-kernel.img", "subvol=root/var/lib/machines", btrfs.Options{Subvol: "root/var/lib/machines"}, 1, 0, 0},
		{"guest-fedora.raw", "subvol=root", btrfs.Options{Subvol: "root"}, 20, p3, p3size},
		{"guest-fedora.raw", "subvol=home", btrfs.Options{Subvol: "home"}, 2, p3, p3size},
		{"guest-fedora.raw", "", btrfs.Options{}, 24, p3, p3size},
	}
	for _, c := range cases {
		t.Run(c.image+"/"+c.mountOpts, func(t *testing.T) {
			path := fixture.Path(t, c.image)
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if c.size == 0 {
				c.size = st.Size()
			}
			f := openSection(t, path, c.offset, c.size, c.opts)
			dir := oracle.KernelMountRO(t, "btrfs", path, c.offset, c.size, c.mountOpts)
			n := compareTree(t, f, dir, "/")
			if n < c.min {
				t.Errorf("compared %d paths, want at least %d", n, c.min)
			}
			t.Logf("%d paths identical", n)
		})
	}
}

// compareTree compares the engine's view of p and everything below it
// with the kernel's mount at dir, and returns how many paths it compared.
func compareTree(t *testing.T, f *btrfs.FS, dir, p string) int {
	t.Helper()
	host := filepath.Join(dir, p)
	var st unix.Stat_t
	if err := unix.Lstat(host, &st); err != nil {
		t.Fatal(err)
	}
	a, err := f.Lstat(p)
	if err != nil {
		t.Errorf("%s: %v", p, err)
		return 1
	}
	want := fs.Attr{Ino: st.Ino, Mode: st.Mode, Nlink: uint32(st.Nlink), UID: st.Uid, GID: st.Gid, Size: st.Size}
	got := fs.Attr{Ino: a.Ino, Mode: a.Mode, Nlink: a.Nlink, UID: a.UID, GID: a.GID, Size: a.Size}
	if got != want {
		t.Errorf("%s: engine %+v, kernel %+v", p, got, want)
	}
	// The kernel stamps the placeholder of an unlinked nested subvolume
	// (inode 2) with the current time.
	if a.Ino != 2 && (a.Mtime.Unix() != st.Mtim.Sec || int64(a.Mtime.Nanosecond()) != st.Mtim.Nsec) {
		t.Errorf("%s: mtime %v, kernel %d.%09d", p, a.Mtime, st.Mtim.Sec, st.Mtim.Nsec)
	}
	if a.Type() == fs.TypeChar || a.Type() == fs.TypeBlock {
		if unix.Major(uint64(a.Rdev)) != unix.Major(st.Rdev) || unix.Minor(uint64(a.Rdev)) != unix.Minor(st.Rdev) {
			t.Errorf("%s: rdev %#x, kernel %d:%d", p, a.Rdev, unix.Major(st.Rdev), unix.Minor(st.Rdev))
		}
	}
	compareXattrs(t, f, host, p)
	n := 1
	switch a.Type() {
	case fs.TypeRegular:
		got, err := f.ReadFile(p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			break
		}
		want, err := os.ReadFile(host)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: contents differ (%d bytes, kernel %d)", p, len(got), len(want))
		}
	case fs.TypeSymlink:
		got, err := f.Readlink(p)
		want, _ := os.Readlink(host)
		if err != nil || got != want {
			t.Errorf("%s: readlink %q, %v; kernel %q", p, got, err, want)
		}
	case fs.TypeDir:
		ents, err := f.ReadDir(p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			break
		}
		kents, err := os.ReadDir(host)
		if err != nil {
			t.Fatal(err)
		}
		names := map[string]fs.FileType{}
		for _, e := range ents {
			names[e.Name] = e.Type
		}
		if len(names) != len(kents) || len(ents) != len(kents) {
			t.Errorf("%s: %d entries, kernel %d", p, len(ents), len(kents))
		}
		for _, ke := range kents {
			typ, ok := names[ke.Name()]
			if !ok {
				t.Errorf("%s: entry %q missing", p, ke.Name())
				continue
			}
			if fs.TypeOfMode(uint32(modeBits(ke.Type()))) != typ {
				t.Errorf("%s/%s: type %v, kernel %v", p, ke.Name(), typ, ke.Type())
			}
			n += compareTree(t, f, dir, filepath.Join(p, ke.Name()))
		}
	}
	return n
}

// modeBits converts an os.FileMode type to st_mode type bits.
func modeBits(m os.FileMode) uint32 {
	switch {
	case m&os.ModeDir != 0:
		return fs.ModeDir
	case m&os.ModeSymlink != 0:
		return fs.ModeSymlink
	case m&os.ModeNamedPipe != 0:
		return fs.ModeFIFO
	case m&os.ModeSocket != 0:
		return fs.ModeSocket
	case m&os.ModeCharDevice != 0:
		return fs.ModeChar
	case m&os.ModeDevice != 0:
		return fs.ModeBlock
	}
	return fs.ModeRegular
}

func compareXattrs(t *testing.T, f *btrfs.FS, host, p string) {
	t.Helper()
	got, err := f.Xattrs(p)
	if err != nil {
		t.Errorf("%s: xattrs: %v", p, err)
		return
	}
	buf := make([]byte, 1<<16)
	n, err := unix.Llistxattr(host, buf)
	if err != nil && !errors.Is(err, unix.ENOTSUP) {
		t.Fatal(err)
	}
	want := map[string][]byte{}
	for _, name := range bytes.Split(buf[:n], []byte{0}) {
		if len(name) == 0 {
			continue
		}
		v := make([]byte, 1<<16)
		m, err := unix.Lgetxattr(host, string(name), v)
		if err != nil {
			t.Fatalf("%s: getxattr %s: %v", host, name, err)
		}
		want[string(name)] = v[:m]
	}
	if len(got) != len(want) {
		t.Errorf("%s: xattrs %v, kernel %v", p, keys(got), keys(want))
	}
	for k, v := range want {
		if !bytes.Equal(got[k], v) {
			t.Errorf("%s: xattr %s = %q, kernel %q", p, k, got[k], v)
		}
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
