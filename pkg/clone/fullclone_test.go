package clone

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
)

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
