package guest

import (
	"errors"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/deadline"
	"github.com/imgprep/imgprep/pkg/fs"
)

// TestHostileGuestPathsOnExt4 resolves the hostile fixtures' paths on
// real ext4 filesystems made by mkfs.ext4 (read side only).
func TestHostileGuestPathsOnExt4(t *testing.T) {
	type check struct {
		name    string
		do      func(g *Guest) (string, error)
		want    string
		wantErr error
	}
	stat := func(p string) func(g *Guest) (string, error) {
		return func(g *Guest) (string, error) {
			a, err := g.Stat(p)
			return a.Type().String(), err
		}
	}
	lstat := func(p string) func(g *Guest) (string, error) {
		return func(g *Guest) (string, error) {
			a, err := g.Lstat(p)
			return a.Type().String(), err
		}
	}
	read := func(p string) func(g *Guest) (string, error) {
		return func(g *Guest) (string, error) {
			b, err := g.ReadFile(p)
			return string(b), err
		}
	}
	where := func(p string) func(g *Guest) (string, error) {
		return func(g *Guest) (string, error) { return g.Where(p) }
	}
	tests := []struct {
		image  string
		checks []check
	}{
		{"guest-clouddlink.raw", []check{
			{"cloud.d -> /etc is a symlink, not followed by Lstat", lstat("/var/lib/netdata/cloud.d"), "symlink", nil},
			{"cloud.d -> /etc followed by Stat is /etc, a directory", stat("/var/lib/netdata/cloud.d"), "dir", nil},
			{"a file through cloud.d is the guest's /etc file", read("/var/lib/netdata/cloud.d/hostname"), "template\n", nil},
		}},
		{"guest-netdatadotdot.raw", []check{
			{"/var/lib/netdata -> ../../../../.. stops at the guest root", read("/var/lib/netdata/etc/hostname"), "template\n", nil},
			{"the GUID path through it does not exist", stat("/var/lib/netdata/registry/netdata.public.unique.id"), "", fs.ErrNotExist},
			{"Where does not follow the final link", where("/var/lib/netdata"), "ext4 on the whole disk (/)", nil},
		}},
		{"guest-symloop.raw", []check{
			{"a loop on the way to the registry ends with ELOOP", stat("/var/lib/netdata/registry/netdata.public.unique.id"), "", fs.ErrLoop},
			{"the looping link itself can be looked at", lstat("/var/lib/netdata/registry"), "symlink", nil},
		}},
		{"guest-runfile.raw", []check{
			{"/run -> a regular file: a path below it is ENOTDIR", stat("/run/status-netdata.json"), "", fs.ErrNotDir},
			{"/var/run -> /run -> file: ENOTDIR as well", read("/var/run/status-netdata.json"), "", fs.ErrNotDir},
			{"/run followed is the regular file", stat("/run"), "file", nil},
		}},
		{"disk-gpt.raw", []check{
			{"/var/run -> /run reaches the root filesystem's /run", where("/var/run/status-netdata.json"), "ext4 on partition 2 (/)", nil},
			{"the GUID is on the /var filesystem", where("/var/lib/netdata/registry/netdata.public.unique.id"), "ext4 on partition 3 (/var)", nil},
			{"the ESP's vfat is read through pkg/fs/vfat", read("/boot/efi/loader/random-seed"), "esp-random-seed\n", nil},
			{"a change on the ESP of a read-only scan is refused", func(g *Guest) (string, error) {
				return "", g.Remove("/boot/efi/loader/random-seed")
			}, "", fs.ErrReadOnly},
			{"Where names the ESP's mount", where("/boot/efi/EFI/BOOT/BOOTX64.EFI"), "vfat on partition 1 (/boot/efi)", nil},
			{"a path under the absent /srv disk is unresolved", stat("/srv/x"), "", ErrUnresolvedMount},
			{"machine-id is read through the guest", read("/etc/machine-id"), "4c8ab9d6b1d24a0c9e0f3b2a1c5d7e9f\n", nil},
		}},
		{"guest-varxfs.raw", []check{
			{"the root is readable", read("/etc/hostname"), "template\n", nil},
			{"the (empty) xfs /var is read: a path on it does not exist", stat("/var/lib/netdata"), "", fs.ErrNotExist},
			{"a change on the xfs /var is refused naming it", func(g *Guest) (string, error) {
				return "", g.WriteFile("/var/x", []byte("x"), fs.WriteOptions{Perm: 0o644})
			}, "", ErrUnsupportedFS},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.image, func(t *testing.T) {
			g, _, _ := scanGuest(t, tt.image, false)
			for _, c := range tt.checks {
				t.Run(c.name, func(t *testing.T) {
					g := g
					if errors.Is(c.wantErr, fs.ErrLoop) {
						// A loop gets a guest of its own: should the
						// resolution never end, the deadline fails this
						// check and the other checks keep theirs.
						g, _, _ = scanGuest(t, tt.image, false)
					}
					got, err := deadline.Call(t, c.name, func() (string, error) { return c.do(g) })
					if c.wantErr != nil {
						if !errors.Is(err, c.wantErr) {
							t.Fatalf("got %q, %v; want error %v", got, err, c.wantErr)
						}
						return
					}
					if err != nil || got != c.want {
						t.Fatalf("got %q, %v; want %q", got, err, c.want)
					}
				})
			}
		})
	}
}

// TestUnsupportedVarErrorReadsLikeTheContract: xfs is read, and a change
// the xfs engine does not make yet is refused in one line naming the
// filesystem and what.
func TestUnsupportedVarErrorReadsLikeTheContract(t *testing.T) {
	g, _, _ := scanGuest(t, "guest-varxfs.raw", true)
	if _, err := g.Stat("/var"); err != nil {
		t.Fatalf("stat /var on xfs: %v", err)
	}
	err := g.WriteFile("/var/x", []byte("x"), fs.WriteOptions{Perm: 0o644})
	if want := "xfs on partition 2 of guest-varxfs.raw: imgprep cannot create or overwrite files on xfs yet"; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want %q", err, want)
	}
	if !errors.Is(err, fs.ErrReadOnly) {
		t.Fatalf("%v is not fs.ErrReadOnly", err)
	}
}
