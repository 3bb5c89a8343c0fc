package guest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/fs/conformance"
)

// runUUID is the UUID of the filesystem the conformance guest mounts on
// /run.
const runUUID = "5c1f3a2e-8d47-4b6a-9e21-0f3c4d5e6a7b"

// TestConformance runs the engine conformance suite on an assembled
// guest: the suite's tree on two ext4 filesystems made by mkfs.ext4 -d,
// the root and one its fstab mounts on /run, so that /var/run -> ../run
// and writes through it cross the mount point. After every write scenario
// both images are synced and judged by e2fsck -fn, and the guest's tree
// is compared with the reference memfs.
func TestConformance(t *testing.T) {
	type images struct{ root, run string }
	made := map[fs.WriteTree]images{}
	conformance.Run(t, conformance.Options{
		Extra: []conformance.Entry{
			{Path: "/etc/fstab", Type: fs.TypeRegular, Perm: 0o644, Data: "UUID=" + runUUID + " /run ext4 defaults 0 2\n"},
			{Path: "/usr", Type: fs.TypeDir, Perm: 0o755},
			{Path: "/usr/lib", Type: fs.TypeDir, Perm: 0o755},
			{Path: "/usr/lib/os-release", Type: fs.TypeRegular, Perm: 0o644, Data: "ID=debian\nVERSION_ID=12\n"},
		},
		New: func(t *testing.T, entries []conformance.Entry) fs.WriteTree {
			var root, run []conformance.Entry
			for _, e := range entries {
				if rest, ok := strings.CutPrefix(e.Path, "/run/"); ok {
					e.Path = "/" + rest
					run = append(run, e)
				} else {
					root = append(root, e)
				}
			}
			im := images{root: mkfsFrom(t, "root", "", root), run: mkfsFrom(t, "run", runUUID, run)}
			var layouts []*Layout
			for _, img := range []string{im.root, im.run} {
				fh, err := os.OpenFile(img, os.O_RDWR, 0)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { fh.Close() })
				st, err := fh.Stat()
				if err != nil {
					t.Fatal(err)
				}
				l, err := Scan(fileDisk{File: fh, size: st.Size()}, Options{Name: filepath.Base(img), Writable: true})
				if err != nil {
					t.Fatalf("Scan %s: %v", img, err)
				}
				layouts = append(layouts, l)
			}
			l, err := Join([]string{"root", "run"}, layouts...)
			if err != nil {
				t.Fatal(err)
			}
			gs, err := l.Guests()
			if err != nil || len(gs) != 1 {
				t.Fatalf("guests: %d, %v; want 1", len(gs), err)
			}
			if w, err := gs[0].Where("/run/status.json"); err != nil || !strings.HasSuffix(w, "(/run)") {
				t.Fatalf("/run/status.json is on %q, %v; want the filesystem mounted on /run", w, err)
			}
			made[gs[0]] = im
			return gs[0]
		},
		Check: func(t *testing.T, w fs.WriteTree) {
			if err := w.(*Guest).Sync(); err != nil {
				t.Fatalf("sync: %v", err)
			}
			im := made[w]
			oracle.E2fsckClean(t, im.root)
			oracle.E2fsckClean(t, im.run)
		},
	})
}

// mkfsFrom makes an ext4 image from entries with mkfs.ext4 -d.
func mkfsFrom(t *testing.T, name, uuid string, entries []conformance.Entry) string {
	t.Helper()
	img := filepath.Join(t.TempDir(), name+".img")
	args := []string{"-q", "-F", "-t", "ext4", "-b", "4096", "-d", conformance.Stage(t, entries)}
	if uuid != "" {
		args = append(args, "-U", uuid)
	}
	if out, errOut, code := oracle.Run(t, "mkfs.ext4", append(args, img, "32M")...); code != 0 {
		t.Fatalf("mkfs.ext4: exit %d: %s%s", code, out, errOut)
	}
	return img
}
