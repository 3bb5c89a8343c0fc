package guest

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseFstabFieldsAsFstab5Says(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []FstabEntry
		invalid []int
	}{
		{"six whitespace-separated fields", "UUID=abc / ext4 errors=remount-ro 0 1\n",
			[]FstabEntry{{Line: 1, Spec: "UUID=abc", File: "/", VFSType: "ext4", MntOps: "errors=remount-ro", Freq: 0, PassNo: 1}}, nil},
		{"tabs and runs of blanks separate fields", "/dev/sda1\t\t/boot   ext2\tdefaults\t0\t2\n",
			[]FstabEntry{{Line: 1, Spec: "/dev/sda1", File: "/boot", VFSType: "ext2", MntOps: "defaults", PassNo: 2}}, nil},
		{"lines starting with # are comments, blank lines are ignored", "# comment\n\n   # indented comment\nLABEL=x /x ext4\n",
			[]FstabEntry{{Line: 4, Spec: "LABEL=x", File: "/x", VFSType: "ext4", MntOps: "defaults"}}, nil},
		{"missing fields default: options to defaults, freq and passno to 0", "LABEL=x /x\n",
			[]FstabEntry{{Line: 1, Spec: "LABEL=x", File: "/x", MntOps: "defaults"}}, nil},
		{"\\040 is a space in a mount point", "LABEL=my\\040disk /mnt/my\\040dir ext4 defaults 0 0\n",
			[]FstabEntry{{Line: 1, Spec: "LABEL=my disk", File: "/mnt/my dir", VFSType: "ext4", MntOps: "defaults"}}, nil},
		{"\\011 is a tab and \\134 a backslash", "LABEL=a\\011b /a\\134b ext4\n",
			[]FstabEntry{{Line: 1, Spec: "LABEL=a\tb", File: "/a\\b", VFSType: "ext4", MntOps: "defaults"}}, nil},
		{"a backslash not followed by three octal digits is kept", "LABEL=a\\x /a\\9 ext4\n",
			[]FstabEntry{{Line: 1, Spec: "LABEL=a\\x", File: "/a\\9", VFSType: "ext4", MntOps: "defaults"}}, nil},
		{"CRLF line ends are tolerated", "LABEL=a /a ext4 defaults 0 2\r\n",
			[]FstabEntry{{Line: 1, Spec: "LABEL=a", File: "/a", VFSType: "ext4", MntOps: "defaults", PassNo: 2}}, nil},
		{"a one-field line is invalid and skipped", "garbage\nLABEL=a /a\n",
			[]FstabEntry{{Line: 2, Spec: "LABEL=a", File: "/a", MntOps: "defaults"}}, []int{1}},
		{"a non-numeric passno is invalid", "LABEL=a /a ext4 defaults 0 x\n", nil, []int{1}},
		{"seven fields are invalid", "a /a ext4 defaults 0 0 extra\n", nil, []int{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseFstab([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Entries, tt.want) {
				t.Fatalf("entries\n%+v\nwant\n%+v", got.Entries, tt.want)
			}
			var lines []int
			for _, e := range got.Invalid {
				lines = append(lines, e.Line)
			}
			if !reflect.DeepEqual(lines, tt.invalid) {
				t.Fatalf("invalid lines %v, want %v", lines, tt.invalid)
			}
		})
	}
}

func TestParseFstabRefusesAHugeFile(t *testing.T) {
	_, err := ParseFstab([]byte(strings.Repeat("#", MaxConfigSize+1)))
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v, want ErrTooLarge", err)
	}
}

func TestFstabEntriesThatMountNothingFromTheDisk(t *testing.T) {
	tests := []struct {
		line string
		skip bool
	}{
		{"UUID=a / ext4 defaults 0 1", false},
		{"/dev/sda7 none swap sw 0 0", true},
		{"/swapfile swap swap defaults 0 0", true},
		{"proc /proc proc defaults 0 0", true},
		{"tmpfs /tmp tmpfs defaults 0 0", true},
		{"devpts /dev/pts devpts gid=5 0 0", true},
		{"sysfs /sys sysfs defaults 0 0", true},
		{"server:/export /mnt nfs defaults 0 0", true},
		{"//server/share /mnt/smb cifs credentials=/x 0 0", true},
		{"/srv/data /data none bind 0 0", true},
		{"/srv/data /data ext4 rbind 0 0", true},
		{"LABEL=a:b /ab ext4 defaults 0 2", false},
		{"LABEL=data /data auto defaults 0 2", false},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			tab, _ := ParseFstab([]byte(tt.line))
			if len(tab.Entries) != 1 {
				t.Fatalf("parsed %d entries", len(tab.Entries))
			}
			if got := skipFstabEntry(tab.Entries[0]); got != tt.skip {
				t.Fatalf("skip = %t, want %t", got, tt.skip)
			}
		})
	}
}

