package xfs

import (
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
)

// xfsFixtures are the committed images of gen.d/xfs.sh.
var xfsFixtures = []string{
	"xfs-default.img", "xfs-noreflink.img", "xfs-rmapbt.img", "xfs-dir8k.img", "xfs-sect4k.img", "xfs-tinyag.img",
}

// TestReadMatchesKernel: on every committed fixture, the whole tree as
// this package reads it is the tree the kernel's xfs driver shows
// (mounted ro,norecovery): names, inode numbers, types, modes, link
// counts, owners, sizes, times, contents, symlink targets and xattrs.
func TestReadMatchesKernel(t *testing.T) {
	for _, name := range xfsFixtures {
		t.Run(name, func(t *testing.T) {
			img := fixture.Path(t, name)
			if p, out := oracle.XfsRepairProblems(t, img); len(p) > 0 {
				t.Fatalf("fixture not xfs_repair-clean: %v\n%s", p, out)
			}
			f := openImage(t, img)
			if n := f.Info().Note; n != "" {
				t.Errorf("Note %q on a clean fixture", n)
			}
			c := compareTree(t, f, kernelMountRO(t, img))
			t.Logf("%s: %d files, %d dirs, %d symlinks, %d xattrs, %d bytes compared", name, c.files, c.dirs, c.links, c.xattrs, c.bytes)
			if c.files < 5400 || c.dirs < 10 || c.links < 3 || c.xattrs < 40 {
				t.Errorf("compared too little: %+v", c)
			}
		})
	}
}
