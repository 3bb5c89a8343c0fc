package xfs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/fs"
)

// TestWriteRemoveAndTruncate: on every writable fixture, removing files
// of every kind from shortform and block-format directories (neighbouring
// entries too, so that free space merges) (a file with no blocks, one
// with data blocks and a remote xattr's blocks, a symlink, a device, a
// file with a shortform SELinux label) and truncating a file to 0 leave a
// filesystem xfs_repair -n finds nothing wrong with, that the kernel
// mounts showing exactly that change and every other file unchanged, and
// on which the kernel then creates and deletes 100 names with xfs_repair
// still clean.
func TestWriteRemoveAndTruncate(t *testing.T) {
	removed := []string{"/one", "/big", "/abs", "/chr", "/fifo", "/etc/machine-id", "/dir/sub/deep",
		"/blockdir/entry-with-a-longish-name-00000", "/blockdir/entry-with-a-longish-name-00030",
		"/blockdir/entry-with-a-longish-name-00059", "/small/entry-with-a-longish-name-00004",
		"/small/entry-with-a-longish-name-00006", "/small/entry-with-a-longish-name-00005"}
	for _, name := range []string{"xfs-default.img", "xfs-noreflink.img", "xfs-dir8k.img", "xfs-sect4k.img", "xfs-tinyag.img"} {
		t.Run(name, func(t *testing.T) {
			img := fixture.Path(t, name)
			before := openImage(t, img)
			want := map[string][]byte{}
			for _, p := range []string{"/etc/hostname", "/usr/lib/os-release", "/owned", "/blockdir/entry-with-a-longish-name-00007"} {
				b, err := before.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				want[p] = b
			}
			parents := map[string]fs.Attr{}
			for _, p := range removed {
				a, err := before.Stat(path.Dir(p))
				if err != nil {
					t.Fatal(err)
				}
				parents[path.Dir(p)] = a
			}
			fh, err := os.OpenFile(img, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			st, _ := fh.Stat()
			clock := time.Unix(1700003600, 0) // later than every time in the fixtures
			f, err := OpenWritable(fh, st.Size(), Options{Name: name, Now: func() time.Time { return clock }})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range removed {
				if err := f.Remove(p); err != nil {
					t.Fatalf("Remove %s: %v", p, err)
				}
			}
			if err := f.Truncate("/block", 0); err != nil {
				t.Fatal(err)
			}
			// What is not done yet is refused, changing nothing.
			for _, err := range []error{f.Remove("/leafdir/entry-with-a-longish-name-00001"), f.Remove("/nodedir/entry-with-a-longish-name-00001"), f.Remove("/dir"),
				f.Truncate("/owned", 2), f.Mkdir("/new", 0o755, fs.Owner{})} {
				if !errors.Is(err, fs.ErrReadOnly) || !errors.Is(err, ErrUnsupported) {
					t.Errorf("unsupported change: %v", err)
				}
			}
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			fh.Close()
			if p, out := oracle.XfsRepairProblems(t, img); len(p) > 0 {
				t.Fatalf("xfs_repair -n: %v\n%s", p, out)
			}
			after := openImage(t, img)
			for _, p := range removed {
				if _, err := after.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("%s after Remove: %v", p, err)
				}
			}
			// Every parent of a removed name ends with mtime and ctime
			// equal to the clock, as the kernel sets them (issue 17).
			for _, p := range removed {
				dir := path.Dir(p)
				if b := parents[dir]; !b.Mtime.Before(clock) || !b.Ctime.Before(clock) {
					t.Fatalf("%s before: %+v (the clock must be later than the fixture)", dir, b)
				}
				if a, err := after.Stat(dir); err != nil || !a.Mtime.Equal(clock) || !a.Ctime.Equal(clock) {
					t.Errorf("%s after removing %s: mtime %v ctime %v, want both %v (%v)", dir, p, a.Mtime, a.Ctime, clock, err)
				}
			}
			if a, err := after.Stat("/block"); err != nil || a.Size != 0 || !a.Mtime.Equal(clock) {
				t.Errorf("/block after Truncate: %+v %v", a, err)
			}
			for p, b := range want {
				if got, err := after.ReadFile(p); err != nil || !bytes.Equal(got, b) {
					t.Errorf("%s changed: %v", p, err)
				}
			}
			mnt, umount := kernelMountROFor(t, img)
			c := compareTree(t, after, mnt)
			umount()
			t.Logf("%s: %d files, %d dirs, %d symlinks, %d xattrs compared after the changes", name, c.files, c.dirs, c.links, c.xattrs)
			kernelChurn(t, img)
		})
	}
}

