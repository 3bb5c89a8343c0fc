package proxmox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const storageCfg = `dir: local
	path /var/lib/vz
	content iso,vztmpl,backup,images

lvmthin: local-lvm
	thinpool data
	vgname pve
	content rootdir,images

zfspool: tank
	pool rpool/data
	sparse 1
	content images

nfs: shared
	export /export/vms
	path /mnt/pve/shared
	server 10.0.0.5
	content images

rbd: ceph
	pool vms
	krbd 0
	content images

iscsi: san
	portal 10.0.0.9
	target iqn.2003-01.org.example:vms
`

// pveRoot writes a /etc/pve tree holding VM 100 with conf.
func pveRoot(t *testing.T, conf string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range map[string]string{"etc/pve/storage.cfg": storageCfg, "etc/pve/qemu-server/100.conf": conf} {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestOpenResolvesEveryStorageType(t *testing.T) {
	conf := `boot: order=scsi0
cores: 2
ide2: local:iso/debian-12.iso,media=cdrom,size=600M
name: web
scsi0: local-lvm:vm-100-disk-0,iothread=1,size=32G
scsi1: local:100/vm-100-disk-1.qcow2,size=8G
virtio0: tank:vm-100-disk-2,size=4G
sata0: shared:100/vm-100-disk-3.raw,size=1G
efidisk0: local-lvm:vm-100-disk-4,efitype=4m,size=4M
tpmstate0: local-lvm:vm-100-disk-5,size=4M,version=v2.0
unused0: local-lvm:vm-100-disk-9
template: 1

[snap1]
scsi5: ceph:vm-100-disk-7,size=1G
`
	root := pveRoot(t, conf)
	vm, err := Open("100", Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range vm.Disks {
		got = append(got, fmt.Sprintf("%s %s %s %s", d.Key, d.Type, d.Format, strings.TrimPrefix(d.Path, root)))
	}
	want := []string{
		"scsi0 lvmthin raw /dev/pve/vm-100-disk-0",
		"scsi1 dir qcow2 /var/lib/vz/images/100/vm-100-disk-1.qcow2",
		"virtio0 zfspool raw /dev/zvol/rpool/data/vm-100-disk-2",
		"sata0 nfs raw /mnt/pve/shared/images/100/vm-100-disk-3.raw",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") || vm.Name != "web" || !vm.Template {
		t.Fatalf("disks\n%s\nwant\n%s\n%+v", strings.Join(got, "\n"), strings.Join(want, "\n"), vm)
	}
}

func TestOpenLinkedClonesNameTheirOwnVolume(t *testing.T) {
	root := pveRoot(t, "scsi0: local-lvm:base-90-disk-0/vm-100-disk-0,size=8G\nscsi1: local:90/base-90-disk-1.qcow2/100/vm-100-disk-1.qcow2,size=8G\n")
	vm, err := Open("100", Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	if vm.Disks[0].Path != root+"/dev/pve/vm-100-disk-0" || vm.Disks[1].Path != root+"/var/lib/vz/images/100/vm-100-disk-1.qcow2" {
		t.Fatalf("%+v", vm.Disks)
	}
}

func TestOpenRefuses(t *testing.T) {
	tests := []struct {
		name, conf string
		want       error
		says       string
	}{
		{"rbd", "scsi0: ceph:vm-100-disk-0,size=8G\n", ErrStorage, "map it with rbd map first (rbd map vms/vm-100-disk-0)"},
		{"iscsi", "scsi0: san:0.0.1.scsi-36001405,size=8G\n", ErrStorage, "iscsi storage san"},
		{"unknown storage", "scsi0: nowhere:vm-100-disk-0\n", ErrStorage, `storage "nowhere" is not in storage.cfg`},
		{"escaping volume", "scsi0: local:../../etc/shadow.raw\n", ErrConfig, "volume"},
		{"locked", "lock: backup\nscsi0: local-lvm:vm-100-disk-0\n", ErrRunning, "proxmox VM 100 is locked (backup)"},
		{"no disks", "name: x\nide2: none,media=cdrom\n", ErrNoDisks, "VM 100"},
		{"unknown format", "scsi0: local:100/vm-100-disk-0.img\n", ErrStorage, "unknown format"},
	}
	for _, tc := range tests {
		_, err := Open("100", Options{Root: pveRoot(t, tc.conf)})
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	for _, id := range []string{"", "99", "abc", "100/../101", "-1", "1000000000"} {
		if _, err := Open(id, Options{Root: t.TempDir()}); !errors.Is(err, ErrConfig) {
			t.Errorf("VMID %q: %v", id, err)
		}
	}
	if _, err := Open("101", Options{Root: pveRoot(t, "")}); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "101.conf") {
		t.Errorf("missing VM: %v", err)
	}
}

// A qemu pid file naming a live process is a running VM; a stale one is not.
func TestOpenRefusesARunningVM(t *testing.T) {
	root := pveRoot(t, "scsi0: local-lvm:vm-100-disk-0\n")
	pidFile := filepath.Join(root, "var/run/qemu-server/100.pid")
	if err := os.MkdirAll(filepath.Dir(pidFile), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pidFile, []byte(fmt.Sprintf("%d\n", os.Getpid())), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open("100", Options{Root: root})
	if !errors.Is(err, ErrRunning) || !strings.Contains(err.Error(), fmt.Sprintf("proxmox VM 100 is running (qemu pid %d)", os.Getpid())) {
		t.Fatalf("%v", err)
	}
	// A pid no process has (beyond the kernel's pid_max).
	if err := os.WriteFile(pidFile, []byte("2147483647\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open("100", Options{Root: root}); err != nil {
		t.Fatalf("stale pid file: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("scsi0: local-lvm:vm-100-disk-0,size=32G\nlock: x\n[s]\n", storageCfg)
	f.Add("virtio0: local:1/2/3/4.qcow2\nide0: /dev/sdb\n", "dir: local\n\tpath /x\n")
	f.Add("sata1: tank:a/b/c\n", "zfspool: tank\n pool p\n")
	f.Fuzz(func(t *testing.T, conf, storage string) {
		c := parseConfig(conf)
		stores := parseStorage(storage)
		for _, kv := range c.pairs {
			if !diskKeyRE.MatchString(kv[0]) {
				continue
			}
			d, skip, err := resolve("/root", kv[0], kv[1], stores)
			if err != nil || skip {
				continue
			}
			if !strings.HasPrefix(d.Path, "/root/") || strings.Contains(d.Path, "/../") {
				t.Fatalf("%q resolves outside the root: %q", kv[1], d.Path)
			}
		}
	})
}
