package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
)

// libvirtNode writes a libvirt test driver node holding a shut-off domain
// "off" with disk offDisk and a running domain "on" with onDisk; it
// returns the test:/// URI. (The test driver keeps its state per
// connection, so both domains are defined in the node.)
func libvirtNode(t *testing.T, offDisk, onDisk string) string {
	t.Helper()
	dom := func(name, state, disk string) string {
		return fmt.Sprintf(`<domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
  <name>%s</name><memory>65536</memory><os><type>hvm</type></os>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='%s'/><target dev='vda' bus='virtio'/></disk>
    <disk type='file' device='cdrom'><source file='/nonexistent/install.iso'/><target dev='hdc' bus='ide'/><readonly/></disk>
  </devices>
  <test:runstate>%s</test:runstate>
</domain>`, name, disk, state)
	}
	// virDomainState: 1 running, 5 shut off.
	return "test://" + writeFile(t, t.TempDir(), "node.xml", "<node>"+dom("off", "5", offDisk)+dom("on", "1", onDisk)+"</node>")
}

func machineIDState(t *testing.T, img string, args ...string) string {
	t.Helper()
	r := runEnv(t, nil, "", append([]string{"inspect", "--json"}, append(args, img)...)...)
	if r.code != 0 {
		t.Fatalf("inspect %s: %d %s", img, r.code, r.stderr)
	}
	_, rest, ok := strings.Cut(r.stdout, `"machine_id":{"state":"`)
	state, _, _ := strings.Cut(rest, `"`)
	if !ok {
		t.Fatalf("inspect %s: no machine_id: %s", img, r.stdout)
	}
	return state
}

