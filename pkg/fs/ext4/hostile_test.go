package ext4_test

import (
	"bytes"
	"errors"
	"os"
	"path"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/fs/ext4"
)

// The hostile fixtures of testdata/images/gen.d/hostile.sh: "Loops end
// with an error: an extent tree pointing at itself, a directory cycle, an
// indirect block pointing back", and "every size read from the image is
// bounded before anything is allocated from it". Each case names the
// documented error: errors.Is ext4.ErrCorrupt, and a *ext4.CorruptError
// naming the structure and its byte offset.

// hostileBudget bounds what one hostile case may take: wall time (a loop
// would hang) and bytes allocated (a size taken on trust would ask for
// gigabytes). The fixtures are 8 MiB.
const (
	hostileTime  = 20 * time.Second
	hostileBytes = 64 << 20
)

// bounded runs fn, failing the test if it takes longer than hostileTime
// or allocates more than hostileBytes, and returns its error.
func bounded(tb testing.TB, what string, fn func() error) error {
	tb.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	done := make(chan error, 1)
	go func() { done <- fn() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(hostileTime):
		tb.Fatalf("%s: no answer after %v: a loop the engine does not end", what, hostileTime)
	}
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > hostileBytes {
		tb.Fatalf("%s: allocated %d bytes, over the bound of %d", what, n, hostileBytes)
	}
	return err
}

// wantCorrupt fails the test unless err is a *CorruptError (wrapping
// ErrCorrupt) whose structure and reason contain the given words and
// whose offset is the given one (-1: unknown, anything accepted).
func wantCorrupt(tb testing.TB, what string, err error, structure, reason string, offset int64) {
	tb.Helper()
	var ce *ext4.CorruptError
	switch {
	case err == nil:
		tb.Fatalf("%s: no error, want a corrupt %s", what, structure)
	case !errors.Is(err, ext4.ErrCorrupt) || !errors.As(err, &ce):
		tb.Fatalf("%s: %v, want ext4.ErrCorrupt with a *CorruptError", what, err)
	case !strings.Contains(ce.Structure, structure) || !strings.Contains(ce.Reason, reason):
		tb.Fatalf("%s: corrupt %q: %q, want %q: %q", what, ce.Structure, ce.Reason, structure, reason)
	case offset >= 0 && ce.Offset != offset:
		tb.Fatalf("%s: offset %d, want %d", what, ce.Offset, offset)
	}
}

// openHostile opens the fixture's private copy read-only, or for writing.
func openHostile(tb testing.TB, img string, write bool) (*ext4.FS, *os.File, error) {
	tb.Helper()
	flag := os.O_RDONLY
	if write {
		flag = os.O_RDWR
	}
	file, err := os.OpenFile(img, flag, 0)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { file.Close() })
	st, err := file.Stat()
	if err != nil {
		tb.Fatal(err)
	}
	var f *ext4.FS
	err = bounded(tb, "open", func() (err error) {
		if write {
			f, err = ext4.OpenWritable(file, st.Size(), ext4.Options{Name: "hostile", Now: func() time.Time { return time.Unix(1700000000, 0) }})
		} else {
			f, err = ext4.Open(file, st.Size())
		}
		return err
	})
	return f, file, err
}

// walkAll lists the whole tree below dir as a naive recursive walker
// would, breadth first, and returns the first error; it gives up (failing
// the test) past maxEntries, which a cycle would otherwise exceed.
func walkAll(tb testing.TB, f *ext4.FS, dir string) error {
	tb.Helper()
	const maxEntries = 10000
	n := 0
	todo := []string{dir}
	for len(todo) > 0 {
		d := todo[0]
		todo = todo[1:]
		ents, err := f.ReadDir(d)
		if err != nil {
			return err
		}
		for _, e := range ents {
			if n++; n > maxEntries {
				tb.Fatalf("walk of %s: over %d entries without an error: a directory cycle not caught", dir, maxEntries)
			}
			if e.Type == fs.TypeDir {
				todo = append(todo, path.Join(d, e.Name))
			}
		}
	}
	return nil
}

