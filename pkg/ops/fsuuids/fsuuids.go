package fsuuids

import (
	"context"
	"io"
	"strings"

	"github.com/imgprep/imgprep/pkg/guest"
	"github.com/imgprep/imgprep/pkg/ops"
	"github.com/imgprep/imgprep/pkg/ops/internal/pathop"
)

// Name is the operation's name, virt-sysprep's.
const Name = "fs-uuids"

// References are the guest files (globs) whose mentions of an old UUID
// are rewritten to the new one.
var References = []string{
	"/etc/fstab",
	"/etc/crypttab",
	"/etc/default/grub",
	"/etc/default/grub.d/*.cfg",
	"/boot/grub/grub.cfg",
	"/boot/grub2/grub.cfg",
	"/boot/grub2/grubenv",
	"/boot/efi/EFI/*/grub.cfg",
	"/boot/loader/entries/*.conf",
	"/boot/efi/loader/entries/*.conf",
	"/etc/kernel/cmdline",
	"/etc/initramfs-tools/conf.d/resume",
	"/etc/uswsusp.conf",
	"/etc/dracut.conf.d/*.conf",
}

// Changer is what the operation needs of a guest: *guest.Guest has it.
type Changer interface {
	ChangeFilesystemUUIDs(r io.Reader) ([]guest.FSUUIDChange, error)
}

// Op is the fs-uuids operation.
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
	return "Give every filesystem a new UUID, and rewrite fstab, crypttab, boot loader and resume references to it"
}

// Default implements ops.Operation: off, as in virt-sysprep.
func (*Op) Default() bool { return false }

// Apply implements ops.Operation.
func (o *Op) Apply(ctx context.Context, g ops.Guest) ([]ops.Change, error) {
	s := pathop.NewSession(ctx, g, Name)
	if err := s.Err(); err != nil {
		return nil, err
	}
	c, ok := g.(Changer)
	if !ok {
		return s.Result(nil)
	}
	done, err := c.ChangeFilesystemUUIDs(o.rand)
	if err != nil {
		return nil, s.Errorf("%w", err)
	}
	var renames []Rename
	for _, d := range done {
		if d.New == "" {
			continue
		}
		if err := s.Record(d.Point, ops.NewUUID, d.Old+" → "+d.New); err != nil {
			return s.Result(err)
		}
		if d.Old != "" {
			renames = append(renames, Rename{d.Old, d.New})
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
	return s.Result(nil)
}

// Rename is one UUID's change, in the forms blkid prints.
type Rename struct{ Old, New string }

// Replace rewrites every mention of an old UUID in data as the new one:
// matched without regard to case, only as a whole token (not inside a
// longer run of hex digits and dashes), and written in the mention's case
// (a mention without letters, or written as blkid prints the old UUID,
// gets the new one as blkid prints it; otherwise a lower-case mention
// gets it in lower case and any other in upper case: udev's
// /dev/disk/by-uuid names, which mount looks up, are case-sensitive). It
// returns the new data and the number of mentions rewritten.
func Replace(data []byte, renames []Rename) ([]byte, int) {
	out := make([]byte, 0, len(data))
	n := 0
	for i := 0; i < len(data); {
		matched := false
		if i == 0 || !uuidByte(data[i-1]) {
			for _, r := range renames {
				end := i + len(r.Old)
				if end > len(data) || !strings.EqualFold(string(data[i:end]), r.Old) {
					continue
				}
				if end < len(data) && uuidByte(data[end]) {
					continue
				}
				mention := string(data[i:end])
				lower, upper := strings.ToLower(mention), strings.ToUpper(mention)
				switch {
				case mention == r.Old || lower == upper:
					out = append(out, r.New...)
				case mention == lower:
					out = append(out, strings.ToLower(r.New)...)
				default:
					out = append(out, strings.ToUpper(r.New)...)
				}
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

func uuidByte(c byte) bool {
	return c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}
