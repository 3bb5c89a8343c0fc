package clone

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/image"
)

func TestHolesMapsARawFileAsSeekDataSeesIt(t *testing.T) {
	const blk = 64 << 10
	p := filepath.Join(t.TempDir(), "sparse.raw")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Data in blocks 1 and 4-5 of 8; the rest holes.
	f.Truncate(8 * blk)
	full := make([]byte, blk)
	for i := range full {
		full[i] = 0xaa
	}
	for _, b := range []int64{1, 4, 5} {
		f.WriteAt(full, b*blk)
	}
	f.Sync()
	tests := []struct {
		off, length int64
		want        string
	}{
		{0, 8 * blk, "0+1:z 1+1:d 2+2:z 4+2:d 6+2:z"},
		{blk, blk, "1+1:d"},
		{2 * blk, 2 * blk, "2+2:z"},
		{3 * blk, 2 * blk, "3+1:z 4+1:d"},
		{5 * blk, 3 * blk, "5+1:d 6+2:z"},
	}
	for _, tc := range tests {
		ext, err := holes(f, tc.off, tc.length)
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		for i, e := range ext {
			if i > 0 {
				got += " "
			}
			kind := "d"
			if e.Zero {
				kind = "z"
			}
			got += fmt.Sprintf("%d+%d:%s", e.Offset/blk, e.Length/blk, kind)
		}
		// A filesystem may report data at a coarser grain, never less.
		if got != tc.want && !coarser(ext, tc.want, tc.off, tc.length, blk) {
			t.Errorf("holes(%d, %d) = %s, want %s", tc.off/blk, tc.length/blk, got, tc.want)
		}
	}
}

// coarser accepts a map that covers the range exactly, in order, and
// reports as data at least every block want has as data (a filesystem
// may allocate at a coarser grain).
func coarser(ext []image.Extent, want string, off, length, blk int64) bool {
	pos := off
	for _, e := range ext {
		if e.Offset != pos || e.Length <= 0 {
			return false
		}
		pos += e.Length
	}
	if pos != off+length {
		return false
	}
	for _, w := range strings.Fields(want) {
		var b, n int64
		var kind string
		fmt.Sscanf(strings.ReplaceAll(strings.ReplaceAll(w, "+", " "), ":", " "), "%d %d %s", &b, &n, &kind)
		if kind != "d" {
			continue
		}
		for _, e := range ext {
			if e.Zero && e.Offset < (b+n)*blk && b*blk < e.Offset+e.Length {
				return false
			}
		}
	}
	return true
}

func TestFullCloneOfAnOverlayReadsItsWholeChain(t *testing.T) {
	oracle.Require(t, "qemu-img")
	tmpl := fixture.Path(t, "disk-none.qcow2")
	dir := filepath.Dir(tmpl)
	over := filepath.Join(dir, "over.qcow2")
	if _, err := Clone(context.Background(), tmpl, over, Options{Mode: Linked, Operations: prepOps()}); err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"qcow2", "raw"} {
		dest := filepath.Join(t.TempDir(), "full."+format)
		if _, err := Clone(context.Background(), over, dest, Options{Mode: Full, OutputFormat: format}); err != nil {
			t.Fatal(err)
		}
		oracle.QemuImgCompare(t, over, dest)
		if info := qemuInfo(t, dest); info["backing-filename"] != nil {
			t.Fatalf("a full clone has a backing file: %v", info["backing-filename"])
		}
	}
}

func TestFullCloneOfALargeSparseTemplate(t *testing.T) {
	oracle.Require(t, "qemu-img")
	for _, fx := range []string{"disk-gpt.qcow2", "disk-gpt.raw"} {
		t.Run(fx, func(t *testing.T) {
			tmpl := fixture.Path(t, fx)
			format := filepath.Ext(fx)[1:]
			if _, errOut, code := oracle.Run(t, "qemu-img", "resize", "-q", "-f", format, tmpl, "16G"); code != 0 {
				t.Fatal(errOut)
			}
			dest := filepath.Join(t.TempDir(), "full.qcow2")
			if _, err := Clone(context.Background(), tmpl, dest, Options{Mode: Full}); err != nil {
				t.Fatal(err)
			}
			oracle.QemuImgCompare(t, tmpl, dest)
			oracle.QemuImgCheck(t, dest, false)
		})
	}
}
