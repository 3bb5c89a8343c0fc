package vfat

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/fs/conformance"
)

// TestConformance runs the engine conformance suite on FAT12, FAT16 and
// FAT32 images made by mkfs.vfat and filled by mcopy from the suite's
// tree. FAT has no symlinks, hard links, special files, owners or
// permissions, and this engine creates and renames nothing: those
// scenarios do not run. After every write scenario fsck.fat -n must find
// nothing to fix, and the tree must match the reference memfs.
func TestConformance(t *testing.T) {
	for _, c := range []struct {
		fat    int
		sizeKB int
		extra  []string
	}{
		{12, 4096, nil},
		{16, 16384, nil},
		{32, 40960, []string{"-s", "1"}},
	} {
		t.Run(fmt.Sprintf("FAT%d", c.fat), func(t *testing.T) {
			images := map[fs.WriteTree]string{}
			conformance.Run(t, conformance.Options{
				NoSymlinks: true, NoOwners: true, NoLinks: true, NoSpecial: true, NoRename: true, NoCreate: true,
				// 100 entries of a long name take 13 KiB: several clusters;
				// mcopy is slow with more.
				Many: 100,
				New: func(t *testing.T, entries []conformance.Entry) fs.WriteTree {
					src := conformance.Stage(t, entries)
					img := filepath.Join(t.TempDir(), "fat.img")
					args := append([]string{"-C", img, "-F", fmt.Sprint(c.fat), "-i", "1234abcd"}, c.extra...)
					if out, errOut, code := oracle.Run(t, "mkfs.vfat", append(args, fmt.Sprint(c.sizeKB))...); code != 0 {
						t.Fatalf("mkfs.vfat: exit %d: %s%s", code, out, errOut)
					}
					ents, err := os.ReadDir(src)
					if err != nil {
						t.Fatal(err)
					}
					args = []string{"-s", "-i", img}
					for _, e := range ents {
						args = append(args, filepath.Join(src, e.Name()))
					}
					t.Setenv("MTOOLS_SKIP_CHECK", "1")
					if out, errOut, code := oracle.Run(t, "mcopy", append(args, "::/")...); code != 0 {
						t.Fatalf("mcopy: exit %d: %s%s", code, out, errOut)
					}
					fh, err := os.OpenFile(img, os.O_RDWR, 0)
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { fh.Close() })
					st, err := fh.Stat()
					if err != nil {
						t.Fatal(err)
					}
					f, err := OpenWritable(fh, st.Size(), Options{})
					if err != nil {
						t.Fatal(err)
					}
					images[f] = img
					return f
				},
				Check: func(t *testing.T, w fs.WriteTree) {
					if err := w.(*FS).Sync(); err != nil {
						t.Fatal(err)
					}
					img := images[w]
					out, errOut, code := oracle.Run(t, "fsck.fat", "-n", img)
					lines := strings.Split(strings.TrimSpace(out), "\n")
					if code != 0 || len(lines) != 2 || !strings.HasPrefix(lines[1], img+": ") {
						t.Fatalf("fsck.fat -n: exit %d, something to fix:\n%s%s", code, out, errOut)
					}
				},
			})
		})
	}
}
