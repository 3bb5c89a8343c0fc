package sysprep_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/fs/memfs"
	"github.com/imgprep/imgprep/pkg/ops/opstest"
	"github.com/imgprep/imgprep/pkg/sysprep"
	"github.com/imgprep/imgprep/pkg/sysprep/syspreptest"
)

// TestFingerprintMatchesSSHKeygen checks Fingerprint against ssh-keygen -l,
// the tool whose output it imitates.
func TestFingerprintMatchesSSHKeygen(t *testing.T) {
	oracle.Require(t, "ssh-keygen")
	bits := map[string]string{"ed25519": "256", "ecdsa": "256", "rsa": "1024"}
	for _, typ := range []string{"ed25519", "ecdsa", "rsa"} {
		t.Run(typ, func(t *testing.T) {
			key := filepath.Join(t.TempDir(), "k")
			if _, errOut, code := oracle.Run(t, "ssh-keygen", "-q", "-t", typ, "-b", bits[typ], "-N", "", "-C", "root@template", "-f", key); code != 0 {
				t.Fatalf("ssh-keygen: %s", errOut)
			}
			out, _, code := oracle.Run(t, "ssh-keygen", "-l", "-E", "sha256", "-f", key+".pub")
			if code != 0 {
				t.Fatal(out)
			}
			pub, err := os.ReadFile(key + ".pub")
			if err != nil {
				t.Fatal(err)
			}
			k, ok := sysprep.Fingerprint(pub)
			if !ok || !strings.Contains(out, " "+k.Fingerprint+" ") {
				t.Fatalf("Fingerprint = %+v, ssh-keygen -l says %s", k, out)
			}
		})
	}
}

func TestFingerprintRejectsGarbage(t *testing.T) {
	for _, in := range []string{"", "ssh-ed25519", "ssh-ed25519 !!!notbase64", "\n\n"} {
		if k, ok := sysprep.Fingerprint([]byte(in)); ok {
			t.Errorf("Fingerprint(%q) = %+v, want rejection", in, k)
		}
	}
}

func TestInspect(t *testing.T) {
	empty := opstest.Populated().AddFile("/etc/machine-id", "", 0o444).AddFile("/var/lib/dbus/machine-id", "uninitialized\n", 0o444)
	img := &syspreptest.Image{Info: sysprep.ImageInfo{Format: "qcow2", VirtualSize: 64 << 20, Table: "gpt"},
		Guests: []syspreptest.Guest{guest("ext4 on partition 2", opstest.Populated()), guest("ext4 on partition 3", empty)}}
	in, err := sysprep.Inspect(context.Background(), "d", sysprep.Options{Backend: backend(map[string]*syspreptest.Image{"d": img})})
	if err != nil {
		t.Fatal(err)
	}
	if o := img.Opens[0]; o.Write || o.DryRun {
		t.Fatalf("inspect opened for writing: %+v", o)
	}
	g := in.Guests[0]
	checks := []struct{ name, got, want string }{
		{"machine-id state", g.MachineID.State, "set"},
		{"machine-id value", g.MachineID.Value, "4c4c4544003957108052b4c04f384833"},
		{"an empty machine-id", in.Guests[1].MachineID.State, "empty"},
		{"an uninitialized D-Bus machine-id", in.Guests[1].DbusID.State, "uninitialized"},
		{"hostname", g.Hostname, "template"},
		{"netdata GUID", g.Netdata.GUID, "a1b2c3d4-0000-4000-8000-00000000abcd"},
		{"netdata claimed_id", g.Netdata.ClaimedID, "c0ffee00-0000-4000-8000-000000000001"},
		{"os", g.OS, "Debian GNU/Linux 12 (bookworm)"},
		{"ssh key type", g.SSHKeys[0].Type, "ssh-ed25519"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	j, _ := json.Marshal(in)
	for _, secret := range []string{"SECRET-TOKEN", "PRIVATE KEY"} {
		if strings.Contains(string(j), secret) {
			t.Fatalf("inspection leaks %s: %s", secret, j)
		}
	}
	missing := memfs.New().AddDir("/etc", 0o755)
	img2 := &syspreptest.Image{Guests: []syspreptest.Guest{guest("r", missing)}}
	in2, err := sysprep.Inspect(context.Background(), "e", sysprep.Options{Backend: backend(map[string]*syspreptest.Image{"e": img2})})
	if err != nil || in2.Guests[0].MachineID.State != "missing" {
		t.Fatalf("missing machine-id: %v %+v", err, in2)
	}
}

func FuzzFingerprint(f *testing.F) {
	for _, s := range []string{
		"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFjRa7YbKn9yA8s5qUpxWQ8yG8KH2cXyS3D0nX8t9n0K root@template\n",
		"ssh-rsa AAAA", "", "x y z", "ssh-ed25519 ====",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		k, ok := sysprep.Fingerprint(line)
		if ok && (!strings.HasPrefix(k.Fingerprint, "SHA256:") || len(k.Fingerprint) != len("SHA256:")+43) {
			t.Fatalf("Fingerprint(%q) = %+v", line, k)
		}
	})
}
