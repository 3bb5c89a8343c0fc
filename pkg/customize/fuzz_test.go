package customize_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/pkg/customize"
	"github.com/imgprep/imgprep/pkg/fs/memfs"
	"github.com/imgprep/imgprep/pkg/ops/opstest"
)

// partial are the customizations that may fail after a change (a
// directory made, a service installed), which sysprep then discards
// with the rest of the run.
var partial = map[string]bool{"mkdir": true, "link": true, "firstboot": true, "firstboot-command": true, "ssh-inject": true}

// FuzzParse parses any customization argument and applies what parses to
// a small guest: no panic, and every reported change is a real one.
func FuzzParse(f *testing.F) {
	for _, s := range []struct{ kind, arg string }{
		{"write", "/etc/motd:hello"}, {"delete", "/var/log/*"}, {"chmod", "0644:/etc/motd"}, {"link", "/etc/motd:/a:/b"},
		{"hostname", "a.b.c"}, {"timezone", "Europe/Paris"}, {"mkdir", "/a/b/c"}, {"append-line", "/etc/hosts:x"},
		{"truncate-recursive", "/var"}, {"touch", "/x"}, {"truncate", "/etc/motd"}, {"delete", "/"},
		{"root-password", "password:pw"}, {"password", "alice:random"}, {"password", "bob:disabled"},
		{"ssh-inject", "alice:string:ssh-ed25519 AAAA x"}, {"firstboot-command", "true"}, {"firstboot", "/dev/null"},
	} {
		f.Add(s.kind, s.arg)
	}
	f.Fuzz(func(t *testing.T, kind, arg string) {
		s, err := customize.Parse(kind, arg)
		if err != nil {
			return
		}
		g := memfs.New().AddFile("/etc/motd", "hi\n", 0o644).AddFile("/etc/hosts", "127.0.1.1 old\n", 0o644).
			AddFile("/etc/passwd", "alice:x:1000:1000::/home/alice:/bin/sh\n", 0o644).AddDir("/home/alice", 0o755).
			AddFile("/etc/shadow", "root:x:1::::::\nalice:!:1::::::\n", 0o640).
			AddFile("/var/log/syslog", "x", 0o644).AddFile("/usr/share/zoneinfo/Europe/Paris", "TZif", 0o644).
			AddSymlink("/etc/localtime", "/usr/share/zoneinfo/UTC")
		ref := g.Clone()
		before := opstest.Take(t, g)
		changes, err := s.Apply(context.Background(), g)
		if err != nil {
			if d := opstest.Diff(before, opstest.Take(t, g)); len(d) != 0 && !partial[kind] {
				t.Fatalf("failed --%s %q changed %v", kind, arg, d)
			}
			return
		}
		if kind != "touch" {
			opstest.CheckChanges(t, changes, opstest.Diff(before, opstest.Take(t, g)), ref, g)
		}
	})
}

// FuzzSetLoopbackName: the 127.0.1.1 line appears exactly once and every
// other line is kept.
func FuzzSetLoopbackName(f *testing.F) {
	f.Add([]byte("127.0.0.1 localhost\n127.0.1.1 old\n"))
	f.Add([]byte("127.0.1.1 a\n127.0.1.1 b"))
	f.Add([]byte("no newline"))
	f.Fuzz(func(t *testing.T, hosts []byte) {
		out, _ := customize.SetLoopbackName(hosts, "127.0.1.1\tnew")
		n := 0
		for _, l := range strings.Split(string(out), "\n") {
			if f := strings.Fields(l); len(f) > 0 && f[0] == "127.0.1.1" {
				n++
				if l != "127.0.1.1\tnew" {
					t.Fatalf("line %q", l)
				}
			}
		}
		// An appended line ends with a newline; a replaced one keeps the
		// file's last byte as it was.
		had := false
		for _, l := range strings.Split(string(hosts), "\n") {
			if f := strings.Fields(l); len(f) > 0 && f[0] == "127.0.1.1" {
				had = true
			}
		}
		if n != 1 || (!had && !bytes.HasSuffix(out, []byte("\n"))) {
			t.Fatalf("SetLoopbackName(%q) = %q", hosts, out)
		}
	})
}
