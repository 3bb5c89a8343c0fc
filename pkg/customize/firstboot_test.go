package customize_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/customize"
	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/ops/opstest"
)

func TestFirstbootInstallsAndEnablesTheService(t *testing.T) {
	script := filepath.Join(t.TempDir(), "setup net.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho net\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := fixtureTree(t)
	g := base.Clone()
	snap := opstest.Take(t, g)
	got, changes, err := applyAll(t, g, parse(t, []arg{{"firstboot", script}, {"firstboot-command", "touch /root/done"}}))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"created /usr/lib/virt-sysprep", "created /usr/lib/virt-sysprep/scripts", "created /usr/lib/systemd",
		"created /usr/lib/systemd/system", "created /etc/systemd", "created /etc/systemd/system",
		"created /etc/systemd/system/multi-user.target.wants",
		"created /usr/lib/virt-sysprep/firstboot.sh", "created /usr/lib/systemd/system/guestfs-firstboot.service",
		"created /etc/systemd/system/multi-user.target.wants/guestfs-firstboot.service",
		"created /usr/lib/virt-sysprep/scripts/5000-0001-setup-net-sh",
		"created /usr/lib/virt-sysprep/scripts/5000-0002-command",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("changes\n%q\nwant\n%q", got, want)
	}
	opstest.CheckChanges(t, changes, opstest.Diff(snap, opstest.Take(t, g)), base, g)
	for p, w := range map[string]struct {
		perm    uint32
		content string
	}{
		customize.FirstbootDriver:                              {0o755, customize.FirstbootDriverScript},
		customize.FirstbootUnit:                                {0o644, customize.FirstbootUnitFile},
		customize.FirstbootScripts + "/5000-0001-setup-net-sh": {0o755, "#!/bin/sh\necho net\n"},
		customize.FirstbootScripts + "/5000-0002-command":      {0o755, "#!/bin/sh\ntouch /root/done\n"},
	} {
		if a := attrOf(t, g, p); a.Type() != fs.TypeRegular || a.Perm() != w.perm || a.UID != 0 || a.GID != 0 {
			t.Errorf("%s: %v mode %04o owner %d:%d, want a regular file %04o root's", p, a.Type(), a.Perm(), a.UID, a.GID, w.perm)
		}
		if s := state(t, g, p); s != w.content {
			t.Errorf("%s: %q, want %q", p, s, w.content)
		}
	}
	if s := state(t, g, customize.FirstbootWants); s != "-> "+customize.FirstbootUnit {
		t.Errorf("%s: %s", customize.FirstbootWants, s)
	}
	for _, line := range []string{"Type=oneshot", "After=network.target", "WantedBy=multi-user.target",
		"ExecStart=/usr/lib/virt-sysprep/firstboot.sh start"} {
		if !strings.Contains(customize.FirstbootUnitFile, "\n"+line+"\n") {
			t.Errorf("the unit lacks %q", line)
		}
	}

	// A later run numbers its scripts after those waiting, and leaves the
	// installed service as it is.
	snap = opstest.Take(t, g)
	got, _, err = applyAll(t, g, parse(t, []arg{{"firstboot-command", "true"}}))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"created /usr/lib/virt-sysprep/scripts/5000-0003-command"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("second run: %q, want %q", got, want)
	}
	if d := opstest.Diff(snap, opstest.Take(t, g)); !reflect.DeepEqual(d, []string{"/usr/lib/virt-sysprep/scripts/5000-0003-command"}) {
		t.Fatalf("second run changed %v", d)
	}
}

