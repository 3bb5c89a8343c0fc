package guest

import (
	"errors"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/fs/memfs"
)

// TestGuestsFindsEveryRoot: a root is a filesystem with /etc/fstab and an
// os-release reached through the assembled guest (os-release(5): the
// /etc file first, else /usr/lib/os-release).
func TestGuestsFindsEveryRoot(t *testing.T) {
	debian, fedora, usr, data, noOS := memfs.New(), memfs.New(), memfs.New(), memfs.New(), memfs.New()
	debian.AddFile("/etc/fstab", "LABEL=debian / ext4 defaults 0 1\nLABEL=usr /usr ext4 defaults 0 2\n", 0o644)
	debian.AddSymlink("/etc/os-release", "../usr/lib/os-release") // into the /usr mount
	debian.AddDir("/usr", 0o755)
	usr.AddFile("/lib/os-release", "ID=debian\n", 0o644)
	fedora.AddFile("/etc/fstab", "LABEL=fedora / xfs defaults 0 0\n", 0o644)
	fedora.AddFile("/usr/lib/os-release", "ID=fedora\n", 0o644) // no /etc/os-release
	noOS.AddFile("/etc/fstab", "LABEL=noos / ext4 defaults 0 1\n", 0o644)
	data.AddFile("/README", "data\n", 0o644)
	l := &Layout{Filesystems: []*Filesystem{
		{Partition: 1, Type: "ext4", Label: "debian", FS: debian, Writable: true},
		{Partition: 2, Type: "ext4", Label: "usr", FS: usr, Writable: true},
		{Partition: 3, Type: "ext4", Label: "fedora", FS: fedora, Writable: true},
		{Partition: 4, Type: "ext4", Label: "data", FS: data, Writable: true},
		{Partition: 5, Type: "ext4", Label: "noos", FS: noOS, Writable: true},
		{Partition: 6, Type: "swap"},
	}}
	gs, err := l.Guests()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, g := range gs {
		got = append(got, g.Root().Label+"="+g.OSRelease()["ID"])
	}
	if strings.Join(got, " ") != "debian=debian fedora=fedora" {
		t.Fatalf("guests %v, want debian and fedora", got)
	}
	if w, err := gs[0].Where("/usr/lib/os-release"); err != nil || w != "ext4 on partition 2 (/usr)" {
		t.Fatalf("Where = %q, %v", w, err)
	}
}

func TestNoGuestSaysWhatWasFound(t *testing.T) {
	noOS := memfs.New()
	noOS.AddFile("/etc/fstab", "LABEL=noos / ext4 defaults 0 1\n", 0o644)
	tests := []struct {
		name string
		l    *Layout
		want string
	}{
		{"an fstab without os-release", &Layout{Filesystems: []*Filesystem{{Partition: 1, Type: "ext4", FS: noOS}}},
			"ext4 on partition 1 (not a guest root: /etc/fstab but no os-release)"},
		{"a filesystem without fstab", &Layout{Filesystems: []*Filesystem{{Partition: 2, Type: "ext4", FS: memfs.New()}}},
			"ext4 on partition 2 (not a guest root: no /etc/fstab)"},
		{"LVM is named with its reason", &Layout{Filesystems: []*Filesystem{{Partition: 3, Type: TypeLVM, Why: unsupportedWhy(TypeLVM)}}},
			"LVM2_member on partition 3 (imgprep cannot read LVM2 physical volumes)"},
		{"nothing at all", &Layout{}, "no filesystem found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.l.Guests()
			if !errors.Is(err, ErrNoGuest) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want ErrNoGuest saying %q", err, tt.want)
			}
		})
	}
}

