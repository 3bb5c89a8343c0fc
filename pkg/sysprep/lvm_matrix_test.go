package sysprep_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/killtest"
	"github.com/imgprep/imgprep/internal/oracle"
	gfs "github.com/imgprep/imgprep/pkg/fs"
	pguest "github.com/imgprep/imgprep/pkg/guest"
	"github.com/imgprep/imgprep/pkg/ops"
	"github.com/imgprep/imgprep/pkg/ops/catalog"
	"github.com/imgprep/imgprep/pkg/ops/catalogtest"
	"github.com/imgprep/imgprep/pkg/sysprep"
)

// lvmTemplate is Ubuntu Server's LVM layout (lvm-ubuntu.raw: the root on
// the ext4 LV ubuntu-vg/ubuntu-lv, /boot on partition 2, the ESP on 1)
// with the catalog fixture's guest tree copied into it, so that every
// operation finds its files on the LV; and where lvm2 says the LV and
// /boot lie.
type lvmTemplate struct {
	data               []byte
	root, rootSize     int64 // the LV's bytes in the image
	boot               int64
	copied, onBootOnly int
}

// newLVMTemplate builds the template: every directory, regular file and
// symlink of the catalog guest (existing files replaced; the ESP's, a
// vfat imgprep does not create files on, and fstab left out), written through
// pkg/guest (so through the LV's mapping), then judged by e2fsck.
func newLVMTemplate(t *testing.T) *lvmTemplate {
	t.Helper()
	src := catalogtest.Memfs(t, catalogtest.Open(t).Guest, "catalog")
	img := fixture.Path(t, "lvm-ubuntu.raw")
	f, size := fixture.Open(t, img, os.O_RDWR)
	l, err := pguest.Scan(rawDisk{f, size}, pguest.Options{Name: "lvm-ubuntu.raw", Writable: true})
	if err != nil {
		t.Fatal(err)
	}
	gs, err := l.Guests()
	if err != nil || len(gs) != 1 {
		t.Fatalf("guests: %v", err)
	}
	g := gs[0]
	tp := &lvmTemplate{}
	todo := []string{"/"}
	for len(todo) > 0 {
		p := todo[0]
		todo = todo[1:]
		if p == "/boot/efi" || p == "/etc/fstab" { // the ESP; the LVM guest's own mounts
			continue
		}
		a, err := src.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		owner := gfs.Owner{UID: a.UID, GID: a.GID}
		_, lerr := g.Lstat(p)
		exists := lerr == nil
		switch a.Type() {
		case gfs.TypeDir:
			if !exists {
				if err := g.Mkdir(p, a.Perm(), owner); err != nil {
					t.Fatalf("mkdir %s: %v", p, err)
				}
			}
			ents, err := src.ReadDir(p)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range ents {
				todo = append(todo, path.Join(p, e.Name))
			}
			continue
		case gfs.TypeRegular:
			b, err := src.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := g.WriteFile(p, b, gfs.WriteOptions{Perm: a.Perm(), Owner: owner}); err != nil {
				t.Fatalf("write %s: %v", p, err)
			}
		case gfs.TypeSymlink:
			if exists {
				continue
			}
			target, err := src.Readlink(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := g.Symlink(target, p, owner); err != nil {
				t.Fatalf("symlink %s: %v", p, err)
			}
		}
		tp.copied++
		if strings.HasPrefix(p, "/boot/") {
			tp.onBootOnly++
		}
	}
	if err := g.Sync(); err != nil {
		t.Fatal(err)
	}
	parts := oracle.Partitions(t, img)
	pv := oracle.Loop(t, img, parts[3].Start, parts[3].Size, true)
	pieces := oracle.LVPieces(t, []string{pv}, "ubuntu-vg", "ubuntu-lv")
	if len(pieces) != 1 {
		t.Fatalf("ubuntu-lv in %d pieces", len(pieces))
	}
	tp.root, tp.rootSize, tp.boot = parts[3].Start+pieces[0].Offset, pieces[0].Size, parts[2].Start
	oracle.E2fsckClean(t, oracle.Device(img, tp.root))
	oracle.E2fsckClean(t, oracle.Device(img, tp.boot))
	if tp.data, err = os.ReadFile(img); err != nil {
		t.Fatal(err)
	}
	return tp
}

type rawDisk struct {
	*os.File
	size int64
}

func (d rawDisk) Size() int64 { return d.size }

// TestLVMWriteMatrix: every operation of the catalog, alone, then the
// default set and all of them at once, runs through sysprep on a copy of
// the LVM template. Each run must leave the LV's ext4 and /boot
// e2fsck-clean, and the kernel, mounting the LV through a loop device
// limited to the bytes lvm2 says it has (losetup offset and sizelimit),
// must see every path reported removed from the LV gone and every path
// reported written, created, edited or truncated there present.
func TestLVMWriteMatrix(t *testing.T) {
	oracle.Require(t, "e2fsck")
	tp := newLVMTemplate(t)
	t.Logf("the catalog's tree copied into the LVM guest: %d entries", tp.copied)
	all := catalog.All(catalog.Config{})
	type run struct {
		name string
		list []ops.Operation
	}
	runs := []run{{"defaults", defaultOps()}, {"all", all}}
	for _, op := range all {
		runs = append(runs, run{op.Name(), []ops.Operation{op}})
	}
	onLV := map[string]int{}
	for _, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "lvm.raw")
			killtest.WriteSparse(t, img, tp.data)
			rep, err := sysprep.Run(context.Background(), img, sysprep.Options{Operations: r.list})
			if err != nil {
				t.Fatal(err)
			}
			oracle.E2fsckClean(t, oracle.Device(img, tp.root))
			oracle.E2fsckClean(t, oracle.Device(img, tp.boot))
			dir, umount := oracle.KernelMountType(t, "ext4", oracle.Loop(t, img, tp.root, tp.rootSize, true))
			defer umount()
			for _, c := range rep.Changes() {
				if !strings.HasPrefix(c.Filesystem, "ext4 on LV ubuntu-vg/ubuntu-lv") || c.Action == ops.NewUUID {
					continue
				}
				onLV[r.name]++
				host, ok := inMount(dir, c.Path)
				if !ok {
					continue // through a symlink: the kernel's view would need the guest's resolution
				}
				_, err := os.Lstat(host)
				switch {
				case c.Action == ops.Removed && !errors.Is(err, fs.ErrNotExist):
					t.Errorf("%s reported removed, the kernel still sees it (%v)", c.Path, err)
				case c.Action != ops.Removed && err != nil:
					t.Errorf("%s reported %s, the kernel does not see it: %v", c.Path, c.Action, err)
				}
			}
		})
	}
	if onLV["defaults"] < 30 || onLV["all"] < onLV["defaults"] {
		t.Errorf("changes on the LV: %d by the defaults, %d by all: the template does not exercise the operations", onLV["defaults"], onLV["all"])
	}
	changed := 0
	for _, op := range all {
		if onLV[op.Name()] > 0 {
			changed++
		}
	}
	t.Logf("%d runs (%d operations alone, defaults, all): %d operations changed the LV alone; %d changes on the LV by the defaults, %d by all",
		len(runs), len(all), changed, onLV["defaults"], onLV["all"])
	if changed < len(all)*2/3 {
		t.Errorf("only %d of %d operations changed the LV", changed, len(all))
	}
}

// inMount returns the host path of guest path p on the filesystem
// mounted at dir, or false when a directory on the way is a symlink.
func inMount(dir, p string) (string, bool) {
	cur := dir
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i, c := range parts {
		cur = filepath.Join(cur, c)
		if i == len(parts)-1 {
			break
		}
		st, err := os.Lstat(cur)
		if err != nil {
			return cur, true // a missing directory: the path is missing too
		}
		if st.Mode()&os.ModeSymlink != 0 {
			return "", false
		}
	}
	return cur, true
}
