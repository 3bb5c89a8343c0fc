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