// sysprep -c test:///node.xml -d DOMAIN, with libvirt's test driver: the
// shut-off domain's disk is prepared; the running domain is refused by
// name, its disk byte-identical.
func TestSysprepLibvirtDomain(t *testing.T) {
	oracle.Require(t, "virsh")
	off, on := fixture.Path(t, "disk-gpt.qcow2"), fixture.Path(t, "disk-gpt.qcow2")
	uri := libvirtNode(t, off, on)
	before := fixture.SHA256(t, on)
	if machineIDState(t, off) != "set" {
		t.Fatal("the fixture's machine-id is not set")
	}
	r := runEnv(t, nil, "", "sysprep", "-c", uri, "-d", "off")
	if r.code != 0 || !strings.Contains(r.stdout, off+" (qcow2): prepared") {
		t.Fatalf("sysprep -d off: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	preparedByOracles(t, off)
	r = runEnv(t, nil, "", "sysprep", "--connect", uri, "--domain", "on")
	if r.code != 1 || !strings.Contains(r.stderr, "imgprep: libvirt domain on is running") || fixture.SHA256(t, on) != before {
		t.Fatalf("sysprep -d on: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runEnv(t, nil, "", "inspect", "-c", uri, "-d", "off")
	if r.code != 0 || !strings.Contains(r.stdout, off+": qcow2") {
		t.Fatalf("inspect -d off: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, args := range [][]string{{"-d", "off", off}, {"-c", uri, off}, {"-d", "off", "--proxmox", "100"}, {"-d", "off", "--shard", "0/2"}} {
		if r := runEnv(t, nil, "", append([]string{"sysprep"}, args...)...); r.code != 2 {
			t.Errorf("sysprep %v: %d %s", args, r.code, r.stderr)
		}
	}
	r = runEnv(t, nil, "", "sysprep", "-c", uri, "-d", "nosuchdomain")
	if r.code != 1 || !strings.Contains(r.stderr, "nosuchdomain") {
		t.Fatalf("sysprep -d nosuchdomain: %d %s", r.code, r.stderr)
	}
}

// pveTree writes etc/pve under a fresh root: storage.cfg with a dir, an
// LVM-thin and a ZFS storage, and VM 100 with conf.
func pveTree(t *testing.T, conf string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range map[string]string{
		"etc/pve/storage.cfg": "dir: local\n\tpath /var/lib/vz\n\tcontent images\n\nlvmthin: local-lvm\n\tthinpool data\n\tvgname pve\n\tcontent images\n\n" +
			"zfspool: local-zfs\n\tpool rpool/data\n\tcontent images\n\nrbd: ceph\n\tpool vms\n\tcontent images\n",
		"etc/pve/qemu-server/100.conf": conf,
	} {
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

// place moves the fixture copy src to root/rel, making its directory.
func place(t *testing.T, src, root, rel string) string {
	t.Helper()
	dst := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(src, dst); err != nil {
		t.Fatal(err)
	}
	return dst
}

// sysprep --proxmox VMID over generated /etc/pve trees: a qcow2 on dir
// storage, a ZFS zvol path (a raw file standing in for it), an LVM-thin
// volume (a symlink to a loop device holding a raw disk); a running VM is
// refused, its disk byte-identical.
func TestSysprepProxmoxVM(t *testing.T) {
	root := pveTree(t, "name: golden\nscsi0: local:100/vm-100-disk-0.qcow2,size=64M\nvirtio1: local-zfs:vm-100-disk-1,size=64M\n"+
		"ide2: local:iso/debian.iso,media=cdrom\n")
	qcow := place(t, fixture.Path(t, "disk-gpt.qcow2"), root, "var/lib/vz/images/100/vm-100-disk-0.qcow2")
	zvol := place(t, fixture.Path(t, "disk-gpt.raw"), root, "dev/zvol/rpool/data/vm-100-disk-1")
	r := runEnv(t, nil, "", "sysprep", "--proxmox", "100", "--proxmox-root", root)
	if r.code != 0 || !strings.Contains(r.stdout, qcow+" (qcow2): prepared") || !strings.Contains(r.stdout, zvol+" (raw): prepared") {
		t.Fatalf("sysprep --proxmox 100: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	preparedByOracles(t, qcow)
	preparedByOracles(t, zvol)

	// Running: the qemu pid file names a live process (this test).
	running := pveTree(t, "scsi0: local:100/vm-100-disk-0.qcow2\n")
	disk := place(t, fixture.Path(t, "disk-gpt.qcow2"), running, "var/lib/vz/images/100/vm-100-disk-0.qcow2")
	if err := os.MkdirAll(filepath.Join(running, "run/qemu-server"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(running, "run/qemu-server"), "100.pid", fmt.Sprintf("%d\n", os.Getpid()))
	before := fixture.SHA256(t, disk)
	r = runEnv(t, map[string]string{"IMGPREP_PROXMOX_ROOT": running}, "", "sysprep", "--proxmox", "100")
	if r.code != 1 || !strings.Contains(r.stderr, "proxmox VM 100 is running") || fixture.SHA256(t, disk) != before {
		t.Fatalf("running VM: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// Locked (a backup running), and on RBD.
	for conf, says := range map[string]string{
		"lock: backup\nscsi0: local:100/vm-100-disk-0.qcow2\n": "proxmox VM 100 is locked (backup)",
		"scsi0: ceph:vm-100-disk-0\n":                          "map it with rbd map first",
	} {
		r = runEnv(t, nil, "", "sysprep", "--proxmox", "100", "--proxmox-root", pveTree(t, conf))
		if r.code != 1 || !strings.Contains(r.stderr, says) {
			t.Errorf("%q: %d %s", conf, r.code, r.stderr)
		}
	}
}

// LVM-thin: /dev/VG/vm-ID-disk-N is a block device; here a loop device
// holding a raw disk, reached through the tree's dev/pve symlink.
func TestSysprepProxmoxLVMThinLoopDevice(t *testing.T) {
	losetup := oracle.Require(t, "losetup")
	if os.Geteuid() != 0 {
		oracle.Unavailable(t, "loop devices need root")
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		oracle.Unavailable(t, "no loop devices")
	}
	root := pveTree(t, "scsi0: local-lvm:vm-100-disk-0,size=64M\n")
	backing := fixture.Path(t, "disk-gpt.raw")
	out, err := exec.Command(losetup, "--find", "--show", backing).CombinedOutput()
	if err != nil {
		oracle.Unavailable(t, fmt.Sprintf("losetup: %v %s", err, out))
	}
	loop := strings.TrimSpace(string(out))
	t.Cleanup(func() {
		if out, err := exec.Command(losetup, "-d", loop).CombinedOutput(); err != nil {
			t.Errorf("losetup -d %s: %v %s", loop, err, out)
		}
	})
	lv := filepath.Join(root, "dev/pve/vm-100-disk-0")
	if err := os.MkdirAll(filepath.Dir(lv), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(loop, lv); err != nil {
		t.Fatal(err)
	}
	r := runEnv(t, nil, "", "sysprep", "--proxmox", "100", "--proxmox-root", root)
	if r.code != 0 || !strings.Contains(r.stdout, lv+" (raw): prepared") {
		t.Fatalf("sysprep --proxmox 100 on LVM-thin: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if s := machineIDState(t, loop, "--format", "raw"); s != "empty" {
		t.Fatalf("the loop device after sysprep: machine-id %s", s)
	}
	preparedByOracles(t, backing) // the loop device's backing file
}

// preparedByOracles checks a copy of the disk-gpt fixture that imgprep
// prepared, with tools we did not write: qemu-img check (a qcow2), e2fsck
// -fn of each ext4 filesystem, and debugfs reading an empty
// /etc/machine-id.
func preparedByOracles(t *testing.T, img string) {
	t.Helper()
	if strings.HasSuffix(img, ".qcow2") {
		oracle.QemuImgCheck(t, img, false)
	}
	raw := rawOf(t, img)
	if raw == img { // fdisk names partitions NAMEpN after a name ending in a digit
		raw = filepath.Join(t.TempDir(), "disk.raw")
		if err := os.Symlink(img, raw); err != nil {
			t.Fatal(err)
		}
	}
	devs := devices(t, raw, guestFixtures[0])
	for _, dev := range devs {
		oracle.E2fsckClean(t, dev)
	}
	if b, ok := oracle.DebugfsCat(t, devs["/"], "/etc/machine-id"); !ok || len(b) != 0 {
		t.Fatalf("%s: debugfs reads /etc/machine-id as %q (found %v), want it empty", img, b, ok)
	}
}
