package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/sysprep"
)

// catalogRoot is the byte offset of the root filesystem of
// catalog-disk.raw (partition 2 at sector 34816, see gen.d/catalog.sh).
const catalogRoot = 34816 * 512

func reported(rep *sysprep.Report) []string {
	var out []string
	for _, c := range rep.Changes() {
		out = append(out, c.Operation+" "+string(c.Action)+" "+c.Path)
	}
	return out
}

// TestCustomizationsRunInCommandLineOrder: virt-customize applies its
// options in the order given, whatever their kind, after the operations.
func TestCustomizationsRunInCommandLineOrder(t *testing.T) {
	oracle.Require(t, "debugfs")
	tests := []struct {
		name    string
		args    []string
		want    []string
		content string // of /etc/flag; "" absent
	}{
		{"write then delete: the file is gone",
			[]string{"--operations", "machine-id", "--write", "/etc/flag:1", "--delete", "/etc/flag"},
			[]string{"machine-id truncated /etc/machine-id", "machine-id truncated /var/lib/dbus/machine-id",
				"write created /etc/flag", "delete removed /etc/flag"}, ""},
		{"delete then write: the file stays",
			[]string{"--operations", "machine-id", "--delete", "/etc/flag", "--write", "/etc/flag:1"},
			[]string{"machine-id truncated /etc/machine-id", "machine-id truncated /var/lib/dbus/machine-id",
				"write created /etc/flag"}, "1"},
		{"append-line, write, append-line interleave",
			[]string{"--operations", "machine-id", "--append-line", "/etc/flag:a", "--write", "/etc/flag:b", "--append-line", "/etc/flag:c"},
			[]string{"machine-id truncated /etc/machine-id", "machine-id truncated /var/lib/dbus/machine-id",
				"append-line created /etc/flag", "write written /etc/flag", "append-line edited /etc/flag"}, "b\nc\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img := fixture.Path(t, "catalog-disk.raw")
			rep, _ := sysprepJSON(t, 0, append(tc.args, img)...)
			if got := reported(rep); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("changes %q, want %q", got, tc.want)
			}
			dev := oracle.Device(img, catalogRoot)
			oracle.E2fsckClean(t, dev)
			got, ok := oracle.DebugfsCat(t, dev, "/etc/flag")
			if (tc.content == "") == ok || string(got) != tc.content {
				t.Fatalf("/etc/flag: %q (exists %t), want %q", got, ok, tc.content)
			}
		})
	}
}

func TestDryRunCoversCustomizations(t *testing.T) {
	img := fixture.Path(t, "catalog-disk.raw")
	sum := fixture.SHA256(t, img)
	rep, _ := sysprepJSON(t, 0, "--dry-run", "--operations", "ssh-hostkeys", "--hostname", "clone1", "--timezone", "Europe/Paris", img)
	if fixture.SHA256(t, img) != sum {
		t.Fatal("--dry-run changed the image")
	}
	want := []string{
		"ssh-hostkeys removed /etc/ssh/ssh_host_ed25519_key", "ssh-hostkeys removed /etc/ssh/ssh_host_ed25519_key.pub",
		"ssh-hostkeys removed /etc/ssh/ssh_host_rsa_key", "ssh-hostkeys removed /etc/ssh/ssh_host_rsa_key.pub",
		"hostname written /etc/hostname", "hostname edited /etc/hosts", "timezone written /etc/localtime",
	}
	if got := reported(rep); !reflect.DeepEqual(got, want) {
		t.Fatalf("changes %q, want %q", got, want)
	}
	if !reflect.DeepEqual(rep.Operations, []string{"ssh-hostkeys", "hostname", "timezone", "selinux-relabel"}) {
		t.Fatalf("operations %q", rep.Operations)
	}
}

func TestOperationOptions(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		code     int
		want     []string // reported changes, for code 0
		errorHas string
	}{
		{"--remove-user-accounts narrows user-account",
			[]string{"--operations", "user-account", "--remove-user-accounts", "bob"}, 0,
			[]string{"user-account edited /etc/passwd", "user-account edited /etc/shadow", "user-account edited /etc/group",
				"user-account edited /etc/gshadow", "user-account removed /home/bob", "user-account removed /var/spool/mail/bob"}, ""},
		{"--keep-user-accounts keeps users",
			[]string{"--operations", "user-account", "--keep-user-accounts", "alice,carol"}, 0,
			[]string{"user-account edited /etc/passwd", "user-account edited /etc/shadow", "user-account edited /etc/group",
				"user-account edited /etc/gshadow", "user-account removed /home/bob", "user-account removed /var/spool/mail/bob"}, ""},
		{"--cloud-init-network also removes rendered network files",
			[]string{"--operations", "cloud-init", "--cloud-init-network"}, 0,
			[]string{"cloud-init removed /var/lib/cloud/data", "cloud-init removed /var/lib/cloud/instance",
				"cloud-init removed /var/lib/cloud/instances", "cloud-init removed /var/lib/cloud/sem",
				"cloud-init removed /var/log/cloud-init.log", "cloud-init removed /var/log/cloud-init.log.1",
				"cloud-init removed /var/log/cloud-init-output.log", "cloud-init removed /etc/netplan/50-cloud-init.yaml",
				"cloud-init removed /etc/NetworkManager/system-connections/cloud-init-eth0.nmconnection"}, ""},
		{"--remove-user-accounts without user-account is a usage error",
			[]string{"--remove-user-accounts", "bob"}, exitUsage, nil, `"user-account" operation is not selected`},
		{"--cloud-init-network without cloud-init is a usage error",
			[]string{"--operations", "logfiles", "--cloud-init-network"}, exitUsage, nil, `"cloud-init" operation is not selected`},
		{"an empty user name is a usage error",
			[]string{"--operations", "user-account", "--keep-user-accounts", "alice,"}, exitUsage, nil, "invalid user name"},
		{"a bad customization argument is a usage error",
			[]string{"--chmod", "rwx:/etc/motd"}, exitUsage, nil, "MODE is not an octal permission"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img := fixture.Path(t, "catalog-disk.raw")
			sum := fixture.SHA256(t, img)
			if tc.code != 0 {
				r := runCLI(t, sysprep.Stack{}, append(append([]string{"sysprep"}, tc.args...), img)...)
				if r.code != tc.code || !strings.Contains(r.stderr, tc.errorHas) {
					t.Fatalf("exit %d, stderr %q; want %d and %q", r.code, r.stderr, tc.code, tc.errorHas)
				}
				if fixture.SHA256(t, img) != sum {
					t.Fatal("a usage error changed the image")
				}
				return
			}
			rep, _ := sysprepJSON(t, 0, append(tc.args, img)...)
			if got := reported(rep); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("changes %q, want %q", got, tc.want)
			}
			oracle.E2fsckClean(t, oracle.Device(img, catalogRoot))
		})
	}
}
