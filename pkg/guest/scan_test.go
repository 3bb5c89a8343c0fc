package guest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

const (
	fxRoot    = "0a1b2c3d-0000-4000-8000-000000000001"
	fxVar     = "0a1b2c3d-0000-4000-8000-000000000002"
	fxBoot    = "0a1b2c3d-0000-4000-8000-000000000003"
	fxXFS     = "5e1f0000-0000-4000-8000-00000000a001"
	fxESPPart = "11111111-2222-4333-8444-000000000001"
	fxRootPt  = "11111111-2222-4333-8444-000000000002"
	fxVarPt   = "11111111-2222-4333-8444-000000000003"
)

// describe prints what Scan found, one filesystem per line.
func describe(l *Layout) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", l.Table.Kind)
	for _, f := range l.Filesystems {
		fmt.Fprintf(&b, "%d %s uuid=%s label=%s partuuid=%s partlabel=%s engine=%t\n",
			f.Partition, f.Type, f.UUID, f.Label, f.PartUUID, f.PartLabel, f.FS != nil)
	}
	return b.String()
}

// TestScanFindsEveryFilesystemBySignature checks the probe against the
// fixtures that gen.d/guest.sh made with mkfs.ext4, mkfs.vfat and mkfs.xfs
// (identities as blkid would report them).
func TestScanFindsEveryFilesystemBySignature(t *testing.T) {
	tests := []struct {
		image string
		want  string
	}{
		{"disk-gpt.raw", "gpt\n" +
			"1 vfat uuid=7A3B-1C2D label=ESP partuuid=" + fxESPPart + " partlabel=EFI engine=true\n" +
			"2 ext4 uuid=" + fxRoot + " label=root partuuid=" + fxRootPt + " partlabel=root engine=true\n" +
			"3 ext4 uuid=" + fxVar + " label=var partuuid=" + fxVarPt + " partlabel=var engine=true\n"},
		{"disk-mbr.raw", "mbr\n" +
			"1 ext2 uuid=" + fxBoot + " label=boot partuuid=1a2b3c4d-01 partlabel= engine=true\n" +
			"5 ext4 uuid=" + fxRoot + " label=root partuuid=1a2b3c4d-05 partlabel= engine=true\n" +
			"6 ext4 uuid=" + fxVar + " label=var partuuid=1a2b3c4d-06 partlabel= engine=true\n"},
		{"disk-none.raw", "none\n0 ext4 uuid=" + fxRoot + " label=root partuuid= partlabel= engine=true\n"},
		{"disk-gpt-4k.raw", "gpt\n" +
			"1 ext4 uuid=" + fxRoot + " label=root partuuid=" + fxRootPt + " partlabel=root engine=true\n" +
			"2 ext4 uuid=" + fxVar + " label=var partuuid=" + fxVarPt + " partlabel=var engine=true\n"},
		{"guest-xfsroot.raw", "none\n0 xfs uuid=" + fxXFS + " label=xroot partuuid= partlabel= engine=true\n"},
		{"guest-varxfs.raw", "gpt\n" +
			"1 ext4 uuid=" + fxRoot + " label=root partuuid=" + fxRootPt + " partlabel=root engine=true\n" +
			"2 xfs uuid=" + fxXFS + " label=var partuuid=" + fxVarPt + " partlabel=var engine=true\n"},
	}
	for _, tt := range tests {
		t.Run(tt.image, func(t *testing.T) {
			d, _ := openRaw(t, tt.image, false)
			l, err := Scan(d, Options{Name: tt.image})
			if err != nil {
				t.Fatal(err)
			}
			if got := describe(l); got != tt.want {
				t.Fatalf("Scan found:\n%s\nwant:\n%s", got, tt.want)
			}
			for _, f := range l.Filesystems {
				if f.Writable {
					t.Errorf("%s is writable on a read-only scan", f.Desc())
				}
				if f.Why == "" {
					t.Errorf("%s: Why is empty on a read-only scan", f.Desc())
				}
			}
		})
	}
}

// TestGuestMountsFollowFstab assembles each fixture guest from its
// fstab: every source form of fstab(5) and the kernel's device names.
func TestGuestMountsFollowFstab(t *testing.T) {
	tests := []struct {
		image      string
		mounts     string
		unresolved string
	}{
		// UUID= root and /var, PARTUUID= /boot/efi; proc and nfs skipped;
		// /dev/disk/by-uuid/ of an absent disk is unresolved.
		{"disk-gpt.raw", "/=ext4 on partition 2 /var=ext4 on partition 3 /boot/efi=vfat on partition 1", "/srv"},
		// /dev/sda5 root on a logical partition, UUID= ext2 /boot, LABEL= /var.
		{"disk-mbr.raw", "/=ext4 on partition 5 /boot=ext2 on partition 1 /var=ext4 on partition 6", ""},
		{"disk-none.raw", "/=ext4 on the whole disk", ""},
		// /dev/disk/by-partuuid/ root, PARTLABEL= /var, 4096-byte sectors.
		{"disk-gpt-4k.raw", "/=ext4 on partition 1 /var=ext4 on partition 2", ""},
		// /dev/vda names the whole partitionless disk.
		{"guest-clouddlink.raw", "/=ext4 on the whole disk", ""},
		{"guest-varxfs.raw", "/=ext4 on partition 1 /var=xfs on partition 2", ""},
	}
	for _, tt := range tests {
		t.Run(tt.image, func(t *testing.T) {
			g, _, _ := scanGuest(t, tt.image, false)
			var got []string
			for _, m := range g.Mounts() {
				got = append(got, m.Point+"="+m.FS.Desc())
			}
			if strings.Join(got, " ") != tt.mounts {
				t.Errorf("mounts %q, want %q", strings.Join(got, " "), tt.mounts)
			}
			var un []string
			for _, u := range g.Unresolved() {
				un = append(un, u.Point)
			}
			if strings.Join(un, " ") != tt.unresolved {
				t.Errorf("unresolved %q, want %q", strings.Join(un, " "), tt.unresolved)
			}
			if os := g.OSRelease(); os["ID"] != "debian" || os["VERSION_ID"] != "12" || os["PRETTY_NAME"] != "Debian GNU/Linux 12 (bookworm)" {
				t.Errorf("os-release (through /etc/os-release -> ../usr/lib/os-release) = %v", os)
			}
		})
	}
}

func TestXFSRootIsNoGuestAndSaysWhy(t *testing.T) {
	d, _ := openRaw(t, "guest-xfsroot.raw", false)
	l, err := Scan(d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = l.Guests()
	if !errors.Is(err, ErrNoGuest) || !strings.Contains(err.Error(), "xfs on the whole disk (not a guest root: no /etc/fstab)") {
		t.Fatalf("Guests: %v, want ErrNoGuest naming the xfs filesystem", err)
	}
}
