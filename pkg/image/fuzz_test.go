package image

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// FuzzResolveBacking feeds the backing-file policy arbitrary names, as a
// hostile image header would, in a tree holding regular files, symlinks
// leading in and out, a FIFO and a symlink to a device. Whatever the name,
// resolve either refuses it or returns a regular file inside the image's
// tree (or the AllowBacking tree). The committed seeds are the names of
// the policy table test.
func FuzzResolveBacking(f *testing.F) {
	root := f.TempDir()
	images, outside, allowed := filepath.Join(root, "images"), filepath.Join(root, "outside"), filepath.Join(root, "allowed")
	for _, d := range []string{filepath.Join(images, "sub"), outside, allowed} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			f.Fatal(err)
		}
	}
	for _, p := range []string{filepath.Join(images, "base.raw"), filepath.Join(images, "sub", "base.raw"),
		filepath.Join(outside, "base.raw"), filepath.Join(allowed, "base.raw")} {
		if err := os.WriteFile(p, []byte("disk"), 0o644); err != nil {
			f.Fatal(err)
		}
	}
	for link, target := range map[string]string{"out.raw": "../outside/base.raw", "in.raw": "sub/base.raw",
		"null": "/dev/null", "up": "..", "etc": "/etc", "allowed.raw": "../allowed/base.raw"} {
		if err := os.Symlink(target, filepath.Join(images, link)); err != nil {
			f.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(images, "fifo"), 0o644); err != nil {
		f.Fatal(err)
	}
	top := filepath.Join(images, "top.qcow2")
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		f.Fatal(err)
	}
	trees := []string{filepath.Join(realRoot, "images"), filepath.Join(realRoot, "allowed")}
	f.Add("base.raw")
	f.Fuzz(func(t *testing.T, name string) {
		c := newChain(OpenOptions{AllowBacking: []string{allowed}})
		real, fi, err := c.resolve(top, name)
		if err != nil {
			return
		}
		if !fi.Mode().IsRegular() {
			t.Fatalf("%q resolved to %s, not a regular file", name, real)
		}
		if !within(real, trees[0]) && !within(real, trees[1]) {
			t.Fatalf("%q resolved to %s, outside %v", name, real, trees)
		}
		if hasProtocol(name) {
			t.Fatalf("%q has a protocol and was resolved", name)
		}
	})
}
