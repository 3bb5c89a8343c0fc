package lvmuuids

import (
	"context"
	"io"

	"github.com/imgprep/imgprep/pkg/guest"
	"github.com/imgprep/imgprep/pkg/lvm"
	"github.com/imgprep/imgprep/pkg/ops"
	"github.com/imgprep/imgprep/pkg/ops/internal/pathop"
)

// Name is the operation's name, virt-sysprep's.
const Name = "lvm-uuids"

// References are the guest files (globs) whose mentions of an old PV or
// VG UUID are rewritten to the new one.
var References = []string{
	"/etc/lvm/lvm.conf",
	"/etc/lvm/lvmlocal.conf",
	"/etc/lvm/devices/*.devices",
	"/etc/lvm/backup/*",
	"/etc/lvm/archive/*.vg",
	"/etc/crypttab",
	"/etc/fstab",
	"/etc/default/grub",
	"/etc/default/grub.d/*.cfg",
	"/boot/grub/grub.cfg",
	"/boot/grub2/grub.cfg",
	"/boot/efi/EFI/*/grub.cfg",
	"/boot/loader/entries/*.conf",
	"/boot/efi/loader/entries/*.conf",
	"/etc/kernel/cmdline",
	"/etc/initramfs-tools/conf.d/resume",
	"/etc/dracut.conf.d/*.conf",
}

// Changer is what the operation needs of a guest: *guest.Guest has it.
type Changer interface {
	ChangeLVMUUIDs(r io.Reader) ([]guest.VGChange, error)
}

// Op is the lvm-uuids operation.
type Op struct {
	rand io.Reader
}

// New returns the operation; r is the random source (crypto/rand when
// nil).
func New(r io.Reader) *Op { return &Op{rand: r} }

var _ ops.Operation = (*Op)(nil)

// Name implements ops.Operation.
func (*Op) Name() string { return Name }

// Description implements ops.Operation.
func (*Op) Description() string {
	return "Change LVM2 PV and VG UUIDs, and rewrite lvm.conf, devices file, crypttab and boot loader references to them"
}

// Default implements ops.Operation: on, as in virt-sysprep.
func (*Op) Default() bool { return true }

// Apply implements ops.Operation. Each volume group gets one change (path
// /dev/VG, on "LVM2 VG name") and each of its PVs one (on the PV's
// partition), then the references are rewritten.
func (o *Op) Apply(ctx context.Context, g ops.Guest) ([]ops.Change, error) {
	s := pathop.NewSession(ctx, g, Name)
	if err := s.Err(); err != nil {
		return nil, err
	}
	c, ok := g.(Changer)
	if !ok {
		return s.Result(nil)
	}
	done, err := c.ChangeLVMUUIDs(o.rand)
	if err != nil {
		return nil, s.Errorf("%w (give every disk of the VM, or leave the operation out: --operations defaults,-%s)", err, Name)
	}
	var changes []ops.Change
	var renames []Rename
	for _, vg := range done {
		for _, id := range vg.IDs {
			where := "LVM2 VG " + vg.VG
			kind := "VG "
			if id.Device != "" {
				where, kind = id.Device, "PV "
			}
			changes = append(changes, ops.Change{Path: "/dev/" + vg.VG, Action: ops.NewUUID, Filesystem: where,
				Detail: kind + lvm.FormatID(id.Old) + " → " + lvm.FormatID(id.New)})
			renames = append(renames, Rename{Old: id.Old, New: id.New, VG: id.Device == ""})
		}
	}
	if len(renames) == 0 {
		return s.Result(nil)
	}
	for _, pattern := range References {
		paths, err := s.Glob(pattern)
		if err != nil {
			return s.Result(err)
		}
		for _, p := range paths {
			err := s.Rewrite(p, func(old []byte) ([]byte, string) {
				next, n := Replace(old, renames)
				return next, pathop.Plural(n, "reference", "references")
			})
			if err != nil {
				return s.Result(err)
			}
		}
	}
	edits, err := s.Result(nil)
	if err != nil {
		return nil, err
	}
	return append(changes, edits...), nil
}

// Rename is one UUID's change, both in lvm2's 32-character form without
// dashes; VG says it is a VG's.
type Rename struct {
	Old, New string
	VG       bool
}

// Replace rewrites every mention of an old UUID in data as the new one,
// in the form it is written in: with lvm2's dashes (pvs, the metadata,
// /dev/disk/by-id/lvm-pv-uuid-…, grub's lvmid/…) or without (a devices
// file's PVID=, a device-mapper UUID). The UUIDs are case-sensitive. A
// mention is a whole token: not inside a longer run of letters and
// digits, except that a VG UUID without dashes may be followed by the 32
// characters of an LV UUID (dm-uuid-LVM-<VG UUID><LV UUID>). It returns
// the new data and the number of mentions rewritten.
func Replace(data []byte, renames []Rename) ([]byte, int) {
	type form struct {
		old, new    string
		lvMayFollow bool // a VG UUID without dashes
	}
	var forms []form
	for _, r := range renames {
		if len(r.Old) != lvm.IDLen || len(r.New) != lvm.IDLen {
			continue
		}
		forms = append(forms, form{lvm.FormatID(r.Old), lvm.FormatID(r.New), false}, form{r.Old, r.New, r.VG})
	}
	out := make([]byte, 0, len(data))
	n := 0
	for i := 0; i < len(data); {
		matched := false
		if i == 0 || !alnum(data[i-1]) {
			for _, f := range forms {
				end := i + len(f.old)
				if end > len(data) || string(data[i:end]) != f.old || !tokenEnd(data, end) && !(f.lvMayFollow && idFollows(data, end)) {
					continue
				}
				out = append(out, f.new...)
				i, n, matched = end, n+1, true
				break
			}
		}
		if !matched {
			out = append(out, data[i])
			i++
		}
	}
	return out, n
}

// tokenEnd reports whether a token may end before data[i].
func tokenEnd(data []byte, i int) bool { return i >= len(data) || !alnum(data[i]) }

// idFollows reports whether data[i:] starts with a 32-character UUID
// ending a token.
func idFollows(data []byte, i int) bool {
	end := i + lvm.IDLen
	if end > len(data) || !tokenEnd(data, end) {
		return false
	}
	for _, c := range data[i:end] {
		if !alnum(c) {
			return false
		}
	}
	return true
}

func alnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
