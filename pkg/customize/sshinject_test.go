package customize_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/imgprep/imgprep/pkg/customize"
	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/ops/opstest"
)

const (
	keyA = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKeyA user@host"
	keyB = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABKeyB other@host"
)

// attrOf fails the test unless p exists, and returns its attributes.
func attrOf(t testing.TB, g fs.ReadTree, p string) fs.Attr {
	t.Helper()
	a, err := g.Lstat(p)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return a
}

func TestSSHInject(t *testing.T) {
	keyfile := filepath.Join(t.TempDir(), "keys.pub")
	if err := os.WriteFile(keyfile, []byte("# two keys\n"+keyA+"\n\n"+keyB+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".ssh", "id_ed25519.pub"), []byte(keyA+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", home)
	base := fixtureTree(t)
	tests := []struct {
		name    string
		step    arg
		want    []string
		file    string // the path of authorized_keys
		content string
		owner   fs.Owner
	}{
		{"a user without .ssh gets .ssh 0700 and authorized_keys 0600, both theirs",
			arg{"ssh-inject", "bob:string:" + keyA},
			[]string{"created /home/bob/.ssh", "created /home/bob/.ssh/authorized_keys"},
			"/home/bob/.ssh/authorized_keys", keyA + "\n", fs.Owner{UID: 1001, GID: 1001}},
		{"keys are appended after those present, and made the user's",
			arg{"ssh-inject", "alice:file:" + keyfile},
			[]string{"edited /home/alice/.ssh", "edited /home/alice/.ssh/authorized_keys"},
			"/home/alice/.ssh/authorized_keys", "ssh-ed25519 AAAAalice alice@laptop\n" + keyA + "\n" + keyB + "\n", fs.Owner{UID: 1000, GID: 1000}},
		{"a key already present is not added again, whatever its comment",
			arg{"ssh-inject", "root:string:ssh-ed25519 AAAAfixture another-comment"},
			nil, "/root/.ssh/authorized_keys", "ssh-ed25519 AAAAfixture admin@laptop\n", fs.Owner{}},
		{"without a selector, the host user's ~/.ssh/*.pub",
			arg{"ssh-inject", "root"},
			[]string{"edited /root/.ssh/authorized_keys"},
			"/root/.ssh/authorized_keys", "ssh-ed25519 AAAAfixture admin@laptop\n" + keyA + "\n", fs.Owner{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := base.Clone()
			snap := opstest.Take(t, g)
			got, changes, err := applyAll(t, g, parse(t, []arg{tc.step}))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("changes %q, want %q", got, tc.want)
			}
			opstest.CheckChanges(t, changes, opstest.Diff(snap, opstest.Take(t, g)), base, g)
			if s := state(t, g, tc.file); s != tc.content {
				t.Fatalf("%s: %q, want %q", tc.file, s, tc.content)
			}
			if tc.want == nil {
				return
			}
			dir := filepath.Dir(tc.file)
			for p, perm := range map[string]uint32{dir: 0o700, tc.file: 0o600} {
				if a := attrOf(t, g, p); a.Perm() != perm || a.UID != tc.owner.UID || a.GID != tc.owner.GID {
					t.Errorf("%s: mode %04o owner %d:%d, want %04o %d:%d", p, a.Perm(), a.UID, a.GID, perm, tc.owner.UID, tc.owner.GID)
				}
			}
			// Again: nothing left to add.
			if got, _, err := applyAll(t, g, parse(t, []arg{tc.step})); err != nil || len(got) != 0 {
				t.Fatalf("second run: %q, %v", got, err)
			}
		})
	}
}

func TestSSHInjectErrors(t *testing.T) {
	base := fixtureTree(t)
	tests := []struct {
		name string
		step arg
		want error
	}{
		{"a user missing from /etc/passwd", arg{"ssh-inject", "mallory:string:" + keyA}, customize.ErrNoUser},
		{"a .ssh that is a symlink (carol's leads to /etc/ssh)", arg{"ssh-inject", "carol:string:" + keyA}, customize.ErrSymlink},
		{"a home that does not exist", arg{"ssh-inject", "nobody:string:" + keyA}, customize.ErrNoGuestDir},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := base.Clone()
			snap := opstest.Take(t, g)
			_, err := parse(t, []arg{tc.step})[0].Apply(context.Background(), g)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if d := opstest.Diff(snap, opstest.Take(t, g)); len(d) != 0 {
				t.Fatalf("changed %v", d)
			}
		})
	}
}
