package ext4

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/imgprep/imgprep/internal/deadline"
	"github.com/imgprep/imgprep/pkg/fs"
)

// TestSymlinkHopLimitIsTheKernels checks the hop limit at the edge, on an
// image mkfs.ext4 -d made from a host tree holding a chain of symlinks
// /chain/0 -> 1 -> ... -> 41, a file: 41 links from 0, 40 from 1. Linux
// (MAXSYMLINKS = 40) resolves 40 and fails the 41st with ELOOP; the host
// kernel, resolving the same tree, is asked first, and the engine must
// agree with it on every path, each under a deadline.
func TestSymlinkHopLimitIsTheKernels(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	if err := os.MkdirAll(filepath.Join(src, "chain"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i := 0; i <= fs.MaxSymlinkHops; i++ {
		if err := os.Symlink(strconv.Itoa(i+1), filepath.Join(src, "chain", strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	end := filepath.Join(src, "chain", strconv.Itoa(fs.MaxSymlinkHops+1))
	if err := os.WriteFile(end, []byte("end\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	img := mkfs(t, testConfigs()[0], src)
	f := openRO(t, img)
	tests := []struct {
		name string
		path string
		// kernel is what the host kernel must say (nil: it reads "end\n").
		kernel error
		want   error
	}{
		{"a chain of exactly 40 symlinks resolves", "/chain/1", nil, nil},
		{"a chain of 41 symlinks is ELOOP", "/chain/0", syscall.ELOOP, fs.ErrLoop},
		{"39 symlinks resolve", "/chain/2", nil, nil},
		{"41 symlinks on the way to a name are ELOOP", "/chain/0/x", syscall.ELOOP, fs.ErrLoop},
		{"40 symlinks to a file, then a name, is ENOTDIR", "/chain/1/x", syscall.ENOTDIR, fs.ErrNotDir},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, kerr := os.ReadFile(filepath.Join(src, tt.path))
			if !errors.Is(kerr, tt.kernel) || (tt.kernel == nil) != (kerr == nil) {
				t.Fatalf("the host kernel reads %s with %v, the test expects %v", tt.path, kerr, tt.kernel)
			}
			got, err := deadline.Call(t, fmt.Sprintf("ReadFile(%q)", tt.path), func() ([]byte, error) { return f.ReadFile(tt.path) })
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("ReadFile(%s) = %q, %v; want %v", tt.path, got, err, tt.want)
				}
			} else if err != nil || string(got) != "end\n" {
				t.Fatalf("ReadFile(%s) = %q, %v; want \"end\\n\"", tt.path, got, err)
			}
			a, err := deadline.Call(t, fmt.Sprintf("Stat(%q)", tt.path), func() (fs.Attr, error) { return f.Stat(tt.path) })
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("Stat(%s) = %+v, %v; want %v", tt.path, a, err, tt.want)
				}
			} else if err != nil || a.Type() != fs.TypeRegular || a.Size != 4 {
				t.Fatalf("Stat(%s) = %+v, %v; want the 4-byte file", tt.path, a, err)
			}
		})
	}
	// Lstat does not follow the final link, whatever the chain behind it.
	if a, err := f.Lstat("/chain/0"); err != nil || a.Type() != fs.TypeSymlink {
		t.Errorf("Lstat(/chain/0) = %+v, %v; want the symlink itself", a, err)
	}
	// The write side resolves with the same limit: a write through 41
	// links is ELOOP and changes nothing; through 40 it lands on the file.
	w, _ := openRW(t, img)
	if err := deadline.Err(t, "WriteFile(/chain/0)", func() error {
		return w.WriteFile("/chain/0", []byte("x"), fs.WriteOptions{})
	}); !errors.Is(err, fs.ErrLoop) {
		t.Errorf("WriteFile through 41 links: %v, want fs.ErrLoop", err)
	}
	if err := deadline.Err(t, "WriteFile(/chain/1)", func() error {
		return w.WriteFile("/chain/1", []byte("new\n"), fs.WriteOptions{})
	}); err != nil {
		t.Fatalf("WriteFile through 40 links: %v", err)
	}
	if got, err := w.ReadFile("/chain/" + strconv.Itoa(fs.MaxSymlinkHops+1)); err != nil || string(got) != "new\n" {
		t.Errorf("after a write through 40 links the file holds %q, %v", got, err)
	}
}