func TestHostileFixturesEndWithTheirDocumentedError(t *testing.T) {
	type check struct {
		what string
		op   func(t *testing.T, f *ext4.FS) error
	}
	for _, tc := range []struct {
		name    string
		fixture string
		// openErr: Open itself must fail so (nothing else runs).
		openErr bool
		reads   []check // on a read-only FS: each must fail as documented
		writes  []check // on a writable FS: each must fail as documented and write nothing
		// the documented error
		structure, reason string
		offset            int64
	}{
		{
			name:    "an extent tree pointing at itself: an index entry whose child is its own block",
			fixture: "hostile-extent-loop.img",
			reads: []check{
				{"read /var/log/syslog", func(_ *testing.T, f *ext4.FS) error { _, err := f.ReadFile("/var/log/syslog"); return err }},
			},
			writes: []check{
				{"remove /var/log/syslog", func(_ *testing.T, f *ext4.FS) error { return f.Remove("/var/log/syslog") }},
				{"truncate /var/log/syslog", func(_ *testing.T, f *ext4.FS) error { return f.Truncate("/var/log/syslog", 0) }},
			},
			structure: "extent node of inode 29", reason: "already in the tree", offset: 1639 * 1024,
		},
		{
			name:    "a directory cycle: a subdirectory entry pointing at an ancestor's inode",
			fixture: "hostile-dir-cycle.img",
			reads: []check{
				{"readdir /var/tmp/sub/loop", func(_ *testing.T, f *ext4.FS) error { _, err := f.ReadDir("/var/tmp/sub/loop"); return err }},
				{"lstat through the cycle", func(_ *testing.T, f *ext4.FS) error { _, err := f.Lstat("/var/tmp/sub/loop/sub/file"); return err }},
				{"a naive walk of /var", func(t *testing.T, f *ext4.FS) error { return walkAll(t, f, "/var") }},
			},
			writes: []check{
				{"remove below the cycle", func(_ *testing.T, f *ext4.FS) error { return f.Remove("/var/tmp/sub/loop/sub/file") }},
				{"a naive walk of /", func(t *testing.T, f *ext4.FS) error { return walkAll(t, f, "/") }},
			},
			structure: "inode 30", reason: "directory cycle", offset: -1,
		},
		{
			name:    "a directory cycle: removing the tree that holds it finds the directory linked twice",
			fixture: "hostile-dir-cycle.img",
			writes: []check{
				{"remove all of /var/tmp/sub", func(_ *testing.T, f *ext4.FS) error { return f.RemoveAll("/var/tmp/sub") }},
			},
			structure: "inode", reason: "directory linked twice", offset: -1,
		},
		{
			name:    "an indirect block pointing back at itself (ext2): freeing the file finds the block referenced twice",
			fixture: "hostile-indirect-loop.img",
			writes: []check{
				{"remove /var/log/syslog", func(_ *testing.T, f *ext4.FS) error { return f.Remove("/var/log/syslog") }},
				{"truncate /var/log/syslog", func(_ *testing.T, f *ext4.FS) error { return f.Truncate("/var/log/syslog", 0) }},
			},
			structure: "block list", reason: "referenced twice", offset: -1,
		},
		{
			name:      "a huge inode count, inconsistent with groups x inodes per group: the superblock is refused",
			fixture:   "hostile-sb-inodes.img",
			openErr:   true,
			structure: "superblock", reason: "inodes in 1 groups", offset: 1024,
		},
		{
			name:      "a huge block count (524288 groups) on an 8 MiB device: refused before the descriptors are read",
			fixture:   "hostile-sb-groups.img",
			openErr:   true,
			structure: "superblock", reason: "do not fit", offset: 1024,
		},
		{
			name:    "a directory block with rec_len 0",
			fixture: "hostile-dir-reclen0.img",
			reads: []check{
				{"readdir /etc/ssh", func(_ *testing.T, f *ext4.FS) error { _, err := f.ReadDir("/etc/ssh"); return err }},
				{"lstat a name in /etc/ssh", func(_ *testing.T, f *ext4.FS) error { _, err := f.Lstat("/etc/ssh/ssh_host_ed25519_key"); return err }},
			},
			writes: []check{
				{"remove a name in /etc/ssh", func(_ *testing.T, f *ext4.FS) error { return f.Remove("/etc/ssh/ssh_host_ed25519_key") }},
				{"create a name in /etc/ssh", func(_ *testing.T, f *ext4.FS) error {
					return f.WriteFile("/etc/ssh/new", []byte("x"), fs.WriteOptions{Perm: 0o644})
				}},
			},
			structure: "directory block 0 of inode 17", reason: "rec_len 0", offset: -1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := fixture.Path(t, tc.fixture)
			orig, err := os.ReadFile(img)
			if err != nil {
				t.Fatal(err)
			}
			for _, write := range []bool{false, true} {
				f, _, err := openHostile(t, img, write)
				if tc.openErr {
					wantCorrupt(t, "open", err, tc.structure, tc.reason, tc.offset)
					continue
				}
				if err != nil {
					t.Fatalf("open (write %v): %v; the damage lies deeper and opening must work", write, err)
				}
				list := tc.reads
				if write {
					list = tc.writes
				}
				for _, c := range list {
					err := bounded(t, c.what, func() error { return c.op(t, f) })
					wantCorrupt(t, c.what, err, tc.structure, tc.reason, tc.offset)
				}
				if write {
					if err := bounded(t, "sync", f.Sync); err != nil {
						t.Fatalf("sync after the refused writes: %v", err)
					}
				}
			}
			if got, err := os.ReadFile(img); err != nil || !bytes.Equal(got, orig) {
				t.Fatalf("the refused operations changed the image (%v)", err)
			}
		})
	}
}

// TestAnIndirectBlockPointingBackReadsBounded: reading through an
// indirect block that names itself does not loop (a block map has at most
// three levels): the entry maps to the indirect block's own bytes, as the
// kernel would read them, and the read ends with what debugfs cat reads.
func TestAnIndirectBlockPointingBackReadsBounded(t *testing.T) {
	img := fixture.Path(t, "hostile-indirect-loop.img")
	f, _, err := openHostile(t, img, false)
	if err != nil {
		t.Fatal(err)
	}
	var data []byte
	if err := bounded(t, "read /var/log/syslog", func() (err error) { data, err = f.ReadFile("/var/log/syslog"); return err }); err != nil {
		t.Fatalf("read: %v", err)
	}
	want, ok := oracle.DebugfsCat(t, img, "/var/log/syslog")
	if !ok || len(want) < 18*1024 {
		t.Fatalf("debugfs cat: %d bytes (found %v)", len(want), ok)
	}
	if !bytes.Equal(data, want) {
		t.Fatalf("read %d bytes, debugfs cat reads %d other ones", len(data), len(want))
	}
}
