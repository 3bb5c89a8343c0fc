package machineid

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"

	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/ops"
)

// Paths the operation touches.
const (
	EtcPath  = "/etc/machine-id"
	DbusPath = "/var/lib/dbus/machine-id"
)

// Mode says what /etc/machine-id becomes.
type Mode string

// Modes.
const (
	// ModeEmpty truncates /etc/machine-id to zero bytes (the default).
	ModeEmpty Mode = "empty"
	// ModeUninitialized writes "uninitialized\n": systemd then also treats
	// the next boot as the first one.
	ModeUninitialized Mode = "uninitialized"
)

// Uninitialized is the content ModeUninitialized writes.
const Uninitialized = "uninitialized\n"

// ErrBadMode is returned for a Mode other than the two above.
var ErrBadMode = errors.New("machineid: unknown machine-id mode (want empty or uninitialized)")

// ParseMode checks a mode name; "" means ModeEmpty.
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case "", ModeEmpty:
		return ModeEmpty, nil
	case ModeUninitialized:
		return ModeUninitialized, nil
	}
	return "", fmt.Errorf("%w: %q", ErrBadMode, s)
}

// Options configure the operation.
type Options struct {
	Mode Mode // "" means ModeEmpty
}

// Op is the machine-id operation.
type Op struct {
	opts Options
}

// New returns the operation. An invalid mode is reported by Apply.
func New(opts Options) *Op { return &Op{opts: opts} }

var _ ops.Operation = (*Op)(nil)

// Name implements ops.Operation.
func (*Op) Name() string { return "machine-id" }

// Description implements ops.Operation.
func (*Op) Description() string {
	return "Empty /etc/machine-id (never write a shared fresh ID) and the stale D-Bus copy"
}

// Default implements ops.Operation.
func (*Op) Default() bool { return true }

// Apply implements ops.Operation. Only regular files are changed, and a
// missing file is left missing. Truncating and overwriting keep the inode,
// so mode, owner and xattrs (the SELinux label) stay.
//
// systemd reads /etc/machine-id through a symlink, so a symlinked
// /etc/machine-id is followed (inside the guest) — but only to a regular
// file itself named machine-id (/var/lib/dbus/machine-id, say): a link to
// anything else (/etc/passwd) is left alone rather than emptying an
// unrelated file. The change then reports the file really changed. A
// symlinked /var/lib/dbus/machine-id is left alone: systemd ignores it.
func (o *Op) Apply(ctx context.Context, g ops.Guest) ([]ops.Change, error) {
	mode, err := ParseMode(string(o.opts.Mode))
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var changes []ops.Change
	want := ""
	if mode == ModeUninitialized {
		want = Uninitialized
	}
	etc, err := followToMachineID(g, EtcPath)
	if err != nil {
		return nil, err
	}
	c, err := setContent(g, etc, want)
	if err != nil {
		return nil, err
	}
	changes = append(changes, c...)
	// /var/lib/dbus may be a symlink to /etc, or /etc/machine-id one to
	// the D-Bus file: the same file is then reached twice and must keep
	// what /etc/machine-id got.
	if same, err := sameFile(g, etc, DbusPath); err != nil || same {
		return changes, err
	}
	c, err = setContent(g, DbusPath, "")
	if err != nil {
		return nil, err
	}
	return append(changes, c...), nil
}

// sameFile reports whether a and b name the same inode of the same
// filesystem, neither final component followed.
func sameFile(g ops.Guest, a, b string) (bool, error) {
	sa, err := g.Lstat(a)
	if err != nil {
		return false, nil
	}
	sb, err := g.Lstat(b)
	if err != nil || sa.Ino != sb.Ino {
		return false, nil
	}
	wa, err := g.Where(a)
	if err != nil {
		return false, fmt.Errorf("machine-id: %s: %w", a, err)
	}
	wb, err := g.Where(b)
	if err != nil {
		return false, fmt.Errorf("machine-id: %s: %w", b, err)
	}
	return wa == wb, nil
}

// setContent makes the regular file p hold want, if it exists.
func setContent(g ops.Guest, p, want string) ([]ops.Change, error) {
	a, err := g.Lstat(p)
	if err != nil {
		if fs.IsAbsent(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("machine-id: %s: %w", p, err)
	}
	if a.Type() != fs.TypeRegular {
		return nil, nil
	}
	if a.Size == int64(len(want)) {
		if want == "" {
			return nil, nil
		}
		cur, err := g.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("machine-id: reading %s: %w", p, err)
		}
		if bytes.Equal(cur, []byte(want)) {
			return nil, nil
		}
	}
	where, err := g.Where(p)
	if err != nil {
		return nil, fmt.Errorf("machine-id: %s: %w", p, err)
	}
	action := ops.Truncated
	if want == "" {
		err = g.Truncate(p, 0)
	} else {
		action = ops.Written
		err = g.WriteFile(p, []byte(want), fs.WriteOptions{})
	}
	if err != nil {
		return nil, fmt.Errorf("machine-id: emptying %s: %w", p, err)
	}
	return []ops.Change{{Path: p, Action: action, Filesystem: where}}, nil
}

// followToMachineID follows p while it is a symlink, inside the guest,
// and returns the path reached when that is a file named machine-id; p
// itself otherwise (setContent then leaves a symlink alone).
func followToMachineID(g ops.Guest, p string) (string, error) {
	cur := p
	for hops := 0; hops <= fs.MaxSymlinkHops; hops++ {
		a, err := g.Lstat(cur)
		if err != nil {
			if fs.IsAbsent(err) {
				return p, nil
			}
			return "", fmt.Errorf("machine-id: %s: %w", cur, err)
		}
		if a.Type() != fs.TypeSymlink {
			if cur != p && path.Base(cur) != "machine-id" {
				return p, nil
			}
			return cur, nil
		}
		target, err := g.Readlink(cur)
		if err != nil {
			return "", fmt.Errorf("machine-id: %s: %w", cur, err)
		}
		if !path.IsAbs(target) {
			target = path.Join(path.Dir(cur), target)
		}
		cur = path.Clean(target)
	}
	return p, nil
}