// kernelChurn has the kernel create and delete 100 names on img, then
// checks xfs_repair -n is still clean.
func kernelChurn(t *testing.T, img string) {
	t.Helper()
	mnt, umount := kernelMountRW(t, img)
	for i := 0; i < 100; i++ {
		must(t, os.WriteFile(filepath.Join(mnt, "k"+strconv.Itoa(i)), []byte("kernel"), 0o644))
	}
	for i := 0; i < 100; i += 2 {
		must(t, os.Remove(filepath.Join(mnt, "k"+strconv.Itoa(i))))
	}
	if out, err := exec.Command("sync").CombinedOutput(); err != nil {
		t.Fatalf("sync: %v %s", err, out)
	}
	umount()
	if p, out := oracle.XfsRepairProblems(t, img); len(p) > 0 {
		t.Fatalf("xfs_repair -n after the kernel's own changes: %v\n%s", p, out)
	}
}

// TestWriteRemoveHardLinks: on a filesystem the kernel made, removing one
// name of a file with two links keeps the inode and its data with one
// link; removing the other frees it (data extents merged back into the
// free space); xfs_repair -n stays clean and the kernel agrees.
func TestWriteRemoveHardLinks(t *testing.T) {
	img := mkfsXFS(t, 32<<20)
	mnt, umount := kernelMountRW(t, img)
	data := bytes.Repeat([]byte("linked data\n"), 3000)
	must(t, os.WriteFile(filepath.Join(mnt, "a"), data, 0o644))
	must(t, os.Link(filepath.Join(mnt, "a"), filepath.Join(mnt, "b")))
	must(t, os.WriteFile(filepath.Join(mnt, "c"), data, 0o644))
	umount()

	fh, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	st, _ := fh.Stat()
	f, err := OpenWritable(fh, st.Size(), Options{Name: "k.img"})
	if err != nil {
		t.Fatal(err)
	}
	free0 := f.Info().FreeBytes
	must(t, f.Remove("/a"))
	if a, err := f.Stat("/b"); err != nil || a.Nlink != 1 {
		t.Fatalf("/b after removing /a: %+v %v", a, err)
	}
	if got, err := f.ReadFile("/b"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("/b's data after removing /a: %v", err)
	}
	must(t, f.Sync())
	if p, out := oracle.XfsRepairProblems(t, img); len(p) > 0 {
		t.Fatalf("xfs_repair -n after removing one link: %v\n%s", p, out)
	}
	must(t, f.Remove("/b"))
	must(t, f.Truncate("/c", 0))
	must(t, f.Sync())
	if got, want := f.Info().FreeBytes-free0, int64(2*((len(data)+4095)/4096)*4096); got != want {
		t.Errorf("%d bytes freed, want %d", got, want)
	}
	if p, out := oracle.XfsRepairProblems(t, img); len(p) > 0 {
		t.Fatalf("xfs_repair -n after freeing: %v\n%s", p, out)
	}
	mnt, umount = kernelMountROFor(t, img)
	es, err := os.ReadDir(mnt)
	if err != nil || len(es) != 1 || es[0].Name() != "c" {
		t.Fatalf("root after the removals: %v %v", es, err)
	}
	umount()
	kernelChurn(t, img)
}

// TestWriteFailureLeavesNothing: a change that fails part way (the inode
// btree block is corrupt, after the file's extents were freed) records
// nothing, so Sync writes nothing.
func TestWriteFailureLeavesNothing(t *testing.T) {
	fb := loadFuzzBase(t)
	var ai agi
	binary.Decode(fb.img[2*fb.sect:], binary.BigEndian, &ai)
	off := int64(ai.Root) * fb.bsize
	bad := append([]byte{}, fb.img[off:off+fb.bsize]...)
	bad[6], bad[7] = 0xff, 0xff // numrecs past the block
	binary.LittleEndian.PutUint32(bad[sblockCRCOff:], cksum(bad, sblockCRCOff))
	o := &overlay{base: fb.img, patches: []patch{{off, bad}}}
	f, err := OpenWritable(o, int64(len(fb.img)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	free := f.Info().FreeBytes
	if err := f.Remove("/big"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Remove over a corrupt inobt block: %v", err)
	}
	if len(f.dirty) != 0 || f.Info().FreeBytes != free {
		t.Fatalf("%d structures recorded, free %d -> %d", len(f.dirty), free, f.Info().FreeBytes)
	}
	must(t, f.Sync())
	if len(o.patches) != 1 {
		t.Fatalf("Sync wrote %d structures", len(o.patches)-1)
	}
}
