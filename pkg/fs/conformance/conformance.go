// Package conformance is a test suite for filesystem engines, in the
// style of testing/fstest: one function, Run, takes a factory making a
// fresh filesystem over a given tree, and runs the same read and write
// scenarios on it. Each scenario states what it expects (errors by
// sentinel, attributes, contents), and after each one the whole tree is
// compared with the same scenario run on the reference, pkg/fs/memfs: so
// memfs, the stand-in for ext4 in the operation tests, is held to what the
// real engines do, and they to it.
//
// An engine's test calls Run with an Options naming its factory and what
// it cannot do (a FAT filesystem has no symlinks, owners or permission
// bits). A factory for an on-disk engine builds the image with the real
// tools (mkfs.ext4 -d, mkfs.vfat and mcopy, mkfs.xfs -p, mkfs.btrfs
// --rootdir) from the host directory that Stage fills, opens it with the
// engine and returns its tree; Check then syncs and judges the image with
// the format's own checker (e2fsck -fn, fsck.fat -n, xfs_repair -n, btrfs
// check --readonly). For a new engine (XFS, btrfs):
//
//	func TestConformance(t *testing.T) {
//		conformance.Run(t, conformance.Options{
//			New: func(t *testing.T, entries []conformance.Entry) fs.WriteTree {
//				dir := conformance.Stage(t, entries)
//				img := makeImageFrom(t, dir) // mkfs.xfs -p, say
//				return openEngine(t, img)    // its fs.Tree
//			},
//			Check: func(t *testing.T, w fs.WriteTree) { syncAndRepairCheck(t, w) },
//		})
//	}
//
// A read-only engine sets ReadOnly; its factory may return any
// fs.ReadTree wrapped with ReadOnlyTree.
package conformance

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/fs/memfs"
)

// Entry is one file of the tree a factory builds. Parents come before
// their children; directories are listed.
type Entry struct {
	Path   string
	Type   fs.FileType // TypeRegular, TypeDir or TypeSymlink
	Data   string      // regular file content
	Target string      // symlink target
	Perm   uint32
}

// Options says how to make the filesystem under test and what it cannot
// do.
type Options struct {
	// New returns a fresh filesystem holding entries, owned by root.
	New func(t *testing.T, entries []Entry) fs.WriteTree
	// Check, when set, is called after every write scenario: it syncs the
	// filesystem and judges it with an external checker.
	Check func(t *testing.T, w fs.WriteTree)
	// ReadOnly: only the read scenarios run.
	ReadOnly bool
	// NoSymlinks, NoOwners (no uid/gid or permission bits), NoLinks (no
	// hard links), NoSpecial (no device nodes, fifos, sockets), NoRename:
	// what the format or engine lacks. The scenarios needing them do not
	// run, and the tree comparison leaves those attributes out.
	NoSymlinks, NoOwners, NoLinks, NoSpecial, NoRename bool
	// NoCreate: files and directories cannot be created (only existing
	// ones changed or removed).
	NoCreate bool
	// Extra entries are added to the tree (and to the reference): what a
	// factory needs there, such as a guest's /etc/fstab.
	Extra []Entry
	// Many is the number of files in /many (default 300): enough for a
	// directory of several blocks.
	Many int
}

func (o *Options) many() int {
	if o.Many == 0 {
		return 300
	}
	return o.Many
}

// BigSize is the size of /big, a file of several blocks in any format.
const BigSize = 70000

