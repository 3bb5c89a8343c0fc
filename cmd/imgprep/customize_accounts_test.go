package main

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/customize"
	"github.com/imgprep/imgprep/pkg/sysprep"
)

// rootHash returns root's password field from the image's /etc/shadow,
// read by debugfs.
func rootHash(t *testing.T, img string) string {
	t.Helper()
	shadow, ok := oracle.DebugfsCat(t, oracle.Device(img, catalogRoot), customize.ShadowPath)
	if !ok {
		t.Fatal("no /etc/shadow")
	}
	for _, l := range strings.Split(string(shadow), "\n") {
		if f := strings.Split(l, ":"); f[0] == "root" && len(f) > 1 {
			return f[1]
		}
	}
	t.Fatalf("no root in %q", shadow)
	return ""
}

func systemCrypt(t *testing.T, password, setting string) string {
	t.Helper()
	out, err := exec.Command(oracle.Require(t, "perl"), "-e", `print crypt($ARGV[0], $ARGV[1])`, password, setting).Output()
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// TestRootPasswordVerifiesWithCrypt: --root-password writes a SHA-512
// crypt hash crypt(3) accepts; the password is in no output, and a random
// one is shown once on stderr, never in the JSON report.
func TestRootPasswordVerifiesWithCrypt(t *testing.T) {
	t.Run("password:PASS", func(t *testing.T) {
		img := fixture.Path(t, "catalog-disk.raw")
		rep, r := sysprepJSON(t, 0, "--operations", "machine-id", "--root-password", "password:Tr0ub4dor&3", img)
		if strings.Contains(r.stdout+r.stderr, "Tr0ub4dor") {
			t.Fatalf("the password is in the output:\n%s\n%s", r.stdout, r.stderr)
		}
		if got := reported(rep); !strings.Contains(strings.Join(got, "\n"), "root-password edited /etc/shadow") {
			t.Fatalf("changes %q", got)
		}
		oracle.E2fsckClean(t, oracle.Device(img, catalogRoot))
		if h := rootHash(t, img); !strings.HasPrefix(h, "$6$") || systemCrypt(t, "Tr0ub4dor&3", h) != h {
			t.Fatalf("crypt(3) does not verify root's %q", h)
		}
	})
	t.Run("random", func(t *testing.T) {
		img := fixture.Path(t, "catalog-disk.raw")
		_, r := sysprepJSON(t, 0, "--operations", "machine-id", "--root-password", "random", img)
		m := regexp.MustCompile(`(?m)^imgprep: random password of root: ([A-Za-z0-9]{16})$`).FindStringSubmatch(r.stderr)
		if m == nil {
			t.Fatalf("stderr %q", r.stderr)
		}
		if strings.Contains(r.stdout, m[1]) {
			t.Fatal("the random password is in the JSON report")
		}
		if h := rootHash(t, img); systemCrypt(t, m[1], h) != h {
			t.Fatalf("crypt(3) does not verify the random password against %q", h)
		}
	})
}

// TestSELinuxRelabelOptions: customizations relabel a guest with SELinux
// on by default; --no-selinux-relabel stops it, --selinux-relabel forces
// it, both together are a usage error.
func TestSELinuxRelabelOptions(t *testing.T) {
	selinux := []string{"--mkdir", "/etc/selinux", "--write", "/etc/selinux/config:SELINUX=enforcing\n"}
	tests := []struct {
		name string
		args []string
		code int
		want bool // /.autorelabel
	}{
		{"by default, with SELinux on", selinux, 0, true},
		{"--no-selinux-relabel", append([]string{"--no-selinux-relabel"}, selinux...), 0, false},
		{"by default, SELinux disabled", []string{"--mkdir", "/etc/selinux", "--write", "/etc/selinux/config:SELINUX=disabled\n"}, 0, false},
		{"--selinux-relabel without SELinux or customizations", []string{"--selinux-relabel"}, 0, true},
		{"both", append([]string{"--selinux-relabel", "--no-selinux-relabel"}, selinux...), exitUsage, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img := fixture.Path(t, "catalog-disk.raw")
			sum := fixture.SHA256(t, img)
			args := append(append([]string{"sysprep", "--operations", "machine-id"}, tc.args...), img)
			r := runCLI(t, sysprep.Stack{}, args...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d\n%s", r.code, tc.code, r.stderr)
			}
			if tc.code != 0 {
				if fixture.SHA256(t, img) != sum {
					t.Fatal("a usage error changed the image")
				}
				return
			}
			dev := oracle.Device(img, catalogRoot)
			oracle.E2fsckClean(t, dev)
			if _, ok := oracle.DebugfsCat(t, dev, customize.AutorelabelPath); ok != tc.want {
				t.Fatalf("/.autorelabel present %t, want %t\n%s", ok, tc.want, r.stdout)
			}
		})
	}
}

// TestFirstbootAndSSHInjectFromTheCommandLine: the options reach the
// guest, and the report names paths and byte counts only.
func TestFirstbootAndSSHInjectFromTheCommandLine(t *testing.T) {
	img := fixture.Path(t, "catalog-disk.raw")
	key := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFromCLI cli@host"
	rep, r := sysprepJSON(t, 0, "--operations", "machine-id", "--ssh-inject", "bob:string:"+key,
		"--firstboot-command", "echo hello-from-firstboot", img)
	if strings.Contains(r.stdout, "FromCLI") || strings.Contains(r.stdout, "hello-from-firstboot") {
		t.Fatalf("content in the report: %s", r.stdout)
	}
	got := strings.Join(reported(rep), "\n")
	for _, want := range []string{"ssh-inject created /home/bob/.ssh/authorized_keys",
		"firstboot-command created /etc/systemd/system/multi-user.target.wants/guestfs-firstboot.service",
		"firstboot-command created /usr/lib/virt-sysprep/scripts/5000-0001-command"} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in\n%s", want, got)
		}
	}
	dev := oracle.Device(img, catalogRoot)
	oracle.E2fsckClean(t, dev)
	if out := oracle.Debugfs(t, dev, "stat /home/bob/.ssh/authorized_keys"); !strings.Contains(out, "Mode:  0600") || !strings.Contains(out, "User:  1001   Group:  1001") {
		t.Errorf("authorized_keys:\n%s", out)
	}
	if out := oracle.Debugfs(t, dev, "stat "+customize.FirstbootWants); !strings.Contains(out, `Fast link dest: "`+customize.FirstbootUnit+`"`) {
		t.Errorf("%s:\n%s", customize.FirstbootWants, out)
	}
}
