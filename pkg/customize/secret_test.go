package customize_test

import (
	"context"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/pkg/customize"
)

// token stands for a secret: a password, key material, written content.
const token = "S3CRETtoken"

// TestContentStaysOutOfReportsAndErrors: a step's description, its
// changes and every error, of Parse or of Apply, name paths, users and
// byte counts, never the content.
func TestContentStaysOutOfReportsAndErrors(t *testing.T) {
	base := fixtureTree(t)
	applied := []arg{
		{"write", "/etc/motd:" + token}, {"append-line", "/etc/motd:" + token},
		{"root-password", "password:" + token}, {"password", "alice:password:" + token},
		{"password", "mallory:password:" + token}, {"ssh-inject", "bob:string:ssh-ed25519 AAAA" + token},
		{"ssh-inject", "mallory:string:ssh-ed25519 AAAA" + token}, {"firstboot-command", "echo " + token},
	}
	for _, a := range applied {
		s := parse(t, []arg{a})[0]
		if strings.Contains(s.Description(), token) || strings.Contains(s.Shown, token) {
			t.Errorf("--%s: description %q", a.kind, s.Description())
		}
		for _, ro := range []bool{false, true} {
			g := base.Clone()
			g.ReadOnly = ro
			changes, err := s.Apply(context.Background(), g)
			if err != nil && strings.Contains(err.Error(), token) {
				t.Errorf("--%s: error %q", a.kind, err)
			}
			for _, c := range changes {
				if strings.Contains(c.Detail, token) || strings.Contains(c.Path, token) {
					t.Errorf("--%s: change %+v", a.kind, c)
				}
			}
		}
	}
	refused := []arg{
		{"write", token}, {"append-line", "/etc/motd:" + token + "\nx"}, {"password", token},
		{"password", "alice:password:" + token + "\n"}, {"root-password", "nonsense-" + token},
		{"root-password", "random:" + token}, {"ssh-inject", "bob:string:" + token},
		{"ssh-inject", "bob:" + token}, {"firstboot-command", token + "\x00"},
	}
	for _, a := range refused {
		_, err := customize.Parse(a.kind, a.value)
		if err == nil {
			t.Errorf("--%s %q parsed", a.kind, a.value)
			continue
		}
		if strings.Contains(err.Error(), token) {
			t.Errorf("--%s: error %q", a.kind, err)
		}
	}
}
