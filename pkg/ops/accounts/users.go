package accounts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/ops"
	"github.com/imgprep/imgprep/pkg/ops/internal/pathop"
)

// Files user-account reads and edits.
const (
	LoginDefs = "/etc/login.defs"
	Passwd    = "/etc/passwd"
	Shadow    = "/etc/shadow"
	Group     = "/etc/group"
	GShadow   = "/etc/gshadow"
)

// shadow-utils' defaults when login.defs sets none.
const (
	DefaultUIDMin = 1000
	DefaultUIDMax = 60000
)

// MailDirs are the mail spools a removed user's mailbox is taken from.
var MailDirs = []string{"/var/spool/mail", "/var/mail"}

// ErrBadUserName is returned for an empty or malformed user name in the
// options.
var ErrBadUserName = errors.New("accounts: invalid user name")

// Options narrow user-account's choice of users.
type Options struct {
	// Remove, when not empty, limits the removal to these users.
	Remove []string
	// Keep lists users never removed.
	Keep []string
}

// Validate checks the user names.
func (o Options) Validate() error {
	for _, list := range [][]string{o.Remove, o.Keep} {
		for _, u := range list {
			if u == "" || strings.ContainsAny(u, ":\n/") {
				return fmt.Errorf("%w %q", ErrBadUserName, u)
			}
		}
	}
	return nil
}

// UserAccount is the user-account operation.
type UserAccount struct{ opts Options }

// NewUserAccount returns the user-account operation.
func NewUserAccount(opts Options) *UserAccount { return &UserAccount{opts: opts} }

var _ ops.Operation = (*UserAccount)(nil)

// Name implements ops.Operation.
func (*UserAccount) Name() string { return "user-account" }

// Description implements ops.Operation.
func (*UserAccount) Description() string { return "Remove the user accounts in the guest" }

// Default implements ops.Operation.
func (*UserAccount) Default() bool { return false }

// user is one passwd line.
type user struct {
	name string
	uid  int64
	home string
}

// Apply implements ops.Operation.
func (o *UserAccount) Apply(ctx context.Context, g ops.Guest) ([]ops.Change, error) {
	if err := o.opts.Validate(); err != nil {
		return nil, err
	}
	s := pathop.NewSession(ctx, g, o.Name())
	if err := s.Err(); err != nil {
		return nil, err
	}
	passwd, ok, err := readSmall(s, Passwd)
	if err != nil || !ok {
		return nil, err
	}
	lo, hi, err := uidRange(s)
	if err != nil {
		return nil, err
	}
	users := parsePasswd(passwd)
	gone := map[string]bool{}
	var goneList []user
	for _, u := range users {
		if u.uid >= lo && u.uid <= hi && o.chosen(u.name) && !gone[u.name] {
			gone[u.name] = true
			goneList = append(goneList, u)
		}
	}
	if len(goneList) == 0 {
		return nil, nil
	}
	names := make([]string, 0, len(goneList))
	for _, u := range goneList {
		names = append(names, u.name)
	}
	sort.Strings(names)
	detail := pathop.Plural(len(names), "user", "users") + " removed: " + strings.Join(names, ", ")
	edits := []struct {
		file string
		edit func(line []string) ([]string, bool)
	}{
		{Passwd, dropNamed(gone)},
		{Shadow, dropNamed(gone)},
		{Group, dropGroup(gone, 3)},
		{GShadow, dropGroup(gone, 2, 3)},
	}
	for _, e := range edits {
		if err := s.Rewrite(e.file, func(old []byte) ([]byte, string) { return editLines(old, e.edit), detail }); err != nil {
			return nil, err
		}
	}
	kept := map[string]bool{}
	for _, u := range users {
		if !gone[u.name] {
			kept[path.Clean(u.home)] = true
		}
	}
	for _, u := range goneList {
		if h := path.Clean(u.home); removableHome(h, kept) {
			if err := s.Remove(h, false); err != nil {
				return nil, err
			}
		}
		for _, d := range MailDirs {
			if err := s.Remove(path.Join(d, u.name), false); err != nil {
				return nil, err
			}
		}
	}
	return s.Result(nil)
}

