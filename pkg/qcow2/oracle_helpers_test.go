package qcow2_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/qcow2"
	"github.com/imgprep/imgprep/pkg/storage"
)

// chainFixture is a committed qcow2 fixture together with the members of its
// backing chain, which must sit in the same directory.
type chainFixture struct {
	name    string   // the image under test
	members []string // backing files, base first
	// preallocated: every cluster is allocated (preallocation=metadata),
	// so no extent need read as zero.
	preallocated bool
}

// readFixtures are every readable qcow2 fixture made by gen.d/qcow2.sh.
var readFixtures = []chainFixture{
	{name: "qcow2-v2.qcow2"},
	{name: "qcow2-v3.qcow2"},
	{name: "qcow2-c512.qcow2"},
	{name: "qcow2-c4k.qcow2"},
	{name: "qcow2-c64k.qcow2"},
	{name: "qcow2-c2m.qcow2"},
	{name: "qcow2-deflate.qcow2"},
	{name: "qcow2-zstd.qcow2"},
	{name: "qcow2-zero.qcow2"},
	{name: "qcow2-chain-base.qcow2"},
	{name: "qcow2-chain-mid.qcow2", members: []string{"qcow2-chain-base.qcow2"}},
	{name: "qcow2-chain-top.qcow2", members: []string{"qcow2-chain-base.qcow2", "qcow2-chain-mid.qcow2"}},
	{name: "qcow2-rawback-top.qcow2", members: []string{"qcow2-rawback-base.raw"}},
	{name: "qcow2-extl2.qcow2"},
	{name: "qcow2-snapshot.qcow2"},
	{name: "qcow2-extl2-top.qcow2", members: []string{"qcow2-chain-base.qcow2"}},
	{name: "qcow2-v2-top.qcow2", members: []string{"qcow2-chain-base.qcow2"}},
	{name: "qcow2-comp-top.qcow2", members: []string{"qcow2-chain-base.qcow2"}},
	{name: "qcow2-prealloc.qcow2", preallocated: true},
	{name: "qcow2-rc1.qcow2"},
}

// place decompresses the fixture and its chain into dir and returns the
// path of the image under test and the paths of its backing files.
func (c chainFixture) place(tb testing.TB, dir string) (string, []string) {
	tb.Helper()
	var members []string
	for _, m := range c.members {
		members = append(members, fixture.PathIn(tb, m, dir))
	}
	return fixture.PathIn(tb, c.name, dir), members
}

// errResolverBound is the test resolver refusing to open more backing files
// than its bound, whatever the engine does about depth.
var errResolverBound = errors.New("test resolver: too many backing files opened")

// resolver opens backing files by name relative to one directory, read-only
// with os.Open: qcow2 ones with qcow2.Open (resolving their own backing
// files through the same resolver), raw ones as they are. It refuses
// absolute names and names leaving the directory, and opens at most max
// files, so a loop cannot recurse without end. Every file it opened is
// closed at cleanup.
type resolver struct {
	tb     testing.TB
	dir    string
	max    int
	opened int
}

func newResolver(tb testing.TB, dir string, max int) *resolver {
	tb.Helper()
	return &resolver{tb: tb, dir: dir, max: max}
}

func (r *resolver) open(name, format string) (qcow2.Backing, error) {
	if r.opened >= r.max {
		return nil, fmt.Errorf("%w (%d)", errResolverBound, r.max)
	}
	if filepath.IsAbs(name) || name != filepath.Clean(name) || strings.HasPrefix(name, "..") {
		return nil, fmt.Errorf("test resolver: backing name %q leaves %s", name, r.dir)
	}
	f, err := os.Open(filepath.Join(r.dir, name))
	if err != nil {
		return nil, err
	}
	r.opened++
	r.tb.Cleanup(func() { f.Close() })
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	switch format {
	case "raw":
		return rawBacking{f: f, size: st.Size()}, nil
	case "qcow2", "":
		return qcow2.Open(f, st.Size(), qcow2.Options{ReadOnly: true, Name: name, Backing: r.open})
	}
	return nil, fmt.Errorf("test resolver: backing format %q", format)
}

// rawBacking is a raw backing file.
type rawBacking struct {
	f    *os.File
	size int64
}

func (b rawBacking) ReadAt(p []byte, off int64) (int, error) { return b.f.ReadAt(p, off) }
func (b rawBacking) Size() int64                             { return b.size }
func (b rawBacking) Close() error                            { return nil }

// openRO opens the qcow2 image at path read-only with qcow2.Open, its
// backing files resolved in its directory.
func openRO(tb testing.TB, path string) *qcow2.Image {
	tb.Helper()
	f, size := fixture.Open(tb, path, os.O_RDONLY)
	img, err := qcow2.Open(f, size, qcow2.Options{
		ReadOnly: true, Name: filepath.Base(path),
		Backing: newResolver(tb, filepath.Dir(path), 16).open,
	})
	if err != nil {
		tb.Fatalf("qcow2.Open %s: %v", path, err)
	}
	tb.Cleanup(func() { img.Close() })
	return img
}

// readAll reads the whole virtual disk of r in 1 MiB requests.
func readAll(tb testing.TB, r io.ReaderAt, size int64) []byte {
	tb.Helper()
	out := make([]byte, size)
	for off := int64(0); off < size; off += 1 << 20 {
		end := min(size, off+1<<20)
		if n, err := r.ReadAt(out[off:end], off); n != int(end-off) || (err != nil && err != io.EOF) {
			tb.Fatalf("ReadAt(%d bytes at %d) = %d, %v", end-off, off, n, err)
		}
	}
	return out
}

// qemuRaw returns the virtual disk of the image at path as qemu-img
// convert -O raw reads it.
func qemuRaw(tb testing.TB, path string) []byte {
	tb.Helper()
	dst := filepath.Join(tb.TempDir(), filepath.Base(path)+".raw")
	oracle.QemuImgConvertRaw(tb, path, dst)
	b, err := os.ReadFile(dst)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// sameBytes fails the test naming the first differing byte.
func sameBytes(tb testing.TB, what string, got, want []byte) {
	tb.Helper()
	if bytes.Equal(got, want) {
		return
	}
	if len(got) != len(want) {
		tb.Fatalf("%s: %d bytes, want %d", what, len(got), len(want))
	}
	i := firstDiff(got, want)
	tb.Fatalf("%s: first difference at byte %d (cluster-relative %#x): got % x, want % x",
		what, i, i%65536, got[i:min(len(got), i+16)], want[i:min(len(want), i+16)])
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// fileSum returns the sha256 of the file at path.
func fileSum(tb testing.TB, path string) string {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// waitUnlocked waits (up to 5 s) until no process holds QEMU's locks on
// path. Closing our file does not release its OFD locks at once when
// another goroutine of the test binary has just forked a child (qemu-img
// for a parallel subtest) that still shares the open file description
// until it execs; under load that window is long enough for the next
// qemu-img to see our lock.
func waitUnlocked(tb testing.TB, path string) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		l, err := storage.Probe(path)
		if err != nil {
			tb.Fatalf("storage.Probe %s: %v", path, err)
		}
		if !l.Any() {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s still locked 5 s after we closed it: %v", path, l)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
