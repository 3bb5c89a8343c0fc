package btrfs_test

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/fs/btrfs"
)

// TestBlake2Refused: a blake2b filesystem is refused by name.
func TestBlake2Refused(t *testing.T) {
	path := fixture.Path(t, "btrfs-blake2.img")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	_, err = btrfs.Open(f, st.Size())
	if !errors.Is(err, btrfs.ErrUnsupported) || !strings.Contains(err.Error(), "blake2b") {
		t.Fatalf("open: %v, want ErrUnsupported naming blake2b", err)
	}
}

// TestNotBtrfs: an ext4 image is not btrfs.
func TestNotBtrfs(t *testing.T) {
	path := fixture.Path(t, "ext4-default.img")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	if _, err := btrfs.Open(f, st.Size()); !errors.Is(err, btrfs.ErrNotBtrfs) {
		t.Fatalf("open: %v, want ErrNotBtrfs", err)
	}
}

// TestSubvolumes lists the kernel fixture's subvolumes and opens views by
// path, id and default, as mount's subvol=, subvolid= and no option do.
func TestSubvolumes(t *testing.T) {
	path := fixture.Path(t, "btrfs-kernel.img")
	top := openImage(t, path, btrfs.Options{SubvolID: 5})
	subs, err := top.Volume().Subvolumes()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]btrfs.Subvolume{}
	for _, s := range subs {
		got[s.Path] = s
	}
	for _, want := range []struct {
		path     string
		snapshot bool
	}{{"", false}, {"root", false}, {"home", false}, {"root/var/lib/machines", false}, {"root-snap", true}} {
		s, ok := got[want.path]
		if !ok || s.Snapshot != want.snapshot {
			t.Errorf("subvolume %q: %+v (found %v), want snapshot=%v", want.path, s, ok, want.snapshot)
		}
	}
	if len(subs) != 5 {
		t.Errorf("%d subvolumes, want 5: %+v", len(subs), subs)
	}
	def := openImage(t, path, btrfs.Options{})
	if def.SubvolumeID() != got["root"].ID {
		t.Errorf("default subvolume %d, want root (%d)", def.SubvolumeID(), got["root"].ID)
	}
	byID := openImage(t, path, btrfs.Options{SubvolID: got["home"].ID})
	byPath := openImage(t, path, btrfs.Options{Subvol: "/home/"})
	if byID.SubvolumeID() != byPath.SubvolumeID() {
		t.Errorf("subvolid %d and subvol=/home/ %d differ", byID.SubvolumeID(), byPath.SubvolumeID())
	}
	if _, err := top.Volume().View(btrfs.Options{Subvol: "root/etc"}); !errors.Is(err, btrfs.ErrNoSubvolume) {
		t.Errorf("subvol=root/etc: %v, want ErrNoSubvolume", err)
	}
	if _, err := top.Volume().View(btrfs.Options{Subvol: "home", SubvolID: got["root"].ID}); !errors.Is(err, btrfs.ErrNoSubvolume) {
		t.Errorf("subvol=home with root's subvolid: %v, want ErrNoSubvolume", err)
	}
	if _, err := top.Volume().View(btrfs.Options{SubvolID: 9999}); !errors.Is(err, btrfs.ErrNoSubvolume) {
		t.Errorf("subvolid=9999: %v, want ErrNoSubvolume", err)
	}
	// The snapshot still has what root had when it was taken.
	snap, err := top.ReadFile("/root-snap/etc/hostname")
	if err != nil || string(snap) != "hostname\n" {
		t.Errorf("snapshot hostname %q, %v", snap, err)
	}
	now, err := top.ReadFile("/root/etc/hostname")
	if err != nil || !strings.HasPrefix(string(now), "changed") {
		t.Errorf("root hostname %q, %v", now, err)
	}
	if _, err := top.Lstat("/root/usr/zlib/small"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("removed file: %v", err)
	}
	if _, err := top.Lstat("/root-snap/usr/zlib/small"); err != nil {
		t.Errorf("snapshot lost the file removed from root: %v", err)
	}
	// ".." climbs out of a nested subvolume into the directory holding it.
	a, err := top.Stat("/root/var/lib/machines/../machines/../../lib/machines/inside")
	if err != nil || a.Size != int64(len("nested\n")) {
		t.Errorf("path through a nested subvolume and ..: %+v, %v", a, err)
	}
}

