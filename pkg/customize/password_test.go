package customize_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/customize"
	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/ops"
	"github.com/imgprep/imgprep/pkg/ops/opstest"
)

// cryptVerifies has the system's crypt(3), through perl's crypt, hash
// password with hash as its setting and compare.
func cryptVerifies(t testing.TB, password, hash string) bool {
	t.Helper()
	perl := oracle.Require(t, "perl")
	out, err := exec.Command(perl, "-e", `print crypt($ARGV[0], $ARGV[1])`, password, hash).Output()
	if err != nil {
		t.Fatalf("perl crypt: %v", err)
	}
	return string(out) == hash
}

// shadowField returns the password field of user's line in shadow.
func shadowField(t testing.TB, shadow, user string) string {
	t.Helper()
	for _, l := range strings.Split(shadow, "\n") {
		if f := strings.Split(l, ":"); f[0] == user && len(f) > 1 {
			return f[1]
		}
	}
	t.Fatalf("no %s in shadow %q", user, shadow)
	return ""
}

// sameOtherLines fails unless before and after differ only in the
// password field of users.
func sameOtherLines(t testing.TB, before, after string, users ...string) {
	t.Helper()
	bl, al := strings.Split(before, "\n"), strings.Split(after, "\n")
	if len(bl) != len(al) {
		t.Fatalf("shadow has %d lines, had %d", len(al), len(bl))
	}
	changed := map[string]bool{}
	for _, u := range users {
		changed[u] = true
	}
	for i := range bl {
		bf, af := strings.Split(bl[i], ":"), strings.Split(al[i], ":")
		if !changed[bf[0]] {
			if bl[i] != al[i] {
				t.Errorf("line %d: %q became %q", i+1, bl[i], al[i])
			}
			continue
		}
		if len(bf) != len(af) || strings.Join(append(bf[:1:1], bf[2:]...), ":") != strings.Join(append(af[:1:1], af[2:]...), ":") {
			t.Errorf("line %d: fields other than the password changed: %q became %q", i+1, bl[i], al[i])
		}
	}
}

