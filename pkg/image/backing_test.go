package image

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/imgprep/imgprep/pkg/qcow2"
)

// createTop makes a 1 MiB qcow2 image at path whose header names backing
// with format fmt, without qemu-img looking at the backing file (-u). An
// empty fmt makes an image that records no backing format, as images
// from before QEMU 1.x: qemu-img 7.2 refuses to write one, so the backing
// format header extension (0xE2792ACA) is renamed to an unknown type, which
// readers skip.
func createTop(tb testing.TB, path, backing, format string) {
	tb.Helper()
	f := format
	if f == "" {
		f = "raw"
	}
	qemuImg(tb, "create", "-q", "-f", "qcow2", "-u", "-b", backing, "-F", f, path, "1M")
	if format != "" {
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	off := int(binary.BigEndian.Uint32(b[100:])) // header_length (v3)
	for off+8 <= len(b) {
		typ, n := binary.BigEndian.Uint32(b[off:]), int(binary.BigEndian.Uint32(b[off+4:]))
		if typ == 0 {
			tb.Fatal("no backing format extension found")
		}
		if typ == 0xE2792ACA {
			binary.BigEndian.PutUint32(b[off:], 0x1DB0BEEF)
			break
		}
		off += 8 + (n+7)&^7
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		tb.Fatal(err)
	}
	if info := qemuImg(tb, "info", "-U", path); strings.Contains(info, "backing file format") {
		tb.Fatalf("qemu-img still sees a backing format:\n%s", info)
	}
}

// policyTree is the directory layout of a policy case:
//
//	root/images/top.qcow2         the image under test
//	root/images/base.raw          a pattern, in the image's tree
//	root/images/sub/base.raw      a pattern, deeper in the tree
//	root/outside/base.raw         a pattern, outside the tree
type policyTree struct {
	root, images, outside, top string
}

func newPolicyTree(tb testing.TB) policyTree {
	tb.Helper()
	root := tb.TempDir()
	p := policyTree{root: root, images: filepath.Join(root, "images"), outside: filepath.Join(root, "outside")}
	p.top = filepath.Join(p.images, "top.qcow2")
	for _, d := range []string{p.images, filepath.Join(p.images, "sub"), p.outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	patternFile(tb, filepath.Join(p.images, "base.raw"), 1<<20, "in tree")
	patternFile(tb, filepath.Join(p.images, "sub", "base.raw"), 1<<20, "sub")
	patternFile(tb, filepath.Join(p.outside, "base.raw"), 1<<20, "outside")
	return p
}

func TestBackingFilePolicy(t *testing.T) {
	type tc struct {
		name    string
		setup   func(tb testing.TB, p policyTree) // makes p.top, and more
		opts    func(p policyTree) OpenOptions
		wantErr error
		// with wantErr nil: the backing file whose content the disk shows
		wantBase string
	}
	top := func(backing, format string) func(tb testing.TB, p policyTree) {
		return func(tb testing.TB, p policyTree) { createTop(tb, p.top, backing, format) }
	}
	none := func(policyTree) OpenOptions { return OpenOptions{} }
	cases := []tc{
		{"a relative name resolves in the directory of the image naming it", top("base.raw", "raw"), none, nil, "images/base.raw"},
		{"a relative name into a subdirectory of the image's tree", top("sub/base.raw", "raw"), none, nil, "images/sub/base.raw"},
		{"an absolute name inside the image's tree", func(tb testing.TB, p policyTree) {
			createTop(tb, p.top, filepath.Join(p.images, "base.raw"), "raw")
		}, none, nil, "images/base.raw"},
		{"../ leading out of the image's tree", top("../outside/base.raw", "raw"), none, ErrBackingOutsideTree, ""},
		{"an absolute name outside the tree (/etc/passwd)", top("/etc/passwd", "raw"), none, ErrBackingOutsideTree, ""},
		{"an absolute name outside the tree that does not exist is refused before any lookup", top("/nonexistent/imgprep/x.raw", "raw"), none, ErrBackingOutsideTree, ""},
		{"a symlink in the tree leading outside it", func(tb testing.TB, p policyTree) {
			if err := os.Symlink("../outside/base.raw", filepath.Join(p.images, "link.raw")); err != nil {
				tb.Fatal(err)
			}
			createTop(tb, p.top, "link.raw", "raw")
		}, none, ErrBackingOutsideTree, ""},
		{"a symlink in the tree leading inside it", func(tb testing.TB, p policyTree) {
			if err := os.Symlink("sub/base.raw", filepath.Join(p.images, "link.raw")); err != nil {
				tb.Fatal(err)
			}
			createTop(tb, p.top, "link.raw", "raw")
		}, none, nil, "images/sub/base.raw"},
		{"a tree listed in AllowBacking admits a file outside the image's tree", top("../outside/base.raw", "raw"),
			func(p policyTree) OpenOptions { return OpenOptions{AllowBacking: []string{p.outside}} }, nil, "outside/base.raw"},
		{"a device (/dev/null) is refused even inside an allowed tree", top("/dev/null", "raw"),
			func(policyTree) OpenOptions { return OpenOptions{AllowBacking: []string{"/dev"}} }, ErrBackingNotRegular, ""},
		{"a directory is not a backing file", top("sub", "raw"), none, ErrBackingNotRegular, ""},
		{"a FIFO is not a backing file (and is never opened)", func(tb testing.TB, p policyTree) {
			if err := syscall.Mkfifo(filepath.Join(p.images, "fifo"), 0o644); err != nil {
				tb.Fatal(err)
			}
			createTop(tb, p.top, "fifo", "raw")
		}, none, ErrBackingNotRegular, ""},
		{"a missing backing file", top("missing.raw", "raw"), none, fs.ErrNotExist, ""},
		{"no backing format recorded and none given", top("base.raw", ""), none, ErrBackingFormatUnknown, ""},
		{"no backing format recorded, OpenOptions.BackingFormat raw given", top("base.raw", ""),
			func(policyTree) OpenOptions { return OpenOptions{BackingFormat: "raw"} }, nil, "images/base.raw"},
		{"a recorded format that is neither raw nor qcow2", top("base.raw", "vmdk"), none, ErrBackingFormatUnknown, ""},
		{"a raw file recorded as qcow2 is not probed into raw", top("base.raw", "qcow2"), none, qcow2.ErrNotQcow2, ""},
		{"a raw backing file starting with the qcow2 magic is read as raw, never probed", func(tb testing.TB, p policyTree) {
			b, _ := os.ReadFile(filepath.Join(p.images, "base.raw"))
			copy(b, "QFI\xfb\x00\x00\x00\x03")
			os.WriteFile(filepath.Join(p.images, "base.raw"), b, 0o644)
			createTop(tb, p.top, "base.raw", "raw")
		}, none, nil, "images/base.raw"},
		{"an image naming itself is a loop", top("top.qcow2", "qcow2"), none, ErrBackingLoop, ""},
		{"two images naming each other are a loop", func(tb testing.TB, p policyTree) {
			createTop(tb, p.top, "b.qcow2", "qcow2")
			createTop(tb, filepath.Join(p.images, "b.qcow2"), "top.qcow2", "qcow2")
		}, none, ErrBackingLoop, ""},
		{"a hard link to the image is the same inode, a loop", func(tb testing.TB, p policyTree) {
			createTop(tb, p.top, "alias.qcow2", "qcow2")
			if err := os.Link(p.top, filepath.Join(p.images, "alias.qcow2")); err != nil {
				tb.Fatal(err)
			}
		}, none, ErrBackingLoop, ""},
	}
	for _, proto := range []string{
		"nbd://127.0.0.1:10809/export", "nbd:127.0.0.1:10809", "nbd+unix:///export?socket=/tmp/s",
		"http://example.invalid/base.img", "https://example.invalid/base.img", "ssh://user@host/base.img",
		"iscsi://127.0.0.1/iqn.2000-01.x:t/0", "gluster://h/v/base.img",
		`json:{"file.driver":"file","file.filename":"/etc/shadow"}`, "file:base.raw",
	} {
		cases = append(cases, tc{"a protocol name " + proto, top(proto, "raw"), none, ErrBackingProtocol, ""})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newPolicyTree(t)
			c.setup(t, p)
			sums := treeSums(t, p.root)
			opts := c.opts(p)
			opts.Write = true
			h, err := Open(p.top, opts)
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("Open error = %v, want %v", err, c.wantErr)
				}
				if c.wantErr != qcow2.ErrNotQcow2 && c.wantErr != ErrBackingLoop {
					var be *BackingError
					if !errors.As(err, &be) || be.Image != p.top {
						t.Fatalf("error %v is not a *BackingError naming %s", err, p.top)
					}
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				want, _ := os.ReadFile(filepath.Join(p.root, c.wantBase))
				if got := readAll(t, h); !bytes.Equal(got, want) {
					t.Fatalf("disk does not show %s", c.wantBase)
				}
				chain := h.Chain()
				real, _ := filepath.EvalSymlinks(filepath.Join(p.root, c.wantBase))
				if len(chain) != 2 || chain[1].Path != real || chain[1].Format != "raw" {
					t.Fatalf("Chain = %+v", chain)
				}
				if err := h.Close(); err != nil {
					t.Fatal(err)
				}
			}
			if after := treeSums(t, p.root); fmt.Sprint(after) != fmt.Sprint(sums) {
				t.Fatalf("files changed:\nbefore %v\nafter  %v", sums, after)
			}
		})
	}
}

