package customize

import (
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/ops"
)

// maxKeys bounds the keys one --ssh-inject adds.
const maxKeys = 1024

// keyTypes are the OpenSSH public key type prefixes (sshd(8),
// "AUTHORIZED_KEYS FILE FORMAT").
var keyTypes = []string{"ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-sha2-"}

// parseSSHInject parses USER[:file:PATH|:string:KEY]. Without a selector
// the keys are the host user's default public keys, ~/.ssh/*.pub, as
// virt-customize takes them. Errors never quote a key.
func parseSSHInject(arg string) (user string, keys []string, err error) {
	user, sel, hasSel := strings.Cut(arg, ":")
	if !validUser(user) {
		return "", nil, fmt.Errorf("%w: not a user name", ErrSyntax)
	}
	var text []byte
	kind, val, _ := strings.Cut(sel, ":")
	switch {
	case !hasSel:
		home, err := os.UserHomeDir()
		if err != nil {
			return "", nil, err
		}
		pubs, _ := filepath.Glob(filepath.Join(home, ".ssh", "*.pub"))
		sort.Strings(pubs)
		if len(pubs) == 0 {
			return "", nil, fmt.Errorf("%w: no public key in %s (give file:PATH or string:KEY)", ErrSyntax, filepath.Join(home, ".ssh"))
		}
		for _, p := range pubs {
			data, err := readHostFile(p, MaxScript)
			if err != nil {
				return "", nil, err
			}
			text = append(append(text, data...), '\n')
		}
	case kind == "file" && val != "":
		if text, err = readHostFile(val, MaxScript); err != nil {
			return "", nil, err
		}
	case kind == "string" && val != "":
		if strings.ContainsAny(val, "\r\n") {
			return "", nil, fmt.Errorf("%w: the key holds a line break", ErrSyntax)
		}
		text = []byte(val)
	default:
		return "", nil, fmt.Errorf("%w: want USER, USER:file:PATH or USER:string:KEY", ErrSyntax)
	}
	keys, err = ParseAuthorizedKeys(text)
	if err != nil {
		return "", nil, err
	}
	if len(keys) == 0 {
		return "", nil, fmt.Errorf("%w: no public key given", ErrSyntax)
	}
	return user, keys, nil
}

// ParseAuthorizedKeys returns the key lines of an authorized_keys or .pub
// text, trimmed, without blank and comment lines. A line that holds no
// OpenSSH key ("TYPE BASE64 [COMMENT]", maybe after options) is an error
// that names its line number only.
func ParseAuthorizedKeys(text []byte) ([]string, error) {
	var out []string
	for i, l := range strings.Split(string(text), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if _, ok := keyID(l); !ok || strings.ContainsRune(l, 0) {
			return nil, fmt.Errorf("%w: line %d is not an OpenSSH public key", ErrSyntax, i+1)
		}
		if len(out) == maxKeys {
			return nil, fmt.Errorf("%w: over %d keys", ErrSyntax, maxKeys)
		}
		out = append(out, l)
	}
	return out, nil
}

// keyID is a key line's type and base64 blob, which identify the key
// whatever its options and comment.
func keyID(line string) (string, bool) {
	f := strings.Fields(line)
	for i := 0; i+1 < len(f); i++ {
		for _, t := range keyTypes {
			if strings.HasPrefix(f[i], t) && len(f[i]) > len(t) {
				return f[i] + " " + f[i+1], true
			}
		}
	}
	return "", false
}

// sshInject appends the step's keys to ~USER/.ssh/authorized_keys, home
// from the guest's /etc/passwd, skipping keys already there. What it
// writes gets the user's uid and gid, .ssh mode 0700 and the file 0600.
// A .ssh or authorized_keys that is a symlink is refused: it could lead
// anywhere in the guest (/etc/ssh), which the user would then own.
func (r *run) sshInject() error {
	acct, err := r.lookupUser(r.step.user)
	if err != nil {
		return err
	}
	owner := fs.Owner{UID: acct.uid, GID: acct.gid}
	home := path.Clean(acct.home)
	if a, err := r.g.Stat(home); err != nil || a.Type() != fs.TypeDir {
		return fmt.Errorf("home %s of %s: %w", home, r.step.user, ErrNoGuestDir)
	}
	dir := path.Join(home, ".ssh")
	file := path.Join(dir, "authorized_keys")
	da, dirOK, err := r.lstat(dir)
	if err != nil {
		return err
	}
	switch {
	case dirOK && da.Type() == fs.TypeSymlink:
		return fmt.Errorf("%s: %w", dir, ErrSymlink)
	case dirOK && da.Type() != fs.TypeDir:
		return fmt.Errorf("%s: %w", dir, fs.ErrNotDir)
	}
	var old []byte
	fileOK := false
	if dirOK {
		if old, fileOK, err = r.readRegular(file); err != nil {
			return err
		}
	}
	have := map[string]bool{}
	for _, l := range strings.Split(string(old), "\n") {
		if id, ok := keyID(strings.TrimSpace(l)); ok {
			have[id] = true
		}
	}
	var add []string
	for _, k := range r.step.keys {
		id, _ := keyID(k)
		if !have[id] {
			have[id] = true
			add = append(add, k)
		}
	}
	if len(add) == 0 {
		return nil
	}
	if !dirOK {
		if err := r.g.Mkdir(dir, 0o700, owner); err != nil {
			return fmt.Errorf("creating %s: %w", dir, err)
		}
		if err := r.record(dir, ops.Created, ""); err != nil {
			return err
		}
	} else if fixed, err := r.ensureOwnerMode(dir, da, owner, 0o700); err != nil {
		return err
	} else if fixed != "" {
		if err := r.record(dir, ops.Edited, fixed); err != nil {
			return err
		}
	}
	next := append([]byte(nil), old...)
	if len(next) > 0 && !bytes.HasSuffix(next, []byte("\n")) {
		next = append(next, '\n')
	}
	next = append(next, strings.Join(add, "\n")+"\n"...)
	if err := r.g.WriteFile(file, next, fs.WriteOptions{Perm: 0o600, Owner: owner}); err != nil {
		return fmt.Errorf("writing %s: %w", file, err)
	}
	detail := fmt.Sprintf("%d %s added, %s", len(add), plural(len(add), "key"), pluralBytes(len(next)-len(old)))
	action := ops.Created
	if fileOK {
		action = ops.Edited
		fa, err := r.g.Lstat(file)
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		fixed, err := r.ensureOwnerMode(file, fa, owner, 0o600)
		if err != nil {
			return err
		}
		if fixed != "" {
			detail += ", " + fixed
		}
	}
	return r.record(file, action, detail)
}

// ensureOwnerMode gives p owner and perm when it has others, and says
// what it fixed ("" for nothing).
func (r *run) ensureOwnerMode(p string, a fs.Attr, owner fs.Owner, perm uint32) (string, error) {
	var fixed []string
	if a.UID != owner.UID || a.GID != owner.GID {
		if err := r.g.Chown(p, owner); err != nil {
			return "", fmt.Errorf("chown %s: %w", p, err)
		}
		fixed = append(fixed, fmt.Sprintf("owner %d:%d", owner.UID, owner.GID))
	}
	if a.Perm() != perm {
		if err := r.g.Chmod(p, perm); err != nil {
			return "", fmt.Errorf("chmod %s: %w", p, err)
		}
		fixed = append(fixed, fmt.Sprintf("mode %04o", perm))
	}
	return strings.Join(fixed, ", "), nil
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
