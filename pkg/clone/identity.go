package clone

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/ops"
)

// Guest paths the identity operation writes.
const (
	HostnamePath  = "/etc/hostname"
	HostsPath     = "/etc/hosts"
	MachineIDPath = "/etc/machine-id"
	DbusIDPath    = "/var/lib/dbus/machine-id"
)

// Errors of the identity settings.
var (
	ErrHostname     = errors.New("clone: invalid host name")
	ErrMachineID    = errors.New("clone: invalid machine ID (want 32 lower-case hexadecimal characters, not all zeros)")
	ErrPattern      = errors.New("clone: pattern must contain {n}")
	ErrNotRegular   = errors.New("clone: not a regular file")
	ErrHostsTooLong = errors.New("clone: /etc/hosts is too large to edit")
)

// maxHosts bounds the /etc/hosts the operation edits.
const maxHosts = 1 << 20

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

// Apply implements ops.Operation. /etc/hostname and /etc/machine-id are
// created when missing (mode 0644 and 0444, owned by root), otherwise
// overwritten in place (mode, owner and labels kept). /etc/hosts, when
// present, gets its 127.0.1.1 line set to the new name. A regular-file
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
		if err := add(writeSmall(g, HostnamePath, h+"\n", 0o644, true)); err != nil {
			return nil, err
		}
		if err := add(editHosts(g, h)); err != nil {
			return nil, err
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

func absent(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrNotDir)
}

// writeSmall makes the regular file p hold content, creating it (when
// create) with perm.
func writeSmall(g ops.Guest, p, content string, perm uint32, create bool) ([]ops.Change, error) {
	a, err := g.Lstat(p)
	action := ops.Written
	switch {
	case err != nil && absent(err):
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

// editHosts sets the 127.0.1.1 line of an existing /etc/hosts.
func editHosts(g ops.Guest, hostname string) ([]ops.Change, error) {
	a, err := g.Lstat(HostsPath)
	switch {
	case err != nil && absent(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("clone: %s: %w", HostsPath, err)
	case a.Type() != fs.TypeRegular:
		return nil, fmt.Errorf("%w: %s is a %s; refusing to write through it", ErrNotRegular, HostsPath, a.Type())
	case a.Size > maxHosts:
		return nil, fmt.Errorf("%w: %d bytes (at most %d)", ErrHostsTooLong, a.Size, maxHosts)
	}
	cur, err := g.ReadFile(HostsPath)
	if err != nil {
		return nil, fmt.Errorf("clone: reading %s: %w", HostsPath, err)
	}
	next, changed := SetHostsName(cur, hostname)
	if !changed {
		return nil, nil
	}
	if err := g.WriteFile(HostsPath, next, fs.WriteOptions{}); err != nil {
		return nil, fmt.Errorf("clone: writing %s: %w", HostsPath, err)
	}
	where, err := g.Where(HostsPath)
	if err != nil {
		return nil, fmt.Errorf("clone: %s: %w", HostsPath, err)
	}
	return []ops.Change{{Path: HostsPath, Action: ops.Edited, Filesystem: where, Detail: "127.0.1.1 " + hostname}}, nil
}

// SetHostsName returns hosts with every "127.0.1.1" line naming hostname
// (and its first label, for a dotted name), as Debian's installer writes
// it; without such a line, one is added after the first 127.0.0.1 line,
// or at the end. Other lines are kept byte for byte.
func SetHostsName(hosts []byte, hostname string) ([]byte, bool) {
	want := "127.0.1.1\t" + hostname
	if short, _, ok := strings.Cut(hostname, "."); ok {
		want += " " + short
	}
	lines := bytes.SplitAfter(hosts, []byte("\n"))
	var out bytes.Buffer
	found, inserted := false, false
	after := -1
	for i, l := range lines {
		body := bytes.TrimRight(l, "\r\n")
		nl := l[len(body):]
		fields := bytes.Fields(body)
		if len(fields) > 0 && string(fields[0]) == "127.0.1.1" {
			found = true
			if len(nl) == 0 {
				nl = []byte("\n")
			}
			out.WriteString(want)
			out.Write(nl)
			continue
		}
		out.Write(l)
		if after < 0 && len(fields) > 0 && string(fields[0]) == "127.0.0.1" {
			after = i
		}
	}
	if !found {
		out.Reset()
		for i, l := range lines {
			out.Write(l)
			if i == after {
				if !bytes.HasSuffix(l, []byte("\n")) {
					out.WriteByte('\n')
				}
				out.WriteString(want + "\n")
				inserted = true
			}
		}
		if !inserted {
			if out.Len() > 0 && !bytes.HasSuffix(out.Bytes(), []byte("\n")) {
				out.WriteByte('\n')
			}
			out.WriteString(want + "\n")
		}
	}
	next := out.Bytes()
	return next, !bytes.Equal(next, hosts)
}
