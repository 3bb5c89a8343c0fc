package conformance

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/imgprep/imgprep/pkg/fs"
)

// readCase is one read check with its expected outcome.
type readCase struct {
	name  string
	check func(t *testing.T, tree fs.ReadTree)
}

// readFile expects p to read as want, or to fail with wantErr.
func readFile(name, p, want string, wantErr error) readCase {
	return readCase{name, func(t *testing.T, tree fs.ReadTree) {
		b, err := tree.ReadFile(p)
		if wantErr != nil || err != nil {
			checkErr(t, "read "+p, err, wantErr)
			return
		}
		if string(b) != want {
			t.Errorf("read %s: %q, want %q", p, b, want)
		}
	}}
}

// statType expects stat (or lstat) of p to be of type want, or to fail.
func statType(name string, lstat bool, p string, want fs.FileType, wantErr error) readCase {
	return readCase{name, func(t *testing.T, tree fs.ReadTree) {
		op, stat := "stat", tree.Stat
		if lstat {
			op, stat = "lstat", tree.Lstat
		}
		a, err := stat(p)
		if wantErr != nil || err != nil {
			checkErr(t, op+" "+p, err, wantErr)
			return
		}
		if a.Type() != want {
			t.Errorf("%s %s: %v, want %v", op, p, a.Type(), want)
		}
	}}
}

func checkErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if want == nil {
		t.Errorf("%s: %v", what, err)
	} else if !errors.Is(err, want) {
		t.Errorf("%s: err %v, want %v", what, err, want)
	}
}

