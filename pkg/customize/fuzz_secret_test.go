package customize_test

import (
	"strings"
	"testing"

	"github.com/imgprep/imgprep/pkg/customize"
)

// secretForms are the arguments that carry content, with the content
// at %s and a free prefix (a path or a user) at %p.
var secretForms = []struct{ kind, form string }{
	{"write", "%p:%s"}, {"append-line", "%p:%s"}, {"root-password", "password:%s"},
	{"password", "%p:password:%s"}, {"ssh-inject", "%p:string:%s"}, {"firstboot-command", "%s"},
}

// FuzzSecretSelectors parses the password and ssh-inject selectors and
// every other argument that carries content: what a step shows depends
// on the content only through its length, and an error shows no content.
func FuzzSecretSelectors(f *testing.F) {
	f.Add(uint8(0), "/etc/motd", "hello")
	f.Add(uint8(2), "", "s3cret~pass")
	f.Add(uint8(3), "alice", "pw:with:colons~")
	f.Add(uint8(3), "alice", "")
	f.Add(uint8(4), "bob", "ssh-ed25519 AAAAC3Nza~ user@host")
	f.Add(uint8(4), "bob", "ssh-rsa\n~")
	f.Add(uint8(5), "", "touch /x~")
	f.Fuzz(func(t *testing.T, which uint8, prefix, content string) {
		form := secretForms[int(which)%len(secretForms)]
		build := func(c string) string {
			return strings.NewReplacer("%p", prefix, "%s", c).Replace(form.form)
		}
		if strings.Contains(prefix, "%") {
			return
		}
		arg, masked := build(content), build(strings.Repeat("#", len(content)))
		s, err := customize.Parse(form.kind, arg)
		m, merr := customize.Parse(form.kind, masked)
		if err == nil && merr == nil && s.Description() != m.Description() {
			t.Fatalf("--%s %q shows %q, the same with its content masked %q", form.kind, arg, s.Description(), m.Description())
		}
		if err == nil && !strings.HasPrefix(s.Description(), "--"+form.kind) {
			t.Fatalf("description %q", s.Description())
		}
		// A content marked with '~', which no message and no fixed part
		// of an argument holds, never appears in a description or error.
		if len(content) < 4 || !strings.Contains(content, "~") || strings.Contains(prefix, content) {
			return
		}
		if err != nil && strings.Contains(err.Error(), content) {
			t.Fatalf("--%s %q: error %q shows the content", form.kind, arg, err)
		}
		if err == nil && strings.Contains(s.Description(), content) {
			t.Fatalf("--%s %q: description %q shows the content", form.kind, arg, s.Description())
		}
	})
}

// FuzzSetShadowField: every line of another user stays byte-identical, and
// in the user's lines only the password field changes.
func FuzzSetShadowField(f *testing.F) {
	f.Add([]byte("root:$6$x$y:19675:0:99999:7:::\nbob:*:1::::::\n"), "root")
	f.Add([]byte("bob:x\r\nroot:old"), "root")
	f.Add([]byte("root\nroot:\n:root:\n"), "root")
	f.Fuzz(func(t *testing.T, shadow []byte, user string) {
		if user == "" || strings.ContainsAny(user, ":\n") {
			return
		}
		out, found := customize.SetShadowField(shadow, user, "NEW")
		in, got := strings.SplitAfter(string(shadow), "\n"), strings.SplitAfter(string(out), "\n")
		if len(in) != len(got) {
			t.Fatalf("%d lines became %d", len(in), len(got))
		}
		n := 0
		for i := range in {
			name, rest, ok := strings.Cut(in[i], ":")
			if !ok || name != user {
				if in[i] != got[i] {
					t.Fatalf("line %q became %q", in[i], got[i])
				}
				continue
			}
			n++
			keep := ""
			if j := strings.IndexByte(rest, ':'); j >= 0 {
				keep = rest[j:]
			} else if strings.HasSuffix(rest, "\r\n") {
				keep = "\r\n"
			} else if strings.HasSuffix(rest, "\n") {
				keep = "\n"
			}
			if got[i] != user+":NEW"+keep {
				t.Fatalf("line %q became %q", in[i], got[i])
			}
		}
		if found != (n > 0) {
			t.Fatalf("found %t, %d lines", found, n)
		}
	})
}

// FuzzLookupPasswd: no panic, and an entry found has an absolute home.
func FuzzLookupPasswd(f *testing.F) {
	f.Add([]byte("root:x:0:0:root:/root:/bin/bash\nbob:x:1001:1001::/home/bob:/bin/sh\n"), "bob")
	f.Add([]byte("bob:x:1001\n"), "bob")
	f.Add([]byte("bob:x:-1:99999999999:::\n"), "bob")
	f.Fuzz(func(t *testing.T, passwd []byte, user string) {
		e, found, err := customize.LookupPasswd(passwd, user)
		if found && (err != nil || !strings.HasPrefix(e.Home, "/")) {
			t.Fatalf("%+v, %v", e, err)
		}
	})
}

// FuzzParseAuthorizedKeys: every key returned is one trimmed line.
func FuzzParseAuthorizedKeys(f *testing.F) {
	f.Add([]byte("# c\nssh-ed25519 AAAA a@b\n\nfrom=\"x\" ssh-rsa AAAAB3 c\n"))
	f.Add([]byte("not a key\n"))
	f.Add([]byte("ecdsa-sha2-nistp256 AAAA\r\n"))
	f.Fuzz(func(t *testing.T, text []byte) {
		keys, err := customize.ParseAuthorizedKeys(text)
		if err != nil {
			return
		}
		for _, k := range keys {
			if k == "" || k != strings.TrimSpace(k) || strings.ContainsAny(k, "\n\x00") {
				t.Fatalf("key %q", k)
			}
		}
	})
}