func TestHugeOrOddConfigFilesAreRefused(t *testing.T) {
	tests := []struct {
		name  string
		build func(root *memfs.FS)
		want  error
	}{
		{"an fstab over MaxConfigSize is refused before it is read", func(root *memfs.FS) {
			root.AddFile("/etc/fstab", strings.Repeat("#", MaxConfigSize+1), 0o644)
			root.AddFile("/etc/os-release", "ID=x\n", 0o644)
		}, ErrTooLarge},
		{"an os-release over MaxConfigSize is refused", func(root *memfs.FS) {
			root.AddFile("/etc/fstab", "LABEL=r / ext4\n", 0o644)
			root.AddFile("/etc/os-release", strings.Repeat("#", MaxConfigSize+1), 0o644)
		}, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := memfs.New()
			tt.build(root)
			l := &Layout{Filesystems: []*Filesystem{{Partition: 1, Type: "ext4", Label: "r", FS: root}}}
			if _, err := l.Guests(); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

// TestOSReleaseOnAnUnreadableUsrStillMakesAGuest: with /usr on xfs the
// release is unknown, but the root is still a guest whose other paths work.
func TestOSReleaseOnAnUnreadableUsrStillMakesAGuest(t *testing.T) {
	root := memfs.New()
	root.AddFile("/etc/fstab", "LABEL=r / ext4 defaults 0 1\nLABEL=usr /usr xfs defaults 0 2\n", 0o644)
	root.AddSymlink("/etc/os-release", "../usr/lib/os-release")
	root.AddFile("/etc/machine-id", "x\n", 0o444)
	root.AddDir("/usr", 0o755)
	l := &Layout{Filesystems: []*Filesystem{
		{Partition: 1, Type: "ext4", Label: "r", FS: root, Writable: true},
		{Partition: 2, Type: "xfs", Label: "usr", Why: unsupportedWhy("xfs")},
	}}
	gs, err := l.Guests()
	if err != nil || len(gs) != 1 {
		t.Fatalf("Guests: %d, %v", len(gs), err)
	}
	if len(gs[0].OSRelease()) != 0 {
		t.Fatalf("os-release %v, want unknown", gs[0].OSRelease())
	}
	if b, err := gs[0].ReadFile("/etc/machine-id"); err != nil || string(b) != "x\n" {
		t.Fatalf("machine-id: %q, %v", b, err)
	}
}

// TestAChangeThroughOneGuestIsSeenByAnother: two roots share /home. After
// guest A replaces a directory of /home walked by guest B, B sees it.
func TestAChangeThroughOneGuestIsSeenByAnother(t *testing.T) {
	a, b, home := memfs.New(), memfs.New(), memfs.New()
	for _, r := range []*memfs.FS{a, b} {
		r.AddFile("/etc/fstab", "LABEL=home /home ext4 defaults 0 2\n", 0o644)
		r.AddFile("/etc/os-release", "ID=test\n", 0o644)
		r.AddDir("/home", 0o755)
	}
	a.AddFile("/etc/hostname", "a\n", 0o644)
	b.AddFile("/etc/hostname", "b\n", 0o644)
	home.AddFile("/user/dir/file", "x\n", 0o644)
	l := &Layout{Filesystems: []*Filesystem{
		{Partition: 1, Type: "ext4", Label: "a", FS: a, Writable: true},
		{Partition: 2, Type: "ext4", Label: "b", FS: b, Writable: true},
		{Partition: 3, Type: "ext4", Label: "home", FS: home, Writable: true},
	}}
	gs, err := l.Guests()
	if err != nil || len(gs) != 2 {
		t.Fatalf("Guests: %d, %v", len(gs), err)
	}
	ga, gb := gs[0], gs[1]
	if _, err := gb.Stat("/home/user/dir/file"); err != nil {
		t.Fatal(err)
	}
	if err := ga.RemoveAll("/home/user/dir"); err != nil {
		t.Fatal(err)
	}
	if err := ga.Symlink("/etc", "/home/user/dir", fs.Owner{}); err != nil {
		t.Fatal(err)
	}
	if got, err := gb.ReadFile("/home/user/dir/hostname"); err != nil || string(got) != "b\n" {
		t.Fatalf("guest B through the new link: %q, %v; want its own /etc/hostname", got, err)
	}
}
