package customize_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/customize"
	"github.com/imgprep/imgprep/pkg/ops/catalogtest"
)

var (
	statModeRE  = regexp.MustCompile(`Type: (\S+)\s+Mode:\s+(\d+)`)
	statOwnerRE = regexp.MustCompile(`User:\s+(\d+)\s+Group:\s+(\d+)`)
)

// debugfsStat returns the type, permission bits and owner debugfs's stat
// reports for p.
func debugfsStat(t testing.TB, dev, p string) (typ string, perm uint64, uid, gid string) {
	t.Helper()
	out := oracle.Debugfs(t, dev, "stat "+p)
	m, o := statModeRE.FindStringSubmatch(out), statOwnerRE.FindStringSubmatch(out)
	if m == nil || o == nil {
		t.Fatalf("debugfs stat %s:\n%s", p, out)
	}
	perm, err := strconv.ParseUint(m[2], 8, 32)
	if err != nil {
		t.Fatalf("debugfs stat %s: mode %q", p, m[2])
	}
	return m[1], perm, o[1], o[2]
}

// TestAccountsAndFirstbootOnTheFixture runs the password, ssh-inject,
// firstboot and relabel customizations on the real ext4 fixture; e2fsck
// -fn judges the filesystems, debugfs reads back modes, owners and
// contents, and crypt(3) verifies the password.
func TestAccountsAndFirstbootOnTheFixture(t *testing.T) {
	oracle.Require(t, "e2fsck")
	d := catalogtest.Open(t)
	root := oracle.Device(d.Path, d.Layout.Filesystems[1].Offset)
	shadowBefore, ok := oracle.DebugfsCat(t, root, customize.ShadowPath)
	if !ok {
		t.Fatal("no /etc/shadow in the fixture")
	}
	_, shadowPerm, shadowUID, shadowGID := debugfsStat(t, root, customize.ShadowPath)
	steps := customize.WithRelabel(parse(t, []arg{
		{"root-password", "password:correct horse"}, {"password", "bob:disabled"},
		{"ssh-inject", "bob:string:" + keyA}, {"ssh-inject", "alice:string:" + keyB},
		{"firstboot-command", "touch /root/firstboot-ran"},
	}), customize.RelabelAlways)
	_, changes, err := applyAll(t, d.Guest, steps)
	if err != nil {
		t.Fatal(err)
	}
	d.SyncAndCheck(t, changes)

	shadow, _ := oracle.DebugfsCat(t, root, customize.ShadowPath)
	sameOtherLines(t, string(shadowBefore), string(shadow), "root", "bob")
	if h := shadowField(t, string(shadow), "root"); !cryptVerifies(t, "correct horse", h) {
		t.Errorf("crypt(3) does not verify root's hash %q", h)
	}
	if f := shadowField(t, string(shadow), "bob"); f != "*" {
		t.Errorf("bob's password field %q, want *", f)
	}
	if _, perm, uid, gid := debugfsStat(t, root, customize.ShadowPath); perm != shadowPerm || uid != shadowUID || gid != shadowGID {
		t.Errorf("/etc/shadow: mode %04o owner %s:%s, was %04o %s:%s", perm, uid, gid, shadowPerm, shadowUID, shadowGID)
	}

	for _, c := range []struct {
		path, typ string
		perm      uint64
		uid, gid  string
		content   string
	}{
		{"/home/bob/.ssh", "directory", 0o700, "1001", "1001", ""},
		{"/home/bob/.ssh/authorized_keys", "regular", 0o600, "1001", "1001", keyA + "\n"},
		{"/home/alice/.ssh", "directory", 0o700, "1000", "1000", ""},
		{"/home/alice/.ssh/authorized_keys", "regular", 0o600, "1000", "1000", "ssh-ed25519 AAAAalice alice@laptop\n" + keyB + "\n"},
		{customize.FirstbootDriver, "regular", 0o755, "0", "0", customize.FirstbootDriverScript},
		{customize.FirstbootUnit, "regular", 0o644, "0", "0", customize.FirstbootUnitFile},
		{customize.FirstbootScripts + "/5000-0001-command", "regular", 0o755, "0", "0", "#!/bin/sh\ntouch /root/firstboot-ran\n"},
		{customize.FirstbootWants, "symlink", 0o777, "0", "0", ""},
		{customize.AutorelabelPath, "regular", 0o644, "0", "0", ""},
	} {
		typ, perm, uid, gid := debugfsStat(t, root, c.path)
		if typ != c.typ || perm != c.perm || uid != c.uid || gid != c.gid {
			t.Errorf("%s: %s %04o %s:%s, want %s %04o %s:%s", c.path, typ, perm, uid, gid, c.typ, c.perm, c.uid, c.gid)
		}
		if c.typ == "regular" {
			if got, _ := oracle.DebugfsCat(t, root, c.path); string(got) != c.content {
				t.Errorf("%s: %q, want %q", c.path, got, c.content)
			}
		}
	}
	if out := oracle.Debugfs(t, root, "stat "+customize.FirstbootWants); !strings.Contains(out, `Fast link dest: "`+customize.FirstbootUnit+`"`) {
		t.Errorf("%s:\n%s", customize.FirstbootWants, out)
	}

	// The kernel's ext4 driver reads the same modes, owners, link and hash.
	mnt, _ := oracle.KernelMount(t, d.Path, d.Layout.Filesystems[1].Offset, true)
	for p, want := range map[string][3]uint32{
		"/home/bob/.ssh": {0o700, 1001, 1001}, "/home/bob/.ssh/authorized_keys": {0o600, 1001, 1001},
		customize.FirstbootDriver: {0o755, 0, 0},
	} {
		fi, err := os.Lstat(filepath.Join(mnt, p))
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if uint32(fi.Mode().Perm()) != want[0] || st.Uid != want[1] || st.Gid != want[2] {
			t.Errorf("kernel: %s: %v %d:%d, want %04o %d:%d", p, fi.Mode(), st.Uid, st.Gid, want[0], want[1], want[2])
		}
	}
	if target, err := os.Readlink(filepath.Join(mnt, customize.FirstbootWants)); err != nil || target != customize.FirstbootUnit {
		t.Errorf("kernel: %s -> %q (%v)", customize.FirstbootWants, target, err)
	}
	kshadow, err := os.ReadFile(filepath.Join(mnt, customize.ShadowPath))
	if err != nil || string(kshadow) != string(shadow) {
		t.Errorf("kernel: /etc/shadow differs from debugfs's (%v)", err)
	}
}
