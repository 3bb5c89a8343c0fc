package clone

import (
	"context"
	"encoding/hex"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/imgprep/imgprep/pkg/customize"
	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/ops"
)

// Guest paths the identity operation writes (the host name's are
// pkg/customize's).
const (
	MachineIDPath = "/etc/machine-id"
	DbusIDPath    = "/var/lib/dbus/machine-id"
)

// Identity is what makes one clone its own machine. Empty fields are left
// as sysprep made them.
type Identity struct {
	Hostname  string
	MachineID string // 32 lower-case hex characters
}

// IsZero reports whether the identity sets nothing.
func (id Identity) IsZero() bool { return id.Hostname == "" && id.MachineID == "" }

// Validate checks the host name and the machine ID.
func (id Identity) Validate() error {
	if id.Hostname != "" {
		if err := ValidHostname(id.Hostname); err != nil {
			return err
		}
	}
	if id.MachineID != "" && !validMachineID(id.MachineID) {
		return fmt.Errorf("%w: %q", ErrMachineID, id.MachineID)
	}
	return nil
}

var hex32 = regexp.MustCompile(`^[0-9a-f]{32}$`)

func validMachineID(s string) bool {
	return hex32.MatchString(s) && s != strings.Repeat("0", 32)
}

// RandomMachineID returns a fresh machine ID: a random (version 4) UUID
// from google/uuid as 32 lower-case hex characters, the form
// machine-id(5) stores (without the newline).
func RandomMachineID() (string, error) {
	u, err := uuid.NewRandom()
	if err != nil {
		return "", fmt.Errorf("clone: generating a machine ID: %w", err)
	}
	return hex.EncodeToString(u[:]), nil
}

// ValidHostname checks a host name as RFC 1123 allows it: dot-separated
// labels of 1 to 63 letters, digits and hyphens, no label starting or
// ending with a hyphen, at most 64 bytes in all (HOST_NAME_MAX).
func ValidHostname(name string) error {
	bad := func(why string) error { return fmt.Errorf("%w %q: %s", ErrHostname, name, why) }
	if name == "" {
		return bad("empty")
	}
	if len(name) > 64 {
		return bad("longer than 64 bytes")
	}
	for _, label := range strings.Split(name, ".") {
		switch {
		case label == "":
			return bad("empty label")
		case len(label) > 63:
			return bad("label longer than 63 characters")
		case label[0] == '-' || label[len(label)-1] == '-':
			return bad("label starts or ends with a hyphen")
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return bad(fmt.Sprintf("character %q", c))
			}
		}
	}
	return nil
}

// Expand replaces every "{n}" of pattern with n. A pattern without "{n}"
// is refused: every clone would get the same name.
func Expand(pattern string, n int) (string, error) {
	if !strings.Contains(pattern, "{n}") {
		return "", fmt.Errorf("%w: %q", ErrPattern, pattern)
	}
	return strings.ReplaceAll(pattern, "{n}", strconv.Itoa(n)), nil
}

// IdentityOp is the operation that writes an Identity into a guest. It
// runs after sysprep's operations, so that the machine-id operation's
// emptying is followed by the fresh ID.
type IdentityOp struct{ id Identity }

// NewIdentityOp returns the operation writing id.
func NewIdentityOp(id Identity) *IdentityOp { return &IdentityOp{id: id} }

var _ ops.Operation = (*IdentityOp)(nil)

// Name implements ops.Operation.
func (*IdentityOp) Name() string { return "clone-identity" }

// Description implements ops.Operation.
func (*IdentityOp) Description() string {
	return "Give a clone its host name (/etc/hostname, /etc/hosts 127.0.1.1) and machine ID"
}

// Default implements ops.Operation: the operation only runs for clone.
func (*IdentityOp) Default() bool { return false }

// Apply implements ops.Operation. The host name is written as
// virt-customize --hostname does (pkg/customize): /etc/hostname, and the
// 127.0.1.1 line of an existing /etc/hosts. /etc/machine-id is created
// when missing (mode 0444, owned by root) in an existing /etc, otherwise
// overwritten in place (mode, owner and labels kept); a regular-file
// /var/lib/dbus/machine-id gets the same ID, so that D-Bus and systemd
// agree. A symlink at any of these paths is refused rather than followed.
func (o *IdentityOp) Apply(ctx context.Context, g ops.Guest) ([]ops.Change, error) {
	if err := o.id.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var changes []ops.Change
	add := func(c []ops.Change, err error) error {
		changes = append(changes, c...)
		return err
	}
	if h := o.id.Hostname; h != "" {
		// virt-customize's --hostname, as pkg/customize implements it.
		step, err := customize.Parse(customize.Hostname, h)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrHostname, err)
		}
		if err := add(step.Apply(ctx, g)); err != nil {
			return nil, fmt.Errorf("clone: %w", err)
		}
	}
	if id := o.id.MachineID; id != "" {
		if err := add(writeSmall(g, MachineIDPath, id+"\n", 0o444, true)); err != nil {
			return nil, err
		}
		if err := add(writeSmall(g, DbusIDPath, id+"\n", 0o444, false)); err != nil {
			return nil, err
		}
	}
	return changes, nil
}

// writeSmall makes the regular file p hold content, creating it (when
// create) with perm.
func writeSmall(g ops.Guest, p, content string, perm uint32, create bool) ([]ops.Change, error) {
	a, err := g.Lstat(p)
	action := ops.Written
	switch {
	case err != nil && fs.IsAbsent(err):
		if !create {
			return nil, nil
		}
		// A guest without the directory is not one to create it in.
		if d, err := g.Stat(path.Dir(p)); err != nil || d.Type() != fs.TypeDir {
			return nil, nil
		}
		action = ops.Created
	case err != nil:
		return nil, fmt.Errorf("clone: %s: %w", p, err)
	case a.Type() != fs.TypeRegular:
		return nil, fmt.Errorf("%w: %s is a %s; refusing to write through it", ErrNotRegular, p, a.Type())
	case a.Size == int64(len(content)):
		cur, err := g.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("clone: reading %s: %w", p, err)
		}
		if string(cur) == content {
			return nil, nil
		}
	}
	if err := g.WriteFile(p, []byte(content), fs.WriteOptions{Perm: perm}); err != nil {
		return nil, fmt.Errorf("clone: writing %s: %w", p, err)
	}
	where, err := g.Where(p)
	if err != nil {
		return nil, fmt.Errorf("clone: %s: %w", p, err)
	}
	return []ops.Change{{Path: p, Action: action, Filesystem: where}}, nil
}
