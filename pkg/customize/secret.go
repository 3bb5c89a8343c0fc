package customize

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"github.com/imgprep/imgprep/internal/shacrypt"
)

// MaxScript bounds a --firstboot script, a --firstboot-command, a
// --ssh-inject key file and a --password file.
const MaxScript = 1 << 20

// RandomPasswordLength is the length of a "random" password, drawn from
// letters and digits as virt-customize draws it.
const RandomPasswordLength = 16

const randomAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// Password selectors (virt-customize(1), "USERS AND PASSWORDS").
const (
	SelectPassword = "password" // password:PASS
	SelectFile     = "file"     // file:FILENAME, the first line of a host file
	SelectRandom   = "random"   // a random password, revealed by RandomPassword
	SelectDisabled = "disabled" // no password login: "*" in the hash field
)

// secret is a parsed password selector. The password never leaves the
// package except through Step.RandomPassword.
type secret struct {
	kind     string
	password string
}

// userRE is a user name as shadow-utils' useradd accepts it (plus the
// trailing '$' of Samba machine accounts).
var userRE = regexp.MustCompile(`^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,31}\$?$`)

func validUser(u string) bool { return userRE.MatchString(u) && u != "." && u != ".." }

// parseSecret parses a password selector. Errors never quote the
// password.
func parseSecret(sel string) (secret, error) {
	kind, val, _ := strings.Cut(sel, ":")
	switch kind {
	case SelectPassword:
		if val == "" {
			return secret{}, fmt.Errorf("%w: the password is empty", ErrSyntax)
		}
		if strings.ContainsAny(val, "\n\r\x00") {
			return secret{}, fmt.Errorf("%w: the password holds a line break or NUL", ErrSyntax)
		}
		return secret{kind: kind, password: val}, nil
	case SelectFile:
		if val == "" {
			return secret{}, fmt.Errorf("%w: want file:FILENAME", ErrSyntax)
		}
		data, err := readHostFile(val, MaxScript)
		if err != nil {
			return secret{}, err
		}
		line, _, _ := bytes.Cut(data, []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 || bytes.IndexByte(line, 0) >= 0 {
			return secret{}, fmt.Errorf("%w: the first line of %s is empty or holds a NUL", ErrSyntax, val)
		}
		return secret{kind: kind, password: string(line)}, nil
	case SelectRandom, SelectDisabled:
		if strings.Contains(sel, ":") {
			return secret{}, fmt.Errorf("%w: %s takes no value", ErrSyntax, kind)
		}
		s := secret{kind: kind}
		if kind == SelectRandom {
			pw, err := shacrypt.RandomString(nil, randomAlphabet, RandomPasswordLength)
			if err != nil {
				return secret{}, err
			}
			s.password = pw
		}
		return s, nil
	}
	return secret{}, fmt.Errorf("%w: the selector is not password:PASS, file:FILENAME, random or disabled", ErrSyntax)
}

// hashField is what the shadow(5) password field becomes: a fresh
// SHA-512 crypt hash, or "*" for disabled.
func (s secret) hashField() (string, error) {
	if s.kind == SelectDisabled {
		return "*", nil
	}
	return shacrypt.Hash(s.password, nil)
}

// RandomPassword returns the user and the password a "random" selector
// drew at Parse, for the caller to show its user once (virt-customize
// prints it); ok is false for every other step. The password is in no
// report or error.
func (s Step) RandomPassword() (user, password string, ok bool) {
	if s.secret.kind != SelectRandom {
		return "", "", false
	}
	return s.user, s.secret.password, true
}

// readHostFile reads a regular host file of at most limit bytes.
func readHostFile(name string, limit int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrSyntax, name)
	}
	data, err := io.ReadAll(io.LimitReader(bufio.NewReader(f), limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: %s is over %d bytes", ErrSyntax, name, limit)
	}
	return data, nil
}

// redact returns an option's argument without its content, for
// Step.Shown and for Parse's errors: paths, user names and selector kinds
// stay; passwords, keys, commands and written content become a byte
// count.
func redact(kind, arg string) string {
	size := func(s string) string { return "(" + pluralBytes(len(s)) + ")" }
	selector := func(sel string) string {
		k, v, _ := strings.Cut(sel, ":")
		switch k {
		case SelectRandom, SelectDisabled:
			if v == "" && !strings.Contains(sel, ":") {
				return k
			}
		case SelectPassword:
			return k
		case SelectFile:
			return k + ":" + v
		}
		return size(sel)
	}
	switch kind {
	case Write, AppendLine:
		p, c, ok := strings.Cut(arg, ":")
		if !ok {
			return size(arg)
		}
		return p + ":" + size(c)
	case RootPassword:
		return selector(arg)
	case Password:
		u, sel, ok := strings.Cut(arg, ":")
		if !ok {
			return size(arg)
		}
		return u + ":" + selector(sel)
	case SSHInject:
		u, rest, ok := strings.Cut(arg, ":")
		if !ok {
			return u
		}
		k, v, _ := strings.Cut(rest, ":")
		if k == "file" {
			return u + ":file:" + v
		}
		if k == "string" {
			return u + ":string:" + size(v)
		}
		return u + ":" + size(rest)
	case FirstbootCommand:
		return size(arg)
	}
	return arg
}