func TestPasswords(t *testing.T) {
	pwfile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwfile, []byte("from a file\nsecond line ignored\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := fixtureTree(t)
	before, _ := base.ReadFile(customize.ShadowPath)
	beforeAttr, _ := base.Lstat(customize.ShadowPath)
	steps := parse(t, []arg{
		{"root-password", "password:s3cret:with:colons"},
		{"password", "alice:file:" + pwfile},
		{"password", "bob:disabled"},
		{"password", "carol:random"},
	})
	user, random, ok := steps[3].RandomPassword()
	if !ok || user != "carol" || len(random) != customize.RandomPasswordLength {
		t.Fatalf("RandomPassword() = %q, %q, %t", user, random, ok)
	}
	if _, _, ok := steps[0].RandomPassword(); ok {
		t.Fatal("a password: selector reveals a random password")
	}
	g := base.Clone()
	snap := opstest.Take(t, g)
	var changes []ops.Change
	for i, want := range []string{"password of root set", "password of alice set", "password of bob disabled", "password of carol set"} {
		ch, err := steps[i].Apply(context.Background(), g)
		if err != nil {
			t.Fatal(err)
		}
		if len(ch) != 1 || ch[0].Path != customize.ShadowPath || ch[0].Action != ops.Edited || ch[0].Detail != want {
			t.Fatalf("%s: changes %+v, want %s edited (%s)", steps[i].Description(), ch, customize.ShadowPath, want)
		}
		if i == 0 {
			changes = ch
		}
	}
	opstest.CheckChanges(t, changes, opstest.Diff(snap, opstest.Take(t, g)), base, g)
	after, _ := g.ReadFile(customize.ShadowPath)
	sameOtherLines(t, string(before), string(after), "root", "alice", "bob", "carol")
	for user, pw := range map[string]string{"root": "s3cret:with:colons", "alice": "from a file", "carol": random} {
		h := shadowField(t, string(after), user)
		if !strings.HasPrefix(h, "$6$") || len(h) != 3+16+1+86 || strings.Contains(h, "rounds=") {
			t.Errorf("%s: hash %q is not $6$ with a 16-character salt and default rounds", user, h)
		}
		if !cryptVerifies(t, pw, h) {
			t.Errorf("%s: crypt(3) does not verify %q", user, h)
		}
		if cryptVerifies(t, pw+"x", h) {
			t.Errorf("%s: crypt(3) verifies a wrong password", user)
		}
	}
	if f := shadowField(t, string(after), "bob"); f != "*" {
		t.Errorf("bob: %q, want *", f)
	}
	if a, _ := g.Lstat(customize.ShadowPath); a.Ino != beforeAttr.Ino || a.Perm() != beforeAttr.Perm() || a.UID != beforeAttr.UID || a.GID != beforeAttr.GID {
		t.Errorf("/etc/shadow: inode %d mode %04o owner %d:%d, was %d %04o %d:%d", a.Ino, a.Perm(), a.UID, a.GID,
			beforeAttr.Ino, beforeAttr.Perm(), beforeAttr.UID, beforeAttr.GID)
	}
	// Two runs salt differently.
	g2 := base.Clone()
	if _, _, err := applyAll(t, g2, steps[:1]); err != nil {
		t.Fatal(err)
	}
	after2, _ := g2.ReadFile(customize.ShadowPath)
	if shadowField(t, string(after2), "root") == shadowField(t, string(after), "root") {
		t.Error("two guests got the same salt")
	}
}

func TestSetShadowFieldKeepsEveryOtherByte(t *testing.T) {
	tests := []struct{ in, user, out string }{
		{"root:old:1:2:3:4:5::\nbob:x:1::::::\n", "root", "root:NEW:1:2:3:4:5::\nbob:x:1::::::\n"},
		{"bob:x\r\nroot:old\r\n", "root", "bob:x\r\nroot:NEW\r\n"},
		{"root:old", "root", "root:NEW"},
		{"root:\n", "root", "root:NEW\n"},
		{"rootx:old:1\nroot:old:1", "root", "rootx:old:1\nroot:NEW:1"},
	}
	for _, tc := range tests {
		out, found := customize.SetShadowField([]byte(tc.in), tc.user, "NEW")
		if !found || string(out) != tc.out {
			t.Errorf("SetShadowField(%q) = %q, %t; want %q", tc.in, out, found, tc.out)
		}
	}
	if out, found := customize.SetShadowField([]byte("root\nbob:x\n"), "root", "NEW"); found || string(out) != "root\nbob:x\n" {
		t.Errorf("a line without fields was edited: %q", out)
	}
}

func TestPasswordErrors(t *testing.T) {
	base := fixtureTree(t)
	tests := []struct {
		name string
		step arg
		prep func(g fsEditor)
		want error
	}{
		{"a user missing from /etc/shadow", arg{"password", "mallory:password:pw1"}, nil, customize.ErrNoUser},
		{"no /etc/shadow", arg{"root-password", "password:pw1"}, func(g fsEditor) { g.Remove("/etc/shadow") }, customize.ErrNotFound},
		{"/etc/shadow is a symlink", arg{"root-password", "password:pw1"}, func(g fsEditor) {
			g.Remove("/etc/shadow")
			g.Symlink("/etc/passwd", "/etc/shadow", fs.Owner{})
		}, customize.ErrSymlink},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := base.Clone()
			if tc.prep != nil {
				tc.prep(g)
			}
			snap := opstest.Take(t, g)
			s := parse(t, []arg{tc.step})[0]
			_, err := s.Apply(context.Background(), g)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if strings.Contains(err.Error(), "pw1") {
				t.Fatalf("error %q shows the password", err)
			}
			if d := opstest.Diff(snap, opstest.Take(t, g)); len(d) != 0 {
				t.Fatalf("changed %v", d)
			}
		})
	}
}

// fsEditor is what the error tests prepare a guest with.
type fsEditor interface {
	Remove(path string) error
	Symlink(target, path string, owner fs.Owner) error
}