// TestCorruptTreeBlock flips a byte inside the root tree's root block:
// with DUP metadata the second copy is read; with both copies broken the
// error is a *FormatError with the checksum flag and both offsets.
func TestCorruptTreeBlock(t *testing.T) {
	path := fixture.Path(t, "btrfs-rootdir.img")
	f := openImage(t, path, btrfs.Options{})
	want, err := f.ReadFile("/etc/small")
	if err != nil {
		t.Fatal(err)
	}
	copies := f.Volume().RootTreeCopies()
	if len(copies) != 2 {
		t.Fatalf("root tree block has %d copies, want 2 (DUP)", len(copies))
	}
	flip := func(off int64) {
		h, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		b := []byte{0}
		h.ReadAt(b, off+200)
		b[0] ^= 0xFF
		if _, err := h.WriteAt(b, off+200); err != nil {
			t.Fatal(err)
		}
	}
	flip(copies[0])
	g := openImage(t, path, btrfs.Options{})
	got, err := g.ReadFile("/etc/small")
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("one copy broken: %q, %v", got, err)
	}
	flip(copies[1])
	h, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	st, _ := h.Stat()
	_, err = btrfs.Open(h, st.Size())
	var fe *btrfs.FormatError
	if !errors.As(err, &fe) || !fe.Checksum || !errors.Is(err, btrfs.ErrChecksum) || fe.Logical < 0 || fe.Physical != copies[0] {
		t.Fatalf("both copies broken: %v (%+v)", err, fe)
	}
}

// TestTrees: every fixture has its extent and checksum trees, and the
// free-space tree mkfs.btrfs 6.2 makes by default, each root block
// checked.
func TestTrees(t *testing.T) {
	for _, name := range []string{"btrfs-rootdir.img", "btrfs-mixed.img", "btrfs-kernel.img"} {
		f := openImage(t, fixture.Path(t, name), btrfs.Options{})
		trees, err := f.Volume().Trees()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got := map[string]bool{}
		for _, s := range trees {
			got[s.Name] = s.Present
		}
		if !got["extent"] || !got["csum"] || !got["free-space"] || got["block-group"] {
			t.Errorf("%s: trees %+v", name, trees)
		}
	}
}

// rawFlip flips the byte at off of the file at path.
func rawFlip(t *testing.T, path string, off int64) {
	t.Helper()
	h, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	b := []byte{0}
	if _, err := h.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xFF
	if _, err := h.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// TestSuperblockMirror: with the primary superblock's checksum broken,
// the mirror at 64 MiB is read and Info().Note says so; with the mirror
// broken instead, the primary is read and the note names the mirror.
func TestSuperblockMirror(t *testing.T) {
	path := fixture.Path(t, "btrfs-kernel.img")
	rawFlip(t, path, 64<<20+0x300) // the mirror's reserved bytes
	f := openImage(t, path, btrfs.Options{})
	if n := f.Info().Note; !strings.Contains(n, "superblock mirror at byte 67108864 is bad") {
		t.Errorf("note %q", n)
	}
	path = fixture.Path(t, "btrfs-kernel.img")
	rawFlip(t, path, 64<<10+0x300)
	f = openImage(t, path, btrfs.Options{})
	if n := f.Info().Note; !strings.Contains(n, "primary superblock is bad") || !strings.Contains(n, "mirror at byte 67108864") {
		t.Errorf("note %q", n)
	}
	if b, err := f.ReadFile("/etc/hostname"); err != nil || !strings.HasPrefix(string(b), "changed") {
		t.Errorf("read through the mirror: %q, %v", b, err)
	}
}

// TestDataChecksum: a flipped byte in a file's data is a checksum error
// naming the logical and physical offsets; with DUP data the other copy
// is read instead.
func TestDataChecksum(t *testing.T) {
	for _, c := range []struct {
		image string
		dup   bool
	}{{"btrfs-rootdir.img", false}, {"btrfs-dupdata.img", true}} {
		path := fixture.Path(t, c.image)
		f := openImage(t, path, btrfs.Options{})
		want, err := f.ReadFile("/usr/lib/random")
		if err != nil {
			t.Fatal(err)
		}
		phys, err := f.DataCopies("/usr/lib/random", 8192)
		if err != nil || len(phys) != map[bool]int{false: 1, true: 2}[c.dup] {
			t.Fatalf("%s: copies %v, %v", c.image, phys, err)
		}
		rawFlip(t, path, phys[0])
		g := openImage(t, path, btrfs.Options{})
		got, err := g.ReadFile("/usr/lib/random")
		if c.dup {
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s: %v", c.image, err)
			}
			continue
		}
		var fe *btrfs.FormatError
		if !errors.Is(err, btrfs.ErrChecksum) || !errors.As(err, &fe) || fe.Physical != phys[0]&^4095 {
			t.Errorf("%s: %v (%+v), want a checksum error at byte %d", c.image, err, fe, phys[0]&^4095)
		}
	}
}
