package xfs

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/fs"
)

// openImage opens the image file at path with Open.
func openImage(t *testing.T, path string) *FS {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fh.Close() })
	st, err := fh.Stat()
	if err != nil {
		t.Fatal(err)
	}
	f, err := Open(fh, st.Size(), Options{Name: filepath.Base(path)})
	if err != nil {
		t.Fatalf("Open %s: %v", path, err)
	}
	return f
}

// kernelMountRO mounts the image read-only without log recovery (until
// the test ends; kernelMountROFor returns the unmount function too).
func kernelMountRO(t *testing.T, path string) string {
	dir, _ := kernelMountROFor(t, path)
	return dir
}

func kernelMountROFor(t *testing.T, path string) (string, func()) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	dev := oracle.Loop(t, path, 0, st.Size(), true)
	return oracle.KernelMountOpts(t, "xfs", dev, "ro,norecovery,nouuid")
}

// kernelXattrs lists the xattrs of p as the kernel reports them.
func kernelXattrs(t *testing.T, p string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	buf := make([]byte, 1<<16)
	n, err := unix.Llistxattr(p, buf)
	if err != nil {
		t.Fatalf("llistxattr %s: %v", p, err)
	}
	for _, name := range strings.Split(string(buf[:n]), "\x00") {
		if name == "" {
			continue
		}
		v := make([]byte, 1<<16)
		m, err := unix.Lgetxattr(p, name, v)
		if err != nil {
			t.Fatalf("lgetxattr %s %s: %v", p, name, err)
		}
		out[name] = v[:m]
	}
	return out
}

// treeCounts says what compareTree compared.
type treeCounts struct{ files, dirs, links, xattrs, bytes int }

// compareTree walks the kernel's view of the filesystem at mnt and checks
// that f reports the same names, inode numbers, types, modes, link
// counts, owners, sizes, times, device numbers, contents, symlink targets
// and xattrs for every file.
func compareTree(t *testing.T, f *FS, mnt string) treeCounts {
	t.Helper()
	var c treeCounts
	var walk func(rel string)
	walk = func(rel string) {
		host := filepath.Join(mnt, rel)
		var st syscall.Stat_t
		if err := syscall.Lstat(host, &st); err != nil {
			t.Fatal(err)
		}
		p := "/" + rel
		a, err := f.Lstat(p)
		if err != nil {
			t.Errorf("Lstat %s: %v", p, err)
			return
		}
		want := fs.Attr{Ino: st.Ino, Mode: st.Mode, Nlink: uint32(st.Nlink), UID: st.Uid, GID: st.Gid, Size: st.Size}
		got := fs.Attr{Ino: a.Ino, Mode: a.Mode, Nlink: a.Nlink, UID: a.UID, GID: a.GID, Size: a.Size}
		if got != want {
			t.Errorf("%s: got %+v, kernel %+v", p, got, want)
		}
		if a.Mtime.Unix() != st.Mtim.Sec || int64(a.Mtime.Nanosecond()) != st.Mtim.Nsec || a.Ctime.Unix() != st.Ctim.Sec {
			t.Errorf("%s: mtime %v ctime %v, kernel %v %v", p, a.Mtime, a.Ctime, st.Mtim, st.Ctim)
		}
		if ty := a.Type(); (ty == fs.TypeChar || ty == fs.TypeBlock) && uint64(a.Rdev) != st.Rdev {
			t.Errorf("%s: rdev %#x, kernel %#x", p, a.Rdev, st.Rdev)
		}
		gx, err := f.Xattrs(p)
		if err != nil {
			t.Errorf("Xattrs %s: %v", p, err)
		} else if kx := kernelXattrs(t, host); !mapsEqual(gx, kx) {
			t.Errorf("%s: xattrs %q, kernel %q", p, keys(gx), keys(kx))
		} else {
			c.xattrs += len(kx)
		}
		switch a.Type() {
		case fs.TypeDir:
			c.dirs++
			kes, err := os.ReadDir(host)
			if err != nil {
				t.Fatal(err)
			}
			ges, err := f.ReadDir(p)
			if err != nil {
				t.Errorf("ReadDir %s: %v", p, err)
				return
			}
			var kn, gn []string
			for _, e := range kes {
				kn = append(kn, e.Name())
			}
			types := map[string]fs.FileType{}
			for _, e := range ges {
				gn = append(gn, e.Name)
				types[e.Name] = e.Type
			}
			slices.Sort(kn)
			slices.Sort(gn)
			if !slices.Equal(kn, gn) {
				t.Errorf("%s: %d entries, kernel %d (first differences: %v)", p, len(gn), len(kn), firstDiff(gn, kn))
				return
			}
			for _, e := range kes {
				if want := fileType(e.Type()); types[e.Name()] != want {
					t.Errorf("%s/%s: entry type %v, kernel %v", p, e.Name(), types[e.Name()], want)
				}
				walk(filepath.Join(rel, e.Name()))
			}
		case fs.TypeRegular:
			c.files++
			kb, err := os.ReadFile(host)
			if err != nil {
				t.Fatal(err)
			}
			gb, err := f.ReadFile(p)
			if err != nil {
				t.Errorf("ReadFile %s: %v", p, err)
			} else if !bytes.Equal(gb, kb) {
				t.Errorf("%s: contents differ (%d bytes, kernel %d)", p, len(gb), len(kb))
			}
			c.bytes += len(kb)
		case fs.TypeSymlink:
			c.links++
			kt, err := os.Readlink(host)
			if err != nil {
				t.Fatal(err)
			}
			if gt, err := f.Readlink(p); err != nil || gt != kt {
				t.Errorf("Readlink %s: %q %v, kernel %q", p, gt, err, kt)
			}
		}
	}
	walk("")
	return c
}

func fileType(m os.FileMode) fs.FileType {
	switch {
	case m.IsDir():
		return fs.TypeDir
	case m&os.ModeSymlink != 0:
		return fs.TypeSymlink
	case m&os.ModeNamedPipe != 0:
		return fs.TypeFIFO
	case m&os.ModeSocket != 0:
		return fs.TypeSocket
	case m&os.ModeCharDevice != 0:
		return fs.TypeChar
	case m&os.ModeDevice != 0:
		return fs.TypeBlock
	}
	return fs.TypeRegular
}

func mapsEqual(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !bytes.Equal(v, w) {
			return false
		}
	}
	return true
}

func keys(m map[string][]byte) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+strings.ToValidUTF8(string(v[:min(len(v), 12)]), "?"))
	}
	slices.Sort(out)
	return out
}

func firstDiff(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, "+"+x)
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			out = append(out, "-"+x)
		}
	}
	return out[:min(len(out), 5)]
}
