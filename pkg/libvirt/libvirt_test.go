package libvirt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/oracle"
)

const chainXML = `<domain type='kvm' id='3'>
  <name>web</name>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/var/lib/libvirt/images/web.qcow2'/>
      <backingStore type='file'>
        <format type='qcow2'/>
        <source file='/var/lib/libvirt/images/golden.qcow2'/>
        <backingStore type='file'>
          <format type='raw'/>
          <source file='/srv/base.raw'/>
          <backingStore/>
        </backingStore>
      </backingStore>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='block' device='disk'>
      <driver name='qemu' type='raw'/>
      <source dev='/dev/vg0/web-data'/>
      <target dev='vdb' bus='virtio'/>
      <readonly/>
    </disk>
    <disk type='network' device='disk'>
      <driver name='qemu' type='raw'/>
      <source protocol='rbd' name='pool/web-extra'/>
      <target dev='vdc' bus='virtio'/>
    </disk>
    <disk type='volume' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source pool='default' volume='web-logs.qcow2'/>
      <target dev='vdd' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'>
      <source file='/isos/install.iso'/>
      <target dev='hdc' bus='ide'/>
    </disk>
  </devices>
</domain>`

func TestParseReadsDisksFormatsAndBackingChains(t *testing.T) {
	d, err := Parse([]byte(chainXML))
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprintf("%+v", d.Disks)
	want := "[{Target:vda Path:/var/lib/libvirt/images/web.qcow2 Format:qcow2 Backing:[/var/lib/libvirt/images/golden.qcow2 /srv/base.raw] ReadOnly:false Network: Pool: Volume:} " +
		"{Target:vdb Path:/dev/vg0/web-data Format:raw Backing:[] ReadOnly:true Network: Pool: Volume:} " +
		"{Target:vdc Path: Format:raw Backing:[] ReadOnly:false Network:rbd pool/web-extra Pool: Volume:} " +
		"{Target:vdd Path: Format:qcow2 Backing:[] ReadOnly:false Network: Pool:default Volume:web-logs.qcow2}]"
	if got != want || d.Name != "web" {
		t.Fatalf("disks\n%s\nwant\n%s", got, want)
	}
}

func TestParseRefusesBadXML(t *testing.T) {
	for name, x := range map[string]string{
		"not xml":  "virsh: command not found",
		"no disks": "<domain><name>empty</name><devices><disk device='cdrom'/></devices></domain>",
		"cut":      chainXML[:200],
		"too big":  "<domain>" + strings.Repeat(" ", MaxXML) + "</domain>",
	} {
		if _, err := Parse([]byte(x)); !errors.Is(err, ErrXML) && !errors.Is(err, ErrNoDisks) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(chainXML))
	f.Add([]byte("<domain><backingStore><backingStore/></backingStore></domain>"))
	f.Fuzz(func(t *testing.T, x []byte) {
		d, err := Parse(x)
		if err == nil && len(d.Disks) == 0 {
			t.Fatalf("no disks and no error")
		}
	})
}

// nodeXML writes a libvirt test driver node holding a shut-off domain
// "off" with disk offDisk, a running "on" and a paused "paused" with
// onDisk; it returns the test:/// URI.
func nodeXML(t *testing.T, offDisk, onDisk string) string {
	t.Helper()
	dom := func(name, state, disk string) string {
		return fmt.Sprintf(`<domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
  <name>%s</name><memory>65536</memory><os><type>hvm</type></os>
  <devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='%s'/><target dev='vda' bus='virtio'/></disk></devices>
  <test:runstate>%s</test:runstate>
</domain>`, name, disk, state)
	}
	// virDomainState: 1 running, 3 paused, 5 shut off.
	node := "<node>" + dom("off", "5", offDisk) + dom("on", "1", onDisk) + dom("paused", "3", onDisk) + "</node>"
	path := filepath.Join(t.TempDir(), "node.xml")
	if err := os.WriteFile(path, []byte(node), 0o644); err != nil {
		t.Fatal(err)
	}
	return "test://" + path
}

func TestOpenWithLibvirtsTestDriver(t *testing.T) {
	oracle.Require(t, "virsh")
	uri := nodeXML(t, "/images/off.qcow2", "/images/on.qcow2")
	d, err := Open(context.Background(), "off", Options{URI: uri})
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "off" || d.State != "shut off" || len(d.Disks) != 1 || d.Disks[0].Path != "/images/off.qcow2" || d.Disks[0].Format != "qcow2" {
		t.Fatalf("%+v", d)
	}
	for name, state := range map[string]string{"on": "running", "paused": "paused"} {
		_, err := Open(context.Background(), name, Options{URI: uri})
		if !errors.Is(err, ErrActive) || !strings.Contains(err.Error(), "libvirt domain "+name+" is "+state) {
			t.Errorf("%s: %v", name, err)
		}
	}
	_, err = Open(context.Background(), "nope", Options{URI: uri})
	if !errors.Is(err, ErrVirsh) || !strings.Contains(err.Error(), "nope") {
		t.Errorf("missing domain: %v", err)
	}
}
