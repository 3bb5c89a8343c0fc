package image

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/pkg/storage"
	"github.com/imgprep/imgprep/pkg/txn"
)

// TestOpenErrorsNameTheImageOnce: every failure of Open is an *Error that
// names the image first, and once; the package prefixes of the layers
// below do not show.
func TestOpenErrorsNameTheImageOnce(t *testing.T) {
	dir := t.TempDir()
	img := func(name string) string { return filepath.Join(dir, name) }
	if err := os.WriteFile(img("junk.qcow2"), append([]byte("QFI\xfb\xff\xff\xff\xff"), make([]byte, 1016)...), 0o644); err != nil {
		t.Fatal(err)
	}
	patternFile(t, img("journal.raw"), 1<<20, "j")
	if err := os.WriteFile(txn.JournalPathFor(img("journal.raw")), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	patternFile(t, img("busy.raw"), 1<<20, "b")
	w, err := storage.OpenFile(img("busy.raw"), storage.OpenOptions{Write: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	outside := filepath.Join(t.TempDir(), "base.raw")
	patternFile(t, outside, 1<<20, "o")
	qemuImg(t, "create", "-f", "qcow2", "-b", outside, "-F", "raw", img("clone.qcow2"))
	cases := []struct {
		name, path string
		opts       OpenOptions
		want       string
		is         error
	}{
		{"missing", img("nope.qcow2"), OpenOptions{}, img("nope.qcow2") + ": no such file or directory", os.ErrNotExist},
		{"bad qcow2 header", img("junk.qcow2"), OpenOptions{}, img("junk.qcow2") + ": qcow2: ", nil},
		{"journal left", img("journal.raw"), OpenOptions{}, img("journal.raw") + ": an interrupted imgprep run left a journal (journal.raw-imgprep-journal): roll it back first", ErrJournalLeft},
		{"in use", img("busy.raw"), OpenOptions{Write: true}, img("busy.raw") + ": refusing to write: in use by another process (QEMU holds its write lock", storage.ErrInUse},
		{"backing outside the trees", img("clone.qcow2"), OpenOptions{}, img("clone.qcow2") + `: backing file "` + outside + `": outside the directory trees allowed for backing files (`, ErrBackingOutsideTree},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, err := Open(c.path, c.opts)
			if err == nil {
				h.Close()
				t.Fatal("Open succeeded")
			}
			var ie *Error
			if !errors.As(err, &ie) || ie.Image != c.path {
				t.Fatalf("error %v (%T) is not an *Error naming %s", err, err, c.path)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, c.want) {
				t.Errorf("error %q, want it to start %q", msg, c.want)
			}
			if n := strings.Count(msg, filepath.Base(c.path)); n != 1 && c.name != "journal left" {
				t.Errorf("error %q names %s %d times", msg, filepath.Base(c.path), n)
			}
			if strings.Count(msg, outside) > 1 || strings.Contains(msg, "storage:") || strings.Contains(msg, ": image:") {
				t.Errorf("error %q repeats the backing file or shows a package prefix", msg)
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("error %v does not match %v", err, c.is)
			}
		})
	}
}