func readCases(o *Options) []readCase {
	cs := []readCase{
		readFile("a plain file", "/etc/hostname", "template\n", nil),
		readFile("dot and empty components are ignored", "//etc/./hostname", "template\n", nil),
		readFile("dot-dot never climbs above the root", "/../../etc/hostname", "template\n", nil),
		readFile("dot-dot climbs one directory", "/dir/sub/../../etc/hostname", "template\n", nil),
		readFile("an empty file", "/empty", "", nil),
		readFile("a missing file", "/etc/nothing", "", fs.ErrNotExist),
		readFile("a missing directory on the way", "/nowhere/file", "", fs.ErrNotExist),
		readFile("a file on the way", "/file/x", "", fs.ErrNotDir),
		readFile("a directory", "/etc", "", fs.ErrIsDir),
		readFile("a name longer than 255 bytes", "/"+strings.Repeat("n", 256), "", fs.ErrNameTooLong),
		statType("stat of the root", false, "/", fs.TypeDir, nil),
		statType("lstat of a directory", true, "/dir/sub", fs.TypeDir, nil),
		statType("a trailing slash on a file", true, "/file/", 0, fs.ErrNotDir),
		statType("a trailing slash on a directory", true, "/dir/", fs.TypeDir, nil),
		{"the big file reads whole and at offsets", func(t *testing.T, tree fs.ReadTree) {
			want := Big()
			b, err := tree.ReadFile("/big")
			if err != nil || !bytes.Equal(b, want) {
				t.Fatalf("read /big: %d bytes, %v; want the %d bytes written", len(b), err, len(want))
			}
			f, err := tree.Open("/big")
			if err != nil {
				t.Fatalf("open /big: %v", err)
			}
			defer f.Close()
			if f.Size() != BigSize {
				t.Errorf("open /big: size %d, want %d", f.Size(), BigSize)
			}
			for _, off := range []int64{0, 1, 4095, 4096, 65535, BigSize - 10} {
				p := make([]byte, 10)
				n, err := f.ReadAt(p, off)
				if err != nil && !errors.Is(err, io.EOF) || !bytes.Equal(p[:n], want[off:off+int64(n)]) || n != 10 {
					t.Errorf("ReadAt(%d): %d bytes %x, %v; want %x", off, n, p[:n], err, want[off:off+10])
				}
			}
			if n, err := f.ReadAt(make([]byte, 10), BigSize); n != 0 || !errors.Is(err, io.EOF) {
				t.Errorf("ReadAt at the end: %d, %v; want 0, EOF", n, err)
			}
		}},
		{"a directory of several blocks lists every entry once", func(t *testing.T, tree fs.ReadTree) {
			ents, err := tree.ReadDir("/many")
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			for _, e := range ents {
				if seen[e.Name] || e.Type != fs.TypeRegular {
					t.Errorf("/many: entry %q (%v) twice or not a file", e.Name, e.Type)
				}
				seen[e.Name] = true
			}
			for i := range o.many() {
				if n := fmt.Sprintf("file-with-a-longish-name-%04d", i); !seen[n] {
					t.Errorf("/many: %s not listed", n)
				}
			}
			if len(ents) != o.many() {
				t.Errorf("/many: %d entries, want %d", len(ents), o.many())
			}
		}},
		{"readdir of a file", func(t *testing.T, tree fs.ReadTree) {
			_, err := tree.ReadDir("/file")
			checkErr(t, "readdir /file", err, fs.ErrNotDir)
		}},
		{"readlink of a file", func(t *testing.T, tree fs.ReadTree) {
			_, err := tree.Readlink("/file")
			checkErr(t, "readlink /file", err, fs.ErrNotSymlink)
		}},
	}
	if o.NoSymlinks {
		return cs
	}
	return append(cs,
		readFile("an absolute target is relative to the filesystem root", "/abs", "template\n", nil),
		readFile("a relative target is relative to the link's directory", "/rel", "template\n", nil),
		readFile("dot-dot in a target is clamped at the root", "/escape/hostname", "template\n", nil),
		readFile("dot-dot after a symlinked directory climbs from its target", "/var/run/../etc/hostname", "template\n", nil),
		readFile("intermediate symlinks are followed", "/var/run/status.json", "{}", nil),
		readFile("a symlink to the root", "/root-link/etc/hostname", "template\n", nil),
		readFile("a symlink to a directory, then a file", "/dirlink/sub/file", "below\n", nil),
		readFile("a chain of MaxSymlinkHops links resolves", "/chain/0", "end", nil),
		readFile("one link more is a loop", "/chain/start", "", fs.ErrLoop),
		readFile("a loop", "/loop1", "", fs.ErrLoop),
		readFile("a link to itself", "/self", "", fs.ErrLoop),
		readFile("a dangling symlink", "/dangling", "", fs.ErrNotExist),
		statType("stat follows the final symlink", false, "/var/lib/dbus/machine-id", fs.TypeRegular, nil),
		statType("lstat does not", true, "/var/lib/dbus/machine-id", fs.TypeSymlink, nil),
		statType("lstat follows intermediate symlinks", true, "/var/run/status.json", fs.TypeRegular, nil),
		statType("lstat of a loop is the link", true, "/loop1", fs.TypeSymlink, nil),
		statType("lstat of a dangling link is the link", true, "/dangling", fs.TypeSymlink, nil),
		statType("a trailing slash follows a symlink to a directory", true, "/dirlink/", fs.TypeDir, nil),
		readCase{"readlink returns the target as stored", func(t *testing.T, tree fs.ReadTree) {
			if s, err := tree.Readlink("/escape"); err != nil || s != "../../../../../etc" {
				t.Errorf("readlink /escape: %q, %v", s, err)
			}
		}},
	)
}

// scene is one run of a write scenario on one tree.
type scene struct {
	t   *testing.T
	w   fs.WriteTree
	who string
}

// ok expects err to be nil.
func (s *scene) ok(what string, err error) bool {
	s.t.Helper()
	return wantErr(s.t, s.who, what, err, nil)
}

// fails expects err to match want.
func (s *scene) fails(what string, err, want error) {
	s.t.Helper()
	wantErr(s.t, s.who, what, err, want)
}

// refused expects err not to be nil.
func (s *scene) refused(what string, err error) {
	s.t.Helper()
	if err == nil {
		s.t.Errorf("%s: %s: no error", s.who, what)
	}
}

