package ext4

import (
	"os"
	"testing"

	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/fs/conformance"
)

// TestConformance runs the engine conformance suite on images made by
// mkfs.ext4 -d from the suite's tree, in several flavours (extents and
// htree directories; 1 KiB blocks; ext2 with block maps and linear
// directories; inline data). After every write scenario the image is
// synced and judged by e2fsck -fn, and the tree compared with the
// reference memfs. Two flavours run by default, all four with
// IMGPREP_LONG=1.
func TestConformance(t *testing.T) {
	flavours := []string{"ext4-4k", "ext2-1k-linear-dirs"}
	if os.Getenv("IMGPREP_LONG") == "1" {
		flavours = append(flavours, "ext4-1k", "ext4-inline")
	}
	for _, name := range flavours {
		var cfg mkfsConfig
		for _, c := range testConfigs() {
			if c.name == name {
				cfg = c
			}
		}
		t.Run(name, func(t *testing.T) {
			images := map[fs.WriteTree]string{}
			conformance.Run(t, conformance.Options{
				New: func(t *testing.T, entries []conformance.Entry) fs.WriteTree {
					img := mkfs(t, cfg, conformance.Stage(t, entries))
					f, _ := openRW(t, img)
					images[f] = img
					return f
				},
				Check: func(t *testing.T, w fs.WriteTree) {
					if err := w.(*FS).Sync(); err != nil {
						t.Fatalf("sync: %v", err)
					}
					oracle.E2fsckClean(t, images[w])
				},
			})
		})
	}
}