// TestFirstbootDriverRunsEachScriptOnce runs the installed driver with the
// host's sh, its directory and root's home moved to a temporary
// directory, and systemctl replaced by a recorder: each script runs once,
// in order, and the service disables itself.
func TestFirstbootDriverRunsEachScriptOnce(t *testing.T) {
	sh := oracle.Require(t, "sh")
	tmp := t.TempDir()
	dir, bin := filepath.Join(tmp, "virt-sysprep"), filepath.Join(tmp, "bin")
	for _, d := range []string{filepath.Join(dir, "scripts"), bin} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	driver := strings.NewReplacer(customize.FirstbootDir, dir, "~root", tmp).Replace(customize.FirstbootDriverScript)
	if strings.Count(customize.FirstbootDriverScript, customize.FirstbootDir) != 1 || !strings.Contains(driver, "\ndir="+dir+"\n") {
		t.Fatalf("the driver does not name its directory once:\n%s", customize.FirstbootDriverScript)
	}
	files := map[string]string{
		filepath.Join(dir, "firstboot.sh"):                driver,
		filepath.Join(dir, "scripts", "5000-0002-second"): "#!/bin/sh\necho second >>" + tmp + "/ran\n",
		filepath.Join(dir, "scripts", "5000-0001-first"):  "#!/bin/sh\necho first >>" + tmp + "/ran\n",
		filepath.Join(dir, "scripts", "5000-0010-third"):  "#!/bin/sh\necho third >>" + tmp + "/ran\n",
		filepath.Join(bin, "systemctl"):                   "#!/bin/sh\necho \"$@\" >>" + tmp + "/systemctl\n",
	}
	for p, c := range files {
		if err := os.WriteFile(p, []byte(c), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 { // the second boot runs nothing
		cmd := exec.Command(sh, filepath.Join(dir, "firstboot.sh"), "start")
		cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("driver: %v\n%s", err, out)
		}
	}
	ran, _ := os.ReadFile(filepath.Join(tmp, "ran"))
	if string(ran) != "first\nsecond\nthird\n" {
		t.Fatalf("scripts ran: %q", ran)
	}
	calls, _ := os.ReadFile(filepath.Join(tmp, "systemctl"))
	if !strings.HasPrefix(string(calls), "disable guestfs-firstboot.service\n") {
		t.Fatalf("systemctl calls: %q", calls)
	}
	for _, d := range []string{"scripts", "scripts-done"} {
		if ents, err := os.ReadDir(filepath.Join(dir, d)); err != nil || len(ents) != 0 {
			t.Fatalf("%s: %v %v, want empty", d, ents, err)
		}
	}
	if log, _ := os.ReadFile(filepath.Join(tmp, "virt-sysprep-firstboot.log")); !strings.Contains(string(log), "=== Running") {
		t.Fatalf("log: %q", log)
	}
}

func TestSELinuxRelabel(t *testing.T) {
	base := fixtureTree(t)
	write := arg{"write", "/etc/motd:x"}
	tests := []struct {
		name   string
		config string // of /etc/selinux/config; "" none
		mode   customize.RelabelMode
		steps  []arg
		want   bool // /.autorelabel
	}{
		{"by default, a guest with SELINUX=enforcing is relabelled", "SELINUX=enforcing\nSELINUXTYPE=targeted\n", customize.RelabelAuto, []arg{write}, true},
		{"SELINUX=permissive counts as using SELinux", "# c\nSELINUX = \"permissive\"\n", customize.RelabelAuto, []arg{write}, true},
		{"SELINUX=disabled is not relabelled", "SELINUX=enforcing\nSELINUX=disabled\n", customize.RelabelAuto, []arg{write}, false},
		{"a guest without /etc/selinux/config is not relabelled", "", customize.RelabelAuto, []arg{write}, false},
		{"without customizations nothing is relabelled", "SELINUX=enforcing\n", customize.RelabelAuto, nil, false},
		{"--no-selinux-relabel turns it off", "SELINUX=enforcing\n", customize.RelabelNever, []arg{write}, false},
		{"--selinux-relabel touches /.autorelabel whatever the config", "", customize.RelabelAlways, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := base.Clone()
			if tc.config != "" {
				g.AddFile(customize.SELinuxConfigPath, tc.config, 0o644)
			}
			steps := customize.WithRelabel(parse(t, tc.steps), tc.mode)
			n := len(tc.steps)
			if relabel := tc.mode == customize.RelabelAlways || (tc.mode == customize.RelabelAuto && n > 0); relabel != (len(steps) == n+1) {
				t.Fatalf("%d steps for %d customizations", len(steps), n)
			}
			if len(steps) > n && steps[n].Name() != customize.SELinuxRelabel {
				t.Fatalf("last step %q", steps[n].Name())
			}
			snap := opstest.Take(t, g)
			got, changes, err := applyAll(t, g, steps)
			if err != nil {
				t.Fatal(err)
			}
			opstest.CheckChanges(t, changes, opstest.Diff(snap, opstest.Take(t, g)), base, g)
			has := state(t, g, customize.AutorelabelPath) == ""
			if has != tc.want {
				t.Fatalf("/.autorelabel present %t, want %t (changes %q)", has, tc.want, got)
			}
			if tc.want && got[len(got)-1] != "created /.autorelabel" {
				t.Fatalf("changes %q", got)
			}
		})
	}
}