// Big returns the content of /big.
func Big() []byte {
	b := make([]byte, BigSize)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// Entries returns the tree every scenario starts from.
func (o *Options) Entries() []Entry {
	d := func(p string) Entry { return Entry{Path: p, Type: fs.TypeDir, Perm: 0o755} }
	f := func(p, data string, perm uint32) Entry {
		return Entry{Path: p, Type: fs.TypeRegular, Data: data, Perm: perm}
	}
	l := func(p, target string) Entry { return Entry{Path: p, Type: fs.TypeSymlink, Target: target, Perm: 0o777} }
	es := []Entry{
		d("/etc"), f("/etc/hostname", "template\n", 0o644), f("/etc/machine-id", "0123456789abcdef0123456789abcdef\n", 0o444),
		d("/var"), d("/var/lib"), d("/var/lib/dbus"), d("/run"), f("/run/status.json", "{}", 0o644),
		d("/dir"), d("/dir/sub"), f("/dir/sub/file", "below\n", 0o600), d("/dir/empty"),
		f("/file", "x", 0o600), f("/empty", "", 0o644), f("/big", string(Big()), 0o644),
		d("/many"),
	}
	for i := range o.many() {
		es = append(es, f(fmt.Sprintf("/many/file-with-a-longish-name-%04d", i), fmt.Sprint(i), 0o644))
	}
	if !o.NoSymlinks {
		es = append(es,
			l("/var/lib/dbus/machine-id", "/etc/machine-id"), l("/var/run", "../run"),
			l("/escape", "../../../../../etc"), l("/abs", "/etc/hostname"), l("/rel", "etc/hostname"),
			l("/loop1", "/loop2"), l("/loop2", "/loop1"), l("/self", "self"),
			l("/dangling", "/nowhere/file"), l("/root-link", "/"), l("/dirlink", "dir"),
			d("/chain"))
		for i := range fs.MaxSymlinkHops {
			es = append(es, l(fmt.Sprintf("/chain/%d", i), fmt.Sprintf("/chain/%d", i+1)))
		}
		es = append(es, f(fmt.Sprintf("/chain/%d", fs.MaxSymlinkHops), "end", 0o644), l("/chain/start", "/chain/0"))
	}
	return append(es, o.Extra...)
}

// Stage writes entries below a new temporary directory, for the real
// tools that build an image from a directory, and returns it.
func Stage(t *testing.T, entries []Entry) string {
	t.Helper()
	dir := t.TempDir()
	for _, e := range entries {
		p := filepath.Join(dir, filepath.FromSlash(e.Path))
		var err error
		switch e.Type {
		case fs.TypeDir:
			if err = os.Mkdir(p, 0o755); err == nil {
				err = os.Chmod(p, os.FileMode(e.Perm&0o777))
			}
		case fs.TypeRegular:
			if err = os.WriteFile(p, []byte(e.Data), 0o600); err == nil {
				err = os.Chmod(p, os.FileMode(e.Perm&0o777))
			}
		case fs.TypeSymlink:
			err = os.Symlink(e.Target, p)
		default:
			err = fmt.Errorf("entry type %v", e.Type)
		}
		if err != nil {
			t.Fatalf("staging %s: %v", e.Path, err)
		}
	}
	return dir
}

// Reference returns the reference filesystem, a memfs holding entries.
func Reference(entries []Entry) *memfs.FS {
	m := memfs.New()
	for _, e := range entries {
		switch e.Type {
		case fs.TypeDir:
			m.AddDir(e.Path, e.Perm)
		case fs.TypeRegular:
			m.AddFile(e.Path, e.Data, e.Perm)
		case fs.TypeSymlink:
			m.AddSymlink(e.Path, e.Target)
		}
	}
	return m
}

// Run runs every scenario the engine can take on filesystems from o.New.
func Run(t *testing.T, o Options) {
	t.Helper()
	entries := o.Entries()
	t.Run("read", func(t *testing.T) {
		tree := o.New(t, entries)
		ref := Reference(entries)
		for _, c := range readCases(&o) {
			t.Run(c.name, func(t *testing.T) { c.check(t, tree) })
		}
		compareTrees(t, &o, tree, ref)
	})
	if o.ReadOnly {
		return
	}
	for _, s := range writeScenarios(&o) {
		t.Run("write/"+s.name, func(t *testing.T) {
			ref := Reference(entries)
			s.run(&scene{t: t, w: ref, who: "reference memfs"})
			if t.Failed() {
				return
			}
			w := o.New(t, entries)
			s.run(&scene{t: t, w: w, who: "engine"})
			if o.Check != nil {
				o.Check(t, w)
			}
			compareTrees(t, &o, w, ref)
		})
	}
}

// Dump describes every file below "/" of tree, one line each, sorted: the
// path, type, and (as o allows) permission bits, owner, link count, size
// and a digest of the content or the symlink target.
func Dump(t *testing.T, o *Options, tree fs.ReadTree) []string {
	t.Helper()
	var out []string
	todo := []string{"/"}
	for len(todo) > 0 {
		dir := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		ents, err := tree.ReadDir(dir)
		if err != nil {
			t.Fatalf("readdir %s: %v", dir, err)
		}
		for _, e := range ents {
			p := path.Join(dir, e.Name)
			if e.Name == "lost+found" {
				continue // made by mkfs.ext4 (in the root of each filesystem)
			}
			a, err := tree.Lstat(p)
			if err != nil {
				t.Fatalf("lstat %s: %v", p, err)
			}
			if a.Type() != e.Type {
				t.Errorf("%s: readdir says %v, lstat %v", p, e.Type, a.Type())
			}
			line := p + " " + a.Type().String()
			if !o.NoOwners {
				line += fmt.Sprintf(" %04o %d:%d", a.Perm(), a.UID, a.GID)
			}
			switch a.Type() {
			case fs.TypeDir:
				todo = append(todo, p)
			case fs.TypeRegular:
				b, err := tree.ReadFile(p)
				if err != nil {
					t.Fatalf("read %s: %v", p, err)
				}
				if int64(len(b)) != a.Size {
					t.Errorf("%s: read %d bytes, size %d", p, len(b), a.Size)
				}
				line += fmt.Sprintf(" size=%d sha=%x", a.Size, sha256.Sum256(b))
				if !o.NoLinks {
					line += fmt.Sprintf(" nlink=%d", a.Nlink)
				}
			case fs.TypeSymlink:
				target, err := tree.Readlink(p)
				if err != nil {
					t.Fatalf("readlink %s: %v", p, err)
				}
				line += " -> " + target
			default:
				line += fmt.Sprintf(" rdev=%d", a.Rdev)
			}
			out = append(out, line)
		}
	}
	slices.Sort(out)
	return out
}

// compareTrees fails t where tree and the reference differ.
func compareTrees(t *testing.T, o *Options, tree, ref fs.ReadTree) {
	t.Helper()
	got, want := Dump(t, o, tree), Dump(t, o, ref)
	if slices.Equal(got, want) {
		return
	}
	var diff []string
	for _, l := range got {
		if !slices.Contains(want, l) {
			diff = append(diff, "+ "+l)
		}
	}
	for _, l := range want {
		if !slices.Contains(got, l) {
			diff = append(diff, "- "+l)
		}
	}
	t.Errorf("the tree differs from the reference memfs (+ engine, - reference):\n%s", strings.Join(diff, "\n"))
}

// wantErr fails t unless err matches want (nil: no error).
func wantErr(t *testing.T, who, what string, err, want error) bool {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Errorf("%s: %s: %v", who, what, err)
		return false
	case want != nil && !errors.Is(err, want):
		t.Errorf("%s: %s: err %v, want %v", who, what, err, want)
		return false
	}
	return true
}
