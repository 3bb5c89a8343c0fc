package clone

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
)

func TestTheKernelReadsEachClonesIdentity(t *testing.T) {
	oracle.Require(t, "qemu-img")
	tmpl := fixture.Path(t, "disk-none.qcow2")
	for i, mode := range []Mode{Linked, Full} {
		dest := filepath.Join(filepath.Dir(tmpl), string(mode)+".qcow2")
		id, err := RandomMachineID()
		if err != nil {
			t.Fatal(err)
		}
		host := []string{"web-1", "web-2.example.com"}[i]
		if _, err := Clone(context.Background(), tmpl, dest, Options{Mode: mode, Operations: prepOps(),
			Identity: Identity{Hostname: host, MachineID: id}}); err != nil {
			t.Fatal(err)
		}
		raw := filepath.Join(t.TempDir(), "disk.raw")
		oracle.QemuImgConvertRaw(t, dest, raw)
		mnt, _ := oracle.KernelMount(t, raw, 0, true)
		for p, want := range map[string]string{
			"etc/hostname":            host + "\n",
			"etc/machine-id":          id + "\n",
			"var/lib/dbus/machine-id": id + "\n",
		} {
			got, err := os.ReadFile(filepath.Join(mnt, p))
			if err != nil || string(got) != want {
				t.Errorf("%s clone: the kernel reads /%s as %q (%v), want %q", mode, p, got, err, want)
			}
		}
		if _, err := os.Stat(filepath.Join(mnt, "var/lib/netdata/registry/netdata.public.unique.id")); err == nil {
			t.Errorf("%s clone: netdata's GUID is still there", mode)
		}
	}
}
