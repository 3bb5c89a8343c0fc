package xfs

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/fs/conformance"
)

// TestConformance runs the engine conformance suite's read scenarios on
// an xfs image that mkfs.xfs -p builds from the suite's tree (the
// protofile lists the staged files); the whole tree must match the
// reference memfs. The write scenarios need creation and other directory
// formats this engine does not write yet.
func TestConformance(t *testing.T) {
	conformance.Run(t, conformance.Options{
		ReadOnly: true,
		New: func(t *testing.T, entries []conformance.Entry) fs.WriteTree {
			src := conformance.Stage(t, entries)
			proto := filepath.Join(t.TempDir(), "proto")
			if err := os.WriteFile(proto, []byte(protofile(entries, src)), 0o600); err != nil {
				t.Fatal(err)
			}
			img := filepath.Join(t.TempDir(), "c.img")
			must(t, os.WriteFile(img, nil, 0o600))
			must(t, os.Truncate(img, 32<<20))
			cmd := exec.Command(oracle.Require(t, "mkfs.xfs"), "-q", "-f", "-p", proto, img)
			cmd.Env = append(os.Environ(), "QA_CHECK_FS=1", "TEST_DIR=/tmp", "TEST_DEV=/dev/null")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("mkfs.xfs -p: %v: %s", err, out)
			}
			return openImage(t, img)
		},
	})
}

// protofile writes mkfs.xfs's protofile for entries staged below src:
// each directory lists its children in order, owned by root.
func protofile(entries []conformance.Entry, src string) string {
	children := map[string][]conformance.Entry{}
	for _, e := range entries {
		dir := path.Dir(e.Path)
		children[dir] = append(children[dir], e)
	}
	var b strings.Builder
	b.WriteString("/dev/null\n0 0\nd--755 0 0\n")
	var list func(dir string)
	list = func(dir string) {
		for _, e := range children[dir] {
			name := path.Base(e.Path)
			switch e.Type {
			case fs.TypeDir:
				fmt.Fprintf(&b, "%s d--%03o 0 0\n", name, e.Perm&0o777)
				list(e.Path)
				b.WriteString("$\n")
			case fs.TypeRegular:
				fmt.Fprintf(&b, "%s ---%03o 0 0 %s\n", name, e.Perm&0o777, filepath.Join(src, filepath.FromSlash(e.Path)))
			case fs.TypeSymlink:
				fmt.Fprintf(&b, "%s l--777 0 0 %s\n", name, e.Target)
			}
		}
	}
	list("/")
	b.WriteString("$\n")
	return b.String()
}
