package catalogtest

import (
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/fs/memfs"
	"github.com/imgprep/imgprep/pkg/guest"
	"github.com/imgprep/imgprep/pkg/ops"
)

// Name is the fixture's name.
const Name = "catalog-disk.raw"

// Disk is a private, writable copy of the catalog fixture, scanned.
type Disk struct {
	Path   string
	Layout *guest.Layout
	Guest  *guest.Guest
}

type fileDisk struct {
	*os.File
	size int64
}

func (d fileDisk) Size() int64 { return d.size }

// Template is the fixture decompressed once, to copy for each case.
type Template struct{ path string }

// NewTemplate decompresses the fixture into tb's temporary directory.
func NewTemplate(tb testing.TB) *Template {
	tb.Helper()
	return &Template{path: fixture.Path(tb, Name)}
}

// Open decompresses a private copy of the fixture and returns its only
// guest, writable. The file is closed when the test ends.
func Open(tb testing.TB) *Disk {
	tb.Helper()
	return openPath(tb, fixture.Path(tb, Name))
}

// Open returns a writable guest on a fresh sparse copy of the template.
func (tp *Template) Open(tb testing.TB) *Disk {
	tb.Helper()
	dst := filepath.Join(tb.TempDir(), Name)
	if err := sparseCopy(tp.path, dst); err != nil {
		tb.Fatal(err)
	}
	return openPath(tb, dst)
}

// sparseCopy copies src to dst, leaving holes where src reads as zeros.
func sparseCopy(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	buf := make([]byte, 64<<10)
	var off int64
	for {
		n, err := io.ReadFull(in, buf)
		if n > 0 && !allZero(buf[:n]) {
			if _, werr := out.WriteAt(buf[:n], off); werr != nil {
				out.Close()
				return werr
			}
		}
		off += int64(n)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			out.Close()
			return err
		}
	}
	if err := out.Truncate(off); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func openPath(tb testing.TB, p string) *Disk {
	tb.Helper()
	f, size := fixture.Open(tb, p, os.O_RDWR)
	l, err := guest.Scan(fileDisk{f, size}, guest.Options{Name: Name, Writable: true})
	if err != nil {
		tb.Fatalf("scan %s: %v", Name, err)
	}
	gs, err := l.Guests()
	if err != nil || len(gs) != 1 {
		tb.Fatalf("%s: %d guests, %v", Name, len(gs), err)
	}
	for _, fsys := range l.Filesystems {
		if fsys.FS != nil && !fsys.Writable {
			tb.Fatalf("%s: %s not writable: %s", Name, fsys.Desc(), fsys.Why)
		}
	}
	return &Disk{Path: p, Layout: l, Guest: gs[0]}
}

// SyncAndCheck writes the guest's changes and has the real tools judge
// them: e2fsck -fn on every ext4 filesystem, and fsck.fat -n on the ESP
// when one of changes is on a vfat filesystem.
func (d *Disk) SyncAndCheck(tb testing.TB, changes []ops.Change) {
	tb.Helper()
	if err := d.Guest.Sync(); err != nil {
		tb.Fatalf("sync: %v", err)
	}
	for _, f := range d.Layout.Filesystems {
		switch f.Type {
		case "ext4":
			oracle.E2fsckClean(tb, oracle.Device(d.Path, f.Offset))
		case "vfat":
			if !touched(changes, "vfat") {
				continue
			}
			img, err := os.Open(d.Path)
			if err != nil {
				tb.Fatal(err)
			}
			part := make([]byte, f.Size)
			_, err = img.ReadAt(part, f.Offset)
			img.Close()
			if err != nil {
				tb.Fatal(err)
			}
			esp := d.Path + ".esp"
			if err := os.WriteFile(esp, part, 0o600); err != nil {
				tb.Fatal(err)
			}
			if out, errOut, code := oracle.Run(tb, "fsck.fat", "-n", esp); code != 0 {
				tb.Fatalf("fsck.fat -n on the ESP: exit %d\n%s%s", code, out, errOut)
			}
		}
	}
}

// maxCopy bounds Memfs.
const maxCopy = 1 << 16

// Memfs copies the tree t into a new in-memory filesystem: types, modes,
// owners, contents, symlink targets and xattrs (hard links become copies).
// Name is the filesystem name memfs reports.
func Memfs(tb testing.TB, t fs.ReadTree, name string) *memfs.FS {
	tb.Helper()
	m := memfs.New()
	m.Name = name
	todo := []string{"/"}
	n := 0
	for len(todo) > 0 {
		p := todo[0]
		todo = todo[1:]
		if n++; n > maxCopy {
			tb.Fatalf("catalogtest: tree over %d entries", maxCopy)
		}
		a, err := t.Lstat(p)
		if err != nil {
			tb.Fatalf("catalogtest: lstat %s: %v", p, err)
		}
		switch a.Type() {
		case fs.TypeDir:
			if p != "/" {
				m.AddDir(p, a.Perm())
			}
			ents, err := t.ReadDir(p)
			if err != nil {
				tb.Fatalf("catalogtest: readdir %s: %v", p, err)
			}
			for _, e := range ents {
				if p == "/" && e.Name == "lost+found" {
					continue
				}
				todo = append(todo, path.Join(p, e.Name))
			}
		case fs.TypeRegular:
			b, err := t.ReadFile(p)
			if err != nil {
				tb.Fatalf("catalogtest: read %s: %v", p, err)
			}
			m.AddFile(p, string(b), a.Perm())
		case fs.TypeSymlink:
			target, err := t.Readlink(p)
			if err != nil {
				tb.Fatalf("catalogtest: readlink %s: %v", p, err)
			}
			m.AddSymlink(p, target)
		default:
			continue
		}
		if p != "/" {
			m.SetOwner(p, fs.Owner{UID: a.UID, GID: a.GID})
		}
		x, err := t.Xattrs(p)
		if err != nil {
			tb.Fatalf("catalogtest: xattrs %s: %v", p, err)
		}
		for k, v := range x {
			m.SetXattr(p, k, v)
		}
	}
	return m
}

func touched(changes []ops.Change, fsType string) bool {
	for _, c := range changes {
		if strings.HasPrefix(c.Filesystem, fsType+" ") {
			return true
		}
	}
	return false
}