func TestFstabSourcesResolveLikeUdevNamesThem(t *testing.T) {
	gpt := &Layout{Filesystems: []*Filesystem{
		{Partition: 1, Type: "vfat", UUID: "7A3B-1C2D", Label: "ESP", PartUUID: "11111111-2222-4333-8444-000000000001", PartLabel: "EFI system"},
		{Partition: 2, Type: "ext4", UUID: "0a1b2c3d-0000-4000-8000-000000000001", Label: "root/fs", PartUUID: "11111111-2222-4333-8444-000000000002", PartLabel: "root"},
		{Partition: 3, Type: "ext4", UUID: "0a1b2c3d-0000-4000-8000-000000000002", Label: "data", PartUUID: "11111111-2222-4333-8444-000000000003", PartLabel: "var"},
		{Partition: 4, Type: "ext4", UUID: "0a1b2c3d-0000-4000-8000-000000000004", Label: "data"},
	}}
	none := &Layout{Filesystems: []*Filesystem{{Partition: 0, Type: "ext4", UUID: "u"}}}
	tests := []struct {
		name string
		l    *Layout
		spec string
		want int // partition number, -1 for unresolved
	}{
		{"UUID= is case-insensitive", gpt, "UUID=0A1B2C3D-0000-4000-8000-000000000002", 3},
		{"UUID= with a quoted value", gpt, `UUID="0a1b2c3d-0000-4000-8000-000000000001"`, 2},
		{"a vfat volume id is a UUID", gpt, "UUID=7a3b-1c2d", 1},
		{"LABEL= is exact", gpt, "LABEL=ESP", 1},
		{"LABEL= matching two filesystems is ambiguous", gpt, "LABEL=data", -1},
		{"PARTUUID=", gpt, "PARTUUID=11111111-2222-4333-8444-000000000003", 3},
		{"PARTLABEL=", gpt, "PARTLABEL=var", 3},
		{"/dev/disk/by-uuid/", gpt, "/dev/disk/by-uuid/0a1b2c3d-0000-4000-8000-000000000001", 2},
		{"/dev/disk/by-label/ decodes udev's \\x2f", gpt, `/dev/disk/by-label/root\x2ffs`, 2},
		{"/dev/disk/by-partlabel/ decodes udev's \\x20", gpt, `/dev/disk/by-partlabel/EFI\x20system`, 1},
		{"/dev/disk/by-partuuid/", gpt, "/dev/disk/by-partuuid/11111111-2222-4333-8444-000000000001", 1},
		{"/dev/sdaN is partition N of the first disk", gpt, "/dev/sda2", 2},
		{"/dev/vdaN", gpt, "/dev/vda3", 3},
		{"/dev/xvdaN", gpt, "/dev/xvda1", 1},
		{"/dev/nvme0n1pN", gpt, "/dev/nvme0n1p3", 3},
		{"/dev/mmcblk0pN", gpt, "/dev/mmcblk0p2", 2},
		{"/dev/sdb1 is another disk", gpt, "/dev/sdb1", -1},
		{"a partition the disk lacks", gpt, "/dev/sda9", -1},
		{"an unknown UUID", gpt, "UUID=deadbeef", -1},
		{"LVM names are not resolvable", gpt, "/dev/mapper/vg-root", -1},
		{"/dev/vda is a partitionless disk itself", none, "/dev/vda", 0},
		{"/dev/sda0 is not a partition", none, "/dev/sda0", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, why := tt.l.resolveSpec(tt.spec)
			got := -1
			if f != nil {
				got = f.Partition
			}
			if got != tt.want {
				t.Fatalf("resolveSpec(%q) = partition %d (%s), want %d", tt.spec, got, why, tt.want)
			}
			if f == nil && why == "" {
				t.Fatal("no reason given for an unresolved source")
			}
		})
	}
}

func FuzzFstab(f *testing.F) {
	f.Add([]byte("UUID=a / ext4 errors=remount-ro 0 1\n# c\nproc /proc proc defaults 0 0\n"))
	f.Add([]byte("LABEL=my\\040disk /mnt/a\\134b ext4\n/dev/sda5 none swap sw\n"))
	f.Add([]byte("\\777 \\0 \\12 \\x2f /\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tab, err := ParseFstab(data)
		if err != nil {
			if len(data) <= MaxConfigSize {
				t.Fatalf("error on %d bytes: %v", len(data), err)
			}
			return
		}
		for _, e := range tab.Entries {
			if e.Spec == "" || e.File == "" || e.Line <= 0 || e.Freq < 0 || e.PassNo < 0 {
				t.Fatalf("bad entry %+v", e)
			}
			_ = skipFstabEntry(e)
			l := &Layout{Filesystems: []*Filesystem{{Partition: 1, Type: "ext4", UUID: "u", Label: "l"}}}
			if fsys, why := l.resolveSpec(e.Spec); fsys == nil && why == "" {
				t.Fatalf("unresolved %q without a reason", e.Spec)
			}
		}
		_ = unescapeUdev(string(data))
	})
}
