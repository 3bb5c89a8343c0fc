package ext4

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/fs"
)

// mkfsConfig is one way of making a test filesystem with the real mkfs.
type mkfsConfig struct {
	name      string
	fsType    string // ext2, ext3, ext4
	blockSize int
	features  string // -O argument, "" for defaults
	inodeSize int    // 0 for default
	sizeMiB   int
}

// testConfigs are the filesystem flavours every read and write test runs
// on.
func testConfigs() []mkfsConfig {
	return []mkfsConfig{
		{name: "ext4-4k", fsType: "ext4", blockSize: 4096, sizeMiB: 32},
		{name: "ext4-1k", fsType: "ext4", blockSize: 1024, sizeMiB: 16},
		{name: "ext4-csum-seed", fsType: "ext4", blockSize: 4096, features: "metadata_csum_seed", sizeMiB: 32},
		{name: "ext4-gdt-csum", fsType: "ext4", blockSize: 4096, features: "^metadata_csum,uninit_bg", sizeMiB: 32},
		{name: "ext4-no64bit", fsType: "ext4", blockSize: 1024, features: "^64bit", sizeMiB: 16},
		{name: "ext4-inline", fsType: "ext4", blockSize: 4096, features: "inline_data", sizeMiB: 32},
		{name: "ext4-128-inode", fsType: "ext4", blockSize: 1024, inodeSize: 128, sizeMiB: 16},
		{name: "ext4-1k-inode", fsType: "ext4", blockSize: 4096, inodeSize: 1024, sizeMiB: 32},
		{name: "ext3-1k", fsType: "ext3", blockSize: 1024, sizeMiB: 16},
		{name: "ext2-4k", fsType: "ext2", blockSize: 4096, sizeMiB: 32},
		{name: "ext2-1k-linear-dirs", fsType: "ext2", blockSize: 1024, features: "^dir_index", sizeMiB: 16},
		{name: "ext4-orphan-file", fsType: "ext4", blockSize: 4096, features: "orphan_file", sizeMiB: 32},
	}
}

// mkfs makes a filesystem image of cfg from the directory src (may be "")
// and returns its path.
func mkfs(tb testing.TB, cfg mkfsConfig, src string) string {
	tb.Helper()
	img := filepath.Join(tb.TempDir(), cfg.name+".img")
	args := []string{"-q", "-F", "-t", cfg.fsType, "-b", fmt.Sprint(cfg.blockSize),
		"-U", "0b7c2f4e-5a61-4c2d-9d1e-3f2a1b0c9d8e", "-E", "hash_seed=6a3e7c1d-2b4f-4e8a-9c0d-1f2e3d4c5b6a",
		"-L", "imgtest"}
	if cfg.features != "" {
		args = append(args, "-O", cfg.features)
	}
	if cfg.inodeSize != 0 {
		args = append(args, "-I", fmt.Sprint(cfg.inodeSize))
	}
	if src != "" {
		args = append(args, "-d", src)
	}
	args = append(args, img, fmt.Sprintf("%dM", cfg.sizeMiB))
	out, errOut, code := oracle.Run(tb, "mkfs.ext4", args...)
	if code != 0 {
		tb.Fatalf("mkfs.ext4 %v: exit %d: %s%s", args, code, out, errOut)
	}
	if src != "" {
		// mkfs -d writes linear directories; e2fsck -D turns every
		// directory of more than one block into an htree (with
		// dir_index).
		out, errOut, code = oracle.Run(tb, "e2fsck", "-fyD", img)
		if code > 1 {
			tb.Fatalf("e2fsck -fyD %s: exit %d: %s%s", img, code, out, errOut)
		}
	}
	return img
}

// debugfsW runs debugfs -w with the given requests on img.
func debugfsW(tb testing.TB, img string, requests ...string) {
	tb.Helper()
	cmds := filepath.Join(tb.TempDir(), "cmds")
	if err := os.WriteFile(cmds, []byte(strings.Join(requests, "\n")+"\n"), 0o644); err != nil {
		tb.Fatal(err)
	}
	out, errOut, code := oracle.Run(tb, "debugfs", "-w", "-f", cmds, img)
	if code != 0 {
		tb.Fatalf("debugfs -w %v: exit %d: %s%s", requests, code, out, errOut)
	}
}

// openRW opens img for writing with OpenWritable.
func openRW(tb testing.TB, img string) (*FS, *os.File) {
	tb.Helper()
	fh, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { fh.Close() })
	st, err := fh.Stat()
	if err != nil {
		tb.Fatal(err)
	}
	f, err := OpenWritable(fh, st.Size(), Options{Name: "test fs"})
	if err != nil {
		tb.Fatalf("OpenWritable %s: %v", img, err)
	}
	return f, fh
}

// openRO opens img read-only with Open.
func openRO(tb testing.TB, img string) *FS {
	tb.Helper()
	fh, err := os.Open(img)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { fh.Close() })
	st, err := fh.Stat()
	if err != nil {
		tb.Fatal(err)
	}
	f, err := Open(fh, st.Size())
	if err != nil {
		tb.Fatalf("Open %s: %v", img, err)
	}
	return f
}

