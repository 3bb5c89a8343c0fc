package btrfs_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/fs/btrfs"
	"github.com/imgprep/imgprep/pkg/fs/conformance"
)

// TestConformance runs the engine conformance suite's read scenarios on
// an image made by mkfs.btrfs --rootdir from the suite's tree (judged
// clean by btrfs check --readonly). The engine does not write, so the
// write scenarios do not run.
func TestConformance(t *testing.T) {
	conformance.Run(t, conformance.Options{
		ReadOnly: true,
		New: func(t *testing.T, entries []conformance.Entry) fs.WriteTree {
			dir := conformance.Stage(t, entries)
			img := filepath.Join(t.TempDir(), "conformance.img")
			if err := os.WriteFile(img, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(img, 128<<20); err != nil {
				t.Fatal(err)
			}
			if out, _, code := oracle.Run(t, "mkfs.btrfs", "-q", "-f", "--rootdir", dir, img); code != 0 {
				t.Fatalf("mkfs.btrfs: %s", out)
			}
			out, errOut, code := oracle.Run(t, "btrfs", "check", "--readonly", img)
			if code != 0 || !strings.Contains(out+errOut, "no error found") {
				t.Fatalf("btrfs check --readonly: exit %d: %s%s", code, out, errOut)
			}
			return openImage(t, img, btrfs.Options{})
		},
	})
}