// content expects p to read as want.
func (s *scene) content(p, want string) {
	s.t.Helper()
	if b, err := s.w.ReadFile(p); err != nil || string(b) != want {
		s.t.Errorf("%s: read %s: %q, %v; want %q", s.who, p, b, err, want)
	}
}

// absent expects p not to exist.
func (s *scene) absent(p string) {
	s.t.Helper()
	if _, err := s.w.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
		s.t.Errorf("%s: lstat %s: %v, want ErrNotExist", s.who, p, err)
	}
}

type writeScenario struct {
	name string
	run  func(s *scene)
}

var root = fs.Owner{}

func writeScenarios(o *Options) []writeScenario {
	ss := []writeScenario{
		{"overwrite in place, and refuse what is no file", func(s *scene) {
			before, _ := s.w.Lstat("/etc/hostname")
			s.ok("overwrite /etc/hostname", s.w.WriteFile("/etc/hostname", []byte("clone\n"), fs.WriteOptions{Perm: 0o600}))
			s.content("/etc/hostname", "clone\n")
			if after, _ := s.w.Lstat("/etc/hostname"); after.Ino != before.Ino || after.Perm() != before.Perm() {
				s.t.Errorf("%s: overwrite changed the inode or mode: %+v -> %+v", s.who, before, after)
			}
			s.ok("overwrite /big smaller", s.w.WriteFile("/big", []byte("small"), fs.WriteOptions{}))
			s.ok("grow /empty", s.w.WriteFile("/empty", Big(), fs.WriteOptions{}))
			s.ok("empty /file", s.w.WriteFile("/file", nil, fs.WriteOptions{}))
			s.fails("write a directory", s.w.WriteFile("/etc", nil, fs.WriteOptions{}), fs.ErrIsDir)
			s.fails("write the root", s.w.WriteFile("/", nil, fs.WriteOptions{}), fs.ErrIsDir)
			s.fails("write below a missing directory", s.w.WriteFile("/nowhere/x", nil, fs.WriteOptions{}), fs.ErrNotExist)
			s.fails("write below a file", s.w.WriteFile("/etc/hostname/x", nil, fs.WriteOptions{}), fs.ErrNotDir)
		}},
		{"remove and remove-all", func(s *scene) {
			s.fails("remove a non-empty directory", s.w.Remove("/dir/sub"), fs.ErrNotEmpty)
			s.ok("remove a file", s.w.Remove("/dir/sub/file"))
			s.absent("/dir/sub/file")
			s.ok("remove an empty directory", s.w.Remove("/dir/sub"))
			s.absent("/dir/sub")
			s.fails("remove a missing file", s.w.Remove("/dir/sub"), fs.ErrNotExist)
			s.fails("remove below a missing directory", s.w.Remove("/dir/sub/file"), fs.ErrNotExist)
			// ErrInvalid on a filesystem; a guest refuses its root
			// mount point as the kernel does (EBUSY).
			s.refused("remove the root", s.w.Remove("/"))
			s.fails("remove dot-dot", s.w.Remove("/dir/.."), fs.ErrInvalid)
			s.ok("remove-all a missing path", s.w.RemoveAll("/dir/sub/file"))
			s.ok("remove-all a tree", s.w.RemoveAll("/dir"))
			s.absent("/dir")
			s.absent("/dir/empty")
			s.ok("remove-all a file", s.w.RemoveAll("/file"))
			s.absent("/file")
			s.ok("remove-all a directory of several blocks", s.w.RemoveAll("/many"))
			s.absent("/many")
		}},
		{"a directory of several blocks: remove every other entry", func(s *scene) {
			for i := range o.many() {
				if i%2 == 0 {
					s.ok("remove", s.w.Remove(fmt.Sprintf("/many/file-with-a-longish-name-%04d", i)))
				}
			}
			s.absent("/many/file-with-a-longish-name-0000")
			s.content("/many/file-with-a-longish-name-0001", "1")
		}},
		{"truncate", func(s *scene) {
			s.ok("shrink", s.w.Truncate("/big", 5000))
			s.ok("grow", s.w.Truncate("/file", 9000))
			s.ok("to zero", s.w.Truncate("/etc/hostname", 0))
			s.content("/etc/hostname", "")
			if b, err := s.w.ReadFile("/big"); err != nil || !bytes.Equal(b, Big()[:5000]) {
				s.t.Errorf("%s: /big after truncate: %d bytes, %v", s.who, len(b), err)
			}
			if b, err := s.w.ReadFile("/file"); err != nil || len(b) != 9000 || b[0] != 'x' || bytes.ContainsFunc(b[1:], func(r rune) bool { return r != 0 }) {
				s.t.Errorf("%s: /file after growing: %d bytes, %v", s.who, len(b), err)
			}
			s.fails("truncate a directory", s.w.Truncate("/etc", 0), fs.ErrIsDir)
			s.fails("truncate a missing file", s.w.Truncate("/etc/none", 0), fs.ErrNotExist)
		}},
		{"utimes", func(s *scene) {
			mt := time.Date(2020, 1, 2, 3, 4, 6, 0, time.UTC)
			s.ok("utimes", s.w.Utimes("/etc/hostname", fs.Times{Atime: mt, Mtime: mt}))
			if a, err := s.w.Stat("/etc/hostname"); err != nil || !a.Mtime.Equal(mt) {
				s.t.Errorf("%s: mtime %v, %v; want %v", s.who, a.Mtime, err, mt)
			}
		}},
	}
	if !o.NoCreate {
		ss = append(ss, writeScenario{"create files and directories", func(s *scene) {
			s.ok("write /etc/new", s.w.WriteFile("/etc/new", []byte("one"), fs.WriteOptions{Perm: 0o640}))
			s.content("/etc/new", "one")
			s.ok("mkdir /newdir", s.w.Mkdir("/newdir", 0o700, root))
			s.fails("mkdir an existing name", s.w.Mkdir("/newdir", 0o700, root), fs.ErrExist)
			s.fails("mkdir the root", s.w.Mkdir("/", 0o700, root), fs.ErrInvalid)
			s.fails("mkdir below a missing directory", s.w.Mkdir("/nowhere/x", 0o700, root), fs.ErrNotExist)
			s.ok("write in it", s.w.WriteFile("/newdir/f", Big(), fs.WriteOptions{Perm: 0o644}))
			s.ok("mkdir in it", s.w.Mkdir("/newdir/d/", 0o755, root))
			s.fails("remove a non-empty directory", s.w.Remove("/newdir"), fs.ErrNotEmpty)
			s.ok("remove-all it", s.w.RemoveAll("/newdir"))
			s.absent("/newdir")
			s.ok("mkdir again", s.w.Mkdir("/newdir", 0o750, root))
		}}, writeScenario{"a directory of several blocks: add and remove entries", func(s *scene) {
			for i := range 200 {
				s.ok("write", s.w.WriteFile(fmt.Sprintf("/many/added-%03d", i), []byte("a"), fs.WriteOptions{Perm: 0o644}))
			}
			for i := range o.many() {
				if i%3 == 0 {
					s.ok("remove", s.w.Remove(fmt.Sprintf("/many/file-with-a-longish-name-%04d", i)))
				}
			}
			s.content("/many/added-199", "a")
		}})
	}
	if !o.NoOwners {
		ss = append(ss, writeScenario{"chmod and chown", func(s *scene) {
			s.ok("chmod", s.w.Chmod("/etc/hostname", 0o4755))
			s.ok("chown", s.w.Chown("/etc/machine-id", fs.Owner{UID: 1000, GID: 100}))
			s.ok("chown a directory", s.w.Chown("/dir/sub", fs.Owner{UID: 7, GID: 8}))
			if a, err := s.w.Stat("/etc/hostname"); err != nil || a.Perm() != 0o4755 {
				s.t.Errorf("%s: chmod: %o, %v", s.who, a.Perm(), err)
			}
			s.fails("chmod a missing file", s.w.Chmod("/etc/none", 0o644), fs.ErrNotExist)
		}})
	}
	if !o.NoRename {
		ss = append(ss, writeScenario{"rename", func(s *scene) {
			s.ok("rename a file", s.w.Rename("/etc/hostname", "/etc/hostname.old"))
			s.absent("/etc/hostname")
			s.content("/etc/hostname.old", "template\n")
			s.ok("rename over a file", s.w.Rename("/file", "/etc/machine-id"))
			s.content("/etc/machine-id", "x")
			s.ok("rename a directory to another parent", s.w.Rename("/dir/sub", "/var/sub"))
			s.content("/var/sub/file", "below\n")
			s.fails("rename a directory below itself", s.w.Rename("/var", "/var/sub/var"), fs.ErrInvalid)
			s.fails("rename over a non-empty directory", s.w.Rename("/dir/empty", "/var/sub"), fs.ErrNotEmpty)
			s.ok("rename over an empty directory", s.w.Rename("/var/sub", "/dir/empty"))
			s.fails("rename a missing file", s.w.Rename("/nothing", "/x"), fs.ErrNotExist)
		}})
	}
	if !o.NoSymlinks {
		ss = append(ss, writeScenario{"symlinks: create, write through, remove without following", func(s *scene) {
			s.ok("symlink", s.w.Symlink("../etc/hostname", "/dir/host", root))
			s.content("/dir/host", "template\n")
			long := "/" + strings.Repeat("long/", 30) + "target"
			s.ok("a long symlink", s.w.Symlink(long, "/dir/long", root))
			if got, err := s.w.Readlink("/dir/long"); err != nil || got != long {
				s.t.Errorf("%s: readlink /dir/long: %q, %v", s.who, got, err)
			}
			s.ok("write through a symlink", s.w.WriteFile("/dir/host", []byte("through\n"), fs.WriteOptions{}))
			s.content("/etc/hostname", "through\n")
			s.ok("write through a dangling symlink creates its target",
				s.w.WriteFile("/var/run/new.pid", []byte("1"), fs.WriteOptions{Perm: 0o644}))
			s.content("/run/new.pid", "1")
			s.ok("remove a symlink", s.w.Remove("/var/lib/dbus/machine-id"))
			s.content("/etc/machine-id", "0123456789abcdef0123456789abcdef\n")
			s.ok("remove-all through a symlinked directory", s.w.RemoveAll("/dirlink/sub"))
			s.absent("/dir/sub")
			s.ok("remove-all of a symlink to a directory removes the link", s.w.RemoveAll("/dirlink"))
			s.absent("/dirlink")
			s.fails("a symlink at an existing name", s.w.Symlink("x", "/abs", root), fs.ErrExist)
			s.fails("write through a loop", s.w.WriteFile("/loop1", nil, fs.WriteOptions{}), fs.ErrLoop)
		}})
	}
	if !o.NoLinks {
		ss = append(ss, writeScenario{"hard links", func(s *scene) {
			s.ok("link", s.w.Link("/etc/hostname", "/dir/hostname"))
			if a, err := s.w.Lstat("/dir/hostname"); err != nil || a.Nlink != 2 {
				s.t.Errorf("%s: nlink %d, %v", s.who, a.Nlink, err)
			}
			s.fails("link a directory", s.w.Link("/etc", "/etc2"), fs.ErrIsDir)
			s.ok("remove one name", s.w.Remove("/etc/hostname"))
			s.content("/dir/hostname", "template\n")
		}})
	}
	if !o.NoSpecial {
		ss = append(ss, writeScenario{"special files", func(s *scene) {
			s.ok("fifo", s.w.Mknod("/run/fifo", fs.ModeFIFO|0o600, 0, root))
			s.ok("char device", s.w.Mknod("/run/null", fs.ModeChar|0o666, 1<<8|3, root))
			s.fails("read a fifo", func() error { _, err := s.w.ReadFile("/run/fifo"); return err }(), fs.ErrInvalid)
		}})
	}
	return ss
}
