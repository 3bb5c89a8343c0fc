package customize

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/ops"
)

// Guest account files.
const (
	PasswdPath = "/etc/passwd"
	ShadowPath = "/etc/shadow"
)

// password sets the shadow(5) password field of the step's user to a
// SHA-512 crypt hash (a fresh salt per guest) or "*". Every other line and
// field stays byte-identical, and /etc/shadow keeps its inode, mode and
// owner.
func (r *run) password() error {
	old, ok, err := r.readRegular(ShadowPath)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s: %w", ShadowPath, ErrNotFound)
	}
	field, err := r.step.secret.hashField()
	if err != nil {
		return err
	}
	next, found := SetShadowField(old, r.step.user, field)
	if !found {
		return fmt.Errorf("user %s in %s: %w", r.step.user, ShadowPath, ErrNoUser)
	}
	if err := r.g.WriteFile(ShadowPath, next, fs.WriteOptions{}); err != nil {
		return fmt.Errorf("writing %s: %w", ShadowPath, err)
	}
	detail := "password of " + r.step.user + " set"
	if r.step.secret.kind == SelectDisabled {
		detail = "password of " + r.step.user + " disabled"
	}
	return r.record(ShadowPath, ops.Edited, detail)
}

// SetShadowField sets the second field (the password) of every line of a
// shadow(5) file whose first field is user, and reports whether there was
// one. Every other byte is kept: other lines, the other fields, line ends
// and a missing final newline.
func SetShadowField(shadow []byte, user, field string) (out []byte, found bool) {
	var b bytes.Buffer
	b.Grow(len(shadow) + len(field))
	for rest := shadow; len(rest) > 0; {
		l := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			l = rest[:i+1]
		}
		rest = rest[len(l):]
		name, tail, ok := bytes.Cut(l, []byte(":"))
		if !ok || string(name) != user {
			b.Write(l)
			continue
		}
		found = true
		b.Write(name)
		b.WriteByte(':')
		b.WriteString(field)
		b.Write(afterField(tail))
	}
	return b.Bytes(), found
}

// afterField returns what follows the first field of fields: from the
// next ':', or the line end ("\n" or "\r\n") when it is the last field.
func afterField(fields []byte) []byte {
	if i := bytes.IndexByte(fields, ':'); i >= 0 {
		return fields[i:]
	}
	for _, end := range []string{"\r\n", "\n"} {
		if bytes.HasSuffix(fields, []byte(end)) {
			return []byte(end)
		}
	}
	return nil
}

// account is one passwd(5) entry.
type account struct {
	uid, gid uint32
	home     string
}

// lookupUser finds user in the guest's /etc/passwd.
func (r *run) lookupUser(user string) (account, error) {
	data, ok, err := r.readRegular(PasswdPath)
	if err != nil {
		return account{}, err
	}
	if !ok {
		return account{}, fmt.Errorf("%s: %w", PasswdPath, ErrNotFound)
	}
	a, found, err := LookupPasswd(data, user)
	if err != nil {
		return account{}, fmt.Errorf("%s: %w", PasswdPath, err)
	}
	if !found {
		return account{}, fmt.Errorf("user %s in %s: %w", user, PasswdPath, ErrNoUser)
	}
	return account{uid: a.UID, gid: a.GID, home: a.Home}, nil
}

// PasswdEntry is the part of a passwd(5) line customizations use.
type PasswdEntry struct {
	UID, GID uint32
	Home     string
}

// LookupPasswd returns the first passwd(5) entry named user. A malformed
// entry for user (not 7 fields, a bad uid or gid, a home that is not an
// absolute path) is an error; malformed lines of other users are skipped.
func LookupPasswd(passwd []byte, user string) (PasswdEntry, bool, error) {
	for _, l := range strings.Split(string(passwd), "\n") {
		f := strings.Split(strings.TrimSuffix(l, "\r"), ":")
		if f[0] != user {
			continue
		}
		if len(f) != 7 {
			return PasswdEntry{}, false, fmt.Errorf("the entry of %s has %d fields, want 7: %w", user, len(f), fs.ErrInvalid)
		}
		uid, err1 := strconv.ParseUint(f[2], 10, 32)
		gid, err2 := strconv.ParseUint(f[3], 10, 32)
		if err1 != nil || err2 != nil {
			return PasswdEntry{}, false, fmt.Errorf("the entry of %s has a bad uid or gid: %w", user, fs.ErrInvalid)
		}
		if !strings.HasPrefix(f[5], "/") || strings.ContainsRune(f[5], 0) {
			return PasswdEntry{}, false, fmt.Errorf("the home of %s is not an absolute path: %w", user, fs.ErrInvalid)
		}
		return PasswdEntry{UID: uint32(uid), GID: uint32(gid), Home: f[5]}, true, nil
	}
	return PasswdEntry{}, false, nil
}
