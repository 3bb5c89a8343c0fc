package main

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/pkg/sysprep"
)

// TestVirtSysprepSpellings: the options as virt-sysprep users type them
// do what imgprep's own spellings do.
func TestVirtSysprepSpellings(t *testing.T) {
	t.Run("--dryrun", func(t *testing.T) {
		b := memBackend()
		r := runCLI(t, b, "sysprep", "template.qcow2", "--dryrun")
		if img := b.Images["template.qcow2"]; r.code != 0 || img.Commits != 0 || img.Discards != 1 {
			t.Fatalf("exit %d, commits %d, discards %d: want a dry run\n%s", r.code, img.Commits, img.Discards, r.stderr)
		}
	})
	t.Run("--operation, repeated", func(t *testing.T) {
		r := runCLI(t, memBackend(), "sysprep", "--operation", "machine-id", "template.qcow2", "--operation", "ssh-hostkeys", "--json")
		if r.code != 0 || !strings.Contains(r.stdout, `"operations":["machine-id","ssh-hostkeys"]`) {
			t.Fatalf("exit %d, want machine-id and ssh-hostkeys run:\n%s%s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("--list-operations", func(t *testing.T) {
		want := runCLI(t, memBackend(), "list-operations")
		for _, args := range [][]string{{"sysprep", "--list-operations"}, {"sysprep", "template.qcow2", "--list-operations"}} {
			b := memBackend()
			r := runCLI(t, b, args...)
			if r.code != 0 || r.stdout != want.stdout || r.stderr != "" {
				t.Errorf("%v: exit %d, stdout differs from list-operations: %t\n%s", args, r.code, r.stdout != want.stdout, r.stderr)
			}
			if n := len(b.Images["template.qcow2"].Opens); n != 0 {
				t.Errorf("%v opened the image %d times", args, n)
			}
		}
		r := runCLI(t, memBackend(), "sysprep", "--list-operations", "--json")
		var list []opInfo
		if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list) < 30 {
			t.Errorf("--list-operations --json: %v (%d operations)", err, len(list))
		}
	})
	t.Run("-V and --version", func(t *testing.T) {
		for _, args := range [][]string{{"-V"}, {"--version"}, {"sysprep", "-V"}, {"inspect", "--version", "template.qcow2"}} {
			b := memBackend()
			r := runCLI(t, b, args...)
			if r.code != 0 || r.stdout != "imgprep dev\n" {
				t.Errorf("%v: exit %d, stdout %q", args, r.code, r.stdout)
			}
			if n := len(b.Images["template.qcow2"].Opens); n != 0 {
				t.Errorf("%v opened the image", args)
			}
		}
	})
	t.Run("-x traces", func(t *testing.T) {
		for _, args := range [][]string{
			{"-x", "sysprep", "--operations", "machine-id", "template.qcow2"},
			{"sysprep", "template.qcow2", "--operations", "machine-id", "-x"},
			{"inspect", "-x", "template.qcow2"},
			{"audit", "template.qcow2", "--trace"},
		} {
			r := runCLI(t, memBackend(), args...)
			if r.code != 0 {
				t.Fatalf("%v: exit %d\n%s", args, r.code, r.stderr)
			}
			for _, want := range []string{"imgprep: trace: open template.qcow2 (format auto, ", "imgprep: trace: template.qcow2: guest on ext4 on partition 2 (Debian GNU/Linux 12 (bookworm))"} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("%v: stderr lacks %q:\n%s", args, want, r.stderr)
				}
			}
			if args[0] == "inspect" || args[0] == "audit" {
				continue
			}
			for _, want := range []string{"imgprep: trace: operation machine-id on ext4 on partition 2: 2 paths changed", "imgprep: trace: template.qcow2: commit: 4096 bytes staged"} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("%v: stderr lacks %q:\n%s", args, want, r.stderr)
				}
			}
		}
		if r := runCLI(t, memBackend(), "sysprep", "-q", "template.qcow2"); strings.Contains(r.stderr, "trace") {
			t.Errorf("traced without -x:\n%s", r.stderr)
		}
	})
	t.Run("--no-selinux-relabel is accepted", func(t *testing.T) {
		r := runCLI(t, memBackend(), "sysprep", "template.qcow2", "--no-selinux-relabel", "--operations", "machine-id", "--json")
		if r.code != 0 || strings.Contains(r.stdout, "selinux-relabel") {
			t.Fatalf("exit %d:\n%s%s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("-a disks form one guest", func(t *testing.T) {
		b := memBackend()
		r := runCLI(t, b, "sysprep", "-a", "template.qcow2", "--operations", "machine-id", "--add", "other.raw")
		if r.code != 0 {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
		opens := b.Images["template.qcow2"].Opens
		if len(opens) != 1 || !slices.Equal(opens[0].Disks, []string{"other.raw"}) {
			t.Errorf("template.qcow2 opened %+v: want once, with other.raw joined", opens)
		}
		if n := len(b.Images["other.raw"].Opens); n != 0 {
			t.Errorf("other.raw opened %d times on its own", n)
		}
	})
}

// TestAddJoinsTheDisksOfOneVM: -a disk1 -a disk2 on the real stack finds
// /var on the second disk through the first's fstab, as virt-sysprep does;
// inspect shows the mount, and sysprep prepares /var on disk 2.
func TestAddJoinsTheDisksOfOneVM(t *testing.T) {
	dir := t.TempDir()
	d1, d2 := fixture.PathIn(t, "vm-disk1.raw", dir), fixture.PathIn(t, "vm-disk2.raw", dir)
	r := runCLI(t, sysprep.Stack{}, "inspect", "-a", d1, "-a", d2)
	if r.code != 0 || !strings.Contains(r.stdout, "mount /var: ext4 on partition 1 of vm-disk2.raw") {
		t.Fatalf("inspect -a -a: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, sysprep.Stack{}, "inspect", d1); strings.Contains(r.stdout, "mount /var: ") {
		t.Fatalf("inspect of disk 1 alone mounts /var:\n%s", r.stdout)
	}
	rep, _ := sysprepJSON(t, 0, "-a", d1, "--operations", "machine-id,netdata", "-a", d2)
	changed := map[string]string{}
	for _, c := range rep.Changes() {
		changed[c.Path] = c.Filesystem
	}
	if fs := changed["/var/lib/dbus/machine-id"]; !strings.HasPrefix(fs, "ext4 on partition 1 of vm-disk2.raw") {
		t.Errorf("/var/lib/dbus/machine-id changed on %q, want on disk 2 (changes %v)", fs, changed)
	}
	if fs := changed["/etc/machine-id"]; !strings.HasPrefix(fs, "ext4 on partition 1 of vm-disk1.raw") {
		t.Errorf("/etc/machine-id changed on %q, want on disk 1", fs)
	}
}

// TestVirtCustomizeOptionsThatNeedABoot: --run-command, --run, --install,
// --uninstall and --update are refused with --firstboot-command suggested,
// exit 2, the image byte-identical.
func TestVirtCustomizeOptionsThatNeedABoot(t *testing.T) {
	img := fixture.Path(t, "catalog-disk.raw")
	sum := fixture.SHA256(t, img)
	for _, args := range [][]string{
		{"sysprep", "--run-command", "dnf -y update", img},
		{"sysprep", img, "--run", "/tmp/setup.sh"},
		{"sysprep", "--install", "nginx,curl", img},
		{"sysprep", "--uninstall", "nano", img},
		{"sysprep", img, "--update"},
		{"clone", "--run-command", "true", img, img + ".clone"},
	} {
		r := runCLI(t, sysprep.Stack{}, args...)
		name := args[1]
		if !strings.HasPrefix(name, "--") {
			name = args[2]
		}
		if r.code != exitUsage || !strings.Contains(r.stderr, name+" needs a running guest") || !strings.Contains(r.stderr, "--firstboot-command") {
			t.Errorf("%v: exit %d, stderr %q", args, r.code, r.stderr)
		}
		if fixture.SHA256(t, img) != sum {
			t.Fatalf("%v changed the image", args)
		}
	}
	if _, err := os.Stat(img + ".clone"); !errors.Is(err, fs.ErrNotExist) {
		t.Error("a refused clone created its destination")
	}
}