// removableHome reports whether a removed user's home h may go: an
// absolute path at least two levels deep (never "/", "/home" or "/var"),
// holding no home of a user who stays.
func removableHome(h string, kept map[string]bool) bool {
	if !path.IsAbs(h) || strings.Count(h, "/") < 2 {
		return false
	}
	for k := range kept {
		if k == h || strings.HasPrefix(k, h+"/") {
			return false
		}
	}
	return true
}

func (o *UserAccount) chosen(name string) bool {
	for _, k := range o.opts.Keep {
		if k == name {
			return false
		}
	}
	if len(o.opts.Remove) == 0 {
		return true
	}
	for _, r := range o.opts.Remove {
		if r == name {
			return true
		}
	}
	return false
}

// readSmall reads a regular file of at most MaxEdit bytes.
func readSmall(s *pathop.Session, p string) ([]byte, bool, error) {
	a, err := s.Guest().Stat(p)
	if err != nil {
		if pathop.Absent(err) {
			return nil, false, nil
		}
		return nil, false, s.Errorf("%s: %w", p, err)
	}
	if a.Type() != fs.TypeRegular {
		return nil, false, nil
	}
	if a.Size > pathop.MaxEdit {
		return nil, false, s.Errorf("%s: %d bytes, over %d: %w", p, a.Size, pathop.MaxEdit, fs.ErrInvalid)
	}
	b, err := s.Guest().ReadFile(p)
	if err != nil {
		return nil, false, s.Errorf("reading %s: %w", p, err)
	}
	return b, true, nil
}

// uidRange reads UID_MIN and UID_MAX from login.defs.
func uidRange(s *pathop.Session) (lo, hi int64, err error) {
	lo, hi = DefaultUIDMin, DefaultUIDMax
	data, ok, err := readSmall(s, LoginDefs)
	if err != nil || !ok {
		return lo, hi, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || (f[0] != "UID_MIN" && f[0] != "UID_MAX") {
			continue
		}
		v, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return 0, 0, s.Errorf("%s: %s %q is not a number: %w", LoginDefs, f[0], f[1], fs.ErrInvalid)
		}
		switch f[0] {
		case "UID_MIN":
			lo = v
		case "UID_MAX":
			hi = v
		}
	}
	return lo, hi, nil
}

// parsePasswd returns the well-formed lines of a passwd file.
func parsePasswd(data []byte) []user {
	var out []user
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Split(line, ":")
		if len(f) != 7 || f[0] == "" || strings.HasPrefix(f[0], "+") || strings.HasPrefix(f[0], "-") {
			continue
		}
		uid, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			continue
		}
		out = append(out, user{name: f[0], uid: uid, home: f[5]})
	}
	return out
}

// editLines applies edit to each line split on ':' (its newline kept
// apart); a line edit reports unchanged is kept byte for byte, one it
// returns nil for is dropped.
func editLines(data []byte, edit func([]string) ([]string, bool)) []byte {
	var out bytes.Buffer
	for rest := data; len(rest) > 0; {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line = rest[:i+1]
		}
		rest = rest[len(line):]
		body := bytes.TrimSuffix(line, []byte("\n"))
		fields, changed := edit(strings.Split(string(body), ":"))
		switch {
		case !changed:
			out.Write(line)
		case fields == nil:
		default:
			out.WriteString(strings.Join(fields, ":"))
			if len(body) < len(line) {
				out.WriteByte('\n')
			}
		}
	}
	return out.Bytes()
}

// dropNamed drops lines whose first field names a removed user.
func dropNamed(gone map[string]bool) func([]string) ([]string, bool) {
	return func(f []string) ([]string, bool) {
		if gone[f[0]] {
			return nil, true
		}
		return f, false
	}
}

// dropGroup drops the group named after a removed user and takes removed
// users out of the comma-separated lists in fields idx.
func dropGroup(gone map[string]bool, idx ...int) func([]string) ([]string, bool) {
	return func(f []string) ([]string, bool) {
		if gone[f[0]] {
			return nil, true
		}
		changed := false
		for _, i := range idx {
			if i >= len(f) || f[i] == "" {
				continue
			}
			var keep []string
			for _, m := range strings.Split(f[i], ",") {
				if gone[m] {
					changed = true
					continue
				}
				keep = append(keep, m)
			}
			f[i] = strings.Join(keep, ",")
		}
		return f, changed
	}
}
