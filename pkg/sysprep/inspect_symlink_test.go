package sysprep_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/pkg/fs/memfs"
	"github.com/imgprep/imgprep/pkg/ops/machineid"
	"github.com/imgprep/imgprep/pkg/ops/netdata"
	"github.com/imgprep/imgprep/pkg/sysprep"
	"github.com/imgprep/imgprep/pkg/sysprep/syspreptest"
)

// shadowHash is root's password hash in the hostile guests' /etc/shadow:
// nothing imgprep reports may hold it.
const shadowHash = "$6$saltsalt$Qm9vLKx1secretHashOfRootNeverShown"

// hostileIdentityRoot is a guest whose identity files are symlinks to
// secrets: /etc/shadow, an SSH private key.
func hostileIdentityRoot() *memfs.FS {
	return memfs.New().
		AddFile("/etc/os-release", "ID=debian\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n", 0o644).
		AddFile("/etc/shadow", "root:"+shadowHash+":19675:0:99999:7:::\n", 0o640).
		AddFile("/etc/ssh/ssh_host_ed25519_key", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA"+shadowHash+"\n", 0o600).
		AddSymlink("/etc/hostname", "/etc/shadow").
		AddSymlink(machineid.EtcPath, "shadow").
		AddSymlink(machineid.DbusPath, "/etc/shadow").
		AddSymlink(netdata.GUIDPath, "../../../../etc/shadow").
		AddSymlink(netdata.CloudDir+"/claimed_id", "/etc/shadow").
		AddSymlink("/etc/ssh/ssh_host_ed25519_key.pub", "ssh_host_ed25519_key")
}

// Finding 9: TestInspectNeverFollowsASymlinkedIdentityFile: /etc/hostname,
// the machine IDs, the Netdata GUID and claimed_id, and an SSH host key
// that are symlinks to /etc/shadow or a private key are reported as
// "symlink to X", in the facts and in their JSON, and never read: root's
// hash appears nowhere.
func TestInspectNeverFollowsASymlinkedIdentityFile(t *testing.T) {
	img := &syspreptest.Image{Info: sysprep.ImageInfo{Format: "raw"},
		Guests: []syspreptest.Guest{guest("ext4 on partition 1", hostileIdentityRoot())}}
	in, err := sysprep.Inspect(context.Background(), "d", sysprep.Options{Backend: backend(map[string]*syspreptest.Image{"d": img})})
	if err != nil {
		t.Fatal(err)
	}
	g := in.Guests[0]
	j, _ := json.Marshal(in)
	if strings.Contains(string(j), "secretHash") || strings.Contains(string(j), "root:") {
		t.Fatalf("inspect shows a file a symlink points to: %s", j)
	}
	if g.Hostname != "" || g.Netdata.GUID != "" || g.Netdata.ClaimedID != "" || len(g.SSHKeys) != 0 {
		t.Fatalf("identity read through a symlink: %+v", g)
	}
	want := map[string]string{
		"/etc/hostname":                     "/etc/shadow",
		netdata.GUIDPath:                    "../../../../etc/shadow",
		netdata.CloudDir + "/claimed_id":    "/etc/shadow",
		"/etc/ssh/ssh_host_ed25519_key.pub": "ssh_host_ed25519_key",
	}
	for p, target := range want {
		l, ok := g.LinkAt(p)
		if !ok || l.Target != target || l.String() != "symlink to "+target {
			t.Errorf("%s: %+v (found %t), want a symlink to %s", p, l, ok, target)
		}
	}
	if len(g.Symlinks) != len(want) {
		t.Errorf("symlinks %+v, want %d", g.Symlinks, len(want))
	}
	for _, c := range []struct {
		name   string
		f      sysprep.IDFact
		target string
	}{{"machine-id", g.MachineID, "shadow"}, {"dbus machine-id", g.DbusID, "/etc/shadow"}} {
		if c.f.State != "symlink" || c.f.Target != c.target || c.f.Value != "" {
			t.Errorf("%s: %+v, want a symlink to %s", c.name, c.f, c.target)
		}
	}
	t.Logf("symlinked identity files reported, not followed: %d", len(g.Symlinks)+2)
}