// treeSums returns the sha256 of every regular file below root.
func treeSums(tb testing.TB, root string) map[string]string {
	tb.Helper()
	sums := map[string]string{}
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			sums[path] = sha256File(tb, path)
		}
		return nil
	})
	return sums
}

// chainOf makes a chain of n qcow2 images over base.raw in dir and returns
// the top one's path.
func chainOf(tb testing.TB, dir string, n int) string {
	tb.Helper()
	patternFile(tb, filepath.Join(dir, "base.raw"), 64<<10, "deep")
	prev, format := "base.raw", "raw"
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("layer%03d.qcow2", i)
		qemuImg(tb, "create", "-q", "-f", "qcow2", "-u", "-b", prev, "-F", format, filepath.Join(dir, name), "64K")
		prev, format = name, "qcow2"
	}
	return filepath.Join(dir, prev)
}

func TestBackingChainDepthIsBounded(t *testing.T) {
	dir := t.TempDir()
	chainOf(t, dir, 100)
	for _, tc := range []struct {
		name    string
		layers  int // opens layerNNN.qcow2: layers-1 qcow2 images and base.raw below it
		wantErr error
	}{
		{"a chain of MaxChainDepth backing files opens", MaxChainDepth, nil},
		{"one more backing file is too deep", MaxChainDepth + 1, ErrBackingTooDeep},
		{"a chain 100 deep is too deep", 100, ErrBackingTooDeep},
	} {
		t.Run(tc.name, func(t *testing.T) {
			top := filepath.Join(dir, fmt.Sprintf("layer%03d.qcow2", tc.layers))
			h, err := Open(top, OpenOptions{})
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Open: %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			defer h.Close()
			if n := len(h.Chain()); n != tc.layers+1 {
				t.Fatalf("Chain has %d layers, want %d", n, tc.layers+1)
			}
			b := make([]byte, 512)
			if _, err := h.ReadAt(b, 512); err != nil || binary.BigEndian.Uint64(b) != 1 || !bytes.HasPrefix(b[8:], []byte("deep")) {
				t.Fatalf("read through the chain: %q, %v", b[:12], err)
			}
		})
	}
}