// pattern returns n bytes of deterministic, non-repeating-looking data.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed)*2654435761 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// sourceTree builds the directory every filesystem is made from and
// returns it. It holds files of sizes around the interesting boundaries,
// a sparse file, fast and slow symlinks, hard links, a fifo, nested and
// empty directories, and a directory of many entries.
func sourceTree(tb testing.TB, manyEntries int) string {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "src")
	must := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "etc/ssh"), 0o755))
	must(os.MkdirAll(filepath.Join(dir, "var/lib/netdata/registry"), 0o755))
	must(os.MkdirAll(filepath.Join(dir, "empty"), 0o700))
	must(os.MkdirAll(filepath.Join(dir, "deep/a/b/c/d"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "etc/machine-id"), []byte("0123456789abcdef0123456789abcdef\n"), 0o444))
	must(os.WriteFile(filepath.Join(dir, "var/lib/netdata/registry/netdata.public.unique.id"), []byte("5d3f1c2a-1111-2222-3333-444455556666"), 0o644))
	for i, n := range []int{0, 1, 59, 60, 61, 1023, 1024, 1025, 4095, 4096, 4097, 70000, 300000} {
		must(os.WriteFile(filepath.Join(dir, fmt.Sprintf("etc/ssh/f%d", n)), pattern(n, byte(i)), 0o600))
	}
	// Big enough for double indirect blocks with 1 KiB blocks.
	must(os.WriteFile(filepath.Join(dir, "deep/a/big"), pattern(1<<20+12345, 7), 0o644))
	sp, err := os.Create(filepath.Join(dir, "deep/a/b/sparse"))
	must(err)
	_, err = sp.WriteAt([]byte("start"), 0)
	must(err)
	_, err = sp.WriteAt([]byte("middle"), 3<<20)
	must(err)
	_, err = sp.WriteAt([]byte("end"), 6<<20)
	must(err)
	must(sp.Close())
	must(os.Symlink("../etc/machine-id", filepath.Join(dir, "deep/mid")))
	must(os.Symlink("/etc/ssh/f60", filepath.Join(dir, "abs")))
	must(os.Symlink(strings.Repeat("x/", 50)+"long", filepath.Join(dir, "slowlink")))
	must(os.Symlink("loop2", filepath.Join(dir, "loop1")))
	must(os.Symlink("loop1", filepath.Join(dir, "loop2")))
	must(os.Symlink("../../../../../etc", filepath.Join(dir, "deep/a/escape")))
	must(os.Link(filepath.Join(dir, "etc/ssh/f1"), filepath.Join(dir, "deep/hardlink")))
	must(syscallMkfifo(filepath.Join(dir, "deep/fifo")))
	if manyEntries > 0 {
		must(os.MkdirAll(filepath.Join(dir, "many"), 0o755))
		for i := 0; i < manyEntries; i++ {
			must(os.WriteFile(filepath.Join(dir, fmt.Sprintf("many/entry-with-a-longish-name-%05d", i)), []byte(fmt.Sprint(i)), 0o644))
		}
	}
	return dir
}

// assertSameTree compares every file below src with the filesystem.
func assertSameTree(tb testing.TB, f *FS, src string) {
	tb.Helper()
	err := filepath.Walk(src, func(p string, st os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel := "/" + strings.TrimPrefix(strings.TrimPrefix(p, src), "/")
		a, err := f.Lstat(rel)
		if err != nil {
			tb.Errorf("Lstat %s: %v", rel, err)
			return nil
		}
		if a.Mode&0o777 != uint32(st.Mode().Perm()) {
			tb.Errorf("%s: mode %o, want perm %o", rel, a.Mode, st.Mode().Perm())
		}
		switch {
		case st.Mode().IsRegular():
			want, _ := os.ReadFile(p)
			got, err := f.ReadFile(rel)
			if err != nil || !bytes.Equal(got, want) {
				tb.Errorf("ReadFile %s: %d bytes, err %v; want %d bytes", rel, len(got), err, len(want))
			}
		case st.Mode()&os.ModeSymlink != 0:
			want, _ := os.Readlink(p)
			got, err := f.Readlink(rel)
			if err != nil || got != want {
				tb.Errorf("Readlink %s = %q, %v; want %q", rel, got, err, want)
			}
		case st.IsDir():
			ents, err := f.ReadDir(rel)
			if err != nil {
				tb.Errorf("ReadDir %s: %v", rel, err)
				return nil
			}
			want, _ := os.ReadDir(p)
			if rel == "/" {
				want = append(want, nil) // lost+found, made by mkfs
			}
			if len(ents) != len(want) {
				tb.Errorf("ReadDir %s: %d entries, want %d", rel, len(ents), len(want))
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// debugfsCatSized is oracle.DebugfsCat cut to the size debugfs stat
// reports: debugfs 1.47.0's cat prints all 60 bytes of i_block for an
// inline-data file.
func debugfsCatSized(tb testing.TB, img, path string) ([]byte, bool) {
	tb.Helper()
	b, ok := oracle.DebugfsCat(tb, img, path)
	if !ok {
		return nil, false
	}
	st := oracle.Debugfs(tb, img, "stat \""+path+"\"")
	i := strings.Index(st, "Size: ")
	if i < 0 {
		tb.Fatalf("debugfs stat %s: no size:\n%s", path, st)
	}
	var n int
	if _, err := fmt.Sscanf(st[i+len("Size: "):], "%d", &n); err != nil {
		tb.Fatalf("debugfs stat %s: %v", path, err)
	}
	if n < len(b) {
		b = b[:n]
	}
	return b, true
}

// runTool runs an oracle tool and fails the test on a non-zero exit.
func runTool(tb testing.TB, tool string, args ...string) string {
	tb.Helper()
	out, errOut, code := oracle.Run(tb, tool, args...)
	if code != 0 {
		tb.Fatalf("%s %v: exit %d: %s%s", tool, args, code, out, errOut)
	}
	return out
}

// resolve resolves p with the FS's walker and reads the inode it leads
// to.
func (f *FS) resolve(p string, follow bool) (*inode, error) {
	r, err := f.W.Resolve(p, follow)
	if err != nil {
		return nil, err
	}
	if !r.Exists() {
		return nil, fs.ErrNotExist
	}
	return f.inodeOf(r.Node.Ino)
}
