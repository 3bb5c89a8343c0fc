package sysprep_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/image"
	"github.com/imgprep/imgprep/pkg/storage"
	"github.com/imgprep/imgprep/pkg/sysprep"
)

// Finding 7: TestProtectRunsUnderTheImageLock: the template check (Options.Protect)
// runs once the image is locked for writing, so no linked clone can be
// created between the check and the write; its error refuses the run
// and the image stays byte-identical (finding 7).
func TestProtectRunsUnderTheImageLock(t *testing.T) {
	p := loadPristine(t, "disk-gpt.qcow2")
	path := p.layDown(t, t.TempDir())
	errClone := errors.New("a linked clone appeared")
	calls := 0
	_, err := sysprep.Run(context.Background(), path, sysprep.Options{
		Operations: defaultOps(),
		Now:        faultClock,
		Protect: func(got string) error {
			calls++
			if got != path {
				t.Errorf("Protect(%s), want %s", got, path)
			}
			// What qemu-img create -b (or another imgprep) meets now.
			f, err := storage.OpenFile(got, storage.OpenOptions{Write: true})
			if err == nil {
				f.Close()
				t.Error("the image was not locked while Protect ran")
			} else if !errors.Is(err, storage.ErrInUse) {
				t.Errorf("opening the image during Protect: %v, want ErrInUse", err)
			}
			return errClone
		},
	})
	if !errors.Is(err, errClone) || calls != 1 {
		t.Fatalf("Run = %v after %d Protect calls, want the Protect error after 1", err, calls)
	}
	if !sameImage(t, path, p.data) {
		t.Fatal("the image was written although Protect refused")
	}
}

// TestRunProtectsTemplatesByDefault: sysprep.Run, called directly with
// zero-value protection options, refuses to write a qcow2 or raw image
// that a linked clone beside it (or in Options.CloneDirs) uses as its
// backing file: the error names the clone, and the template and clone
// stay byte-identical. With Options.Unprotected it writes the template.
func TestRunProtectsTemplatesByDefault(t *testing.T) {
	oracle.Require(t, "qemu-img")
	for _, tc := range []struct{ fixture, format string }{
		{"disk-gpt.qcow2", "qcow2"},
		{"disk-gpt.raw", "raw"},
	} {
		for _, elsewhere := range []bool{false, true} {
			name := tc.fixture
			if elsewhere {
				name += " clone in CloneDirs"
			}
			t.Run(name, func(t *testing.T) {
				p := loadPristine(t, tc.fixture)
				path := p.layDown(t, t.TempDir())
				cloneDir := filepath.Dir(path)
				var opts sysprep.Options
				if elsewhere {
					cloneDir = t.TempDir()
					opts.CloneDirs = []string{cloneDir}
				}
				cl := filepath.Join(cloneDir, "vm1.qcow2")
				if _, errOut, code := oracle.Run(t, "qemu-img", "create", "-q", "-f", "qcow2", "-F", tc.format, "-b", path, cl); code != 0 {
					t.Fatalf("qemu-img create -b: %s", errOut)
				}
				cloneBytes := readImage(t, cl)

				opts.Operations, opts.Now = defaultOps(), faultClock
				rep, err := sysprep.Run(context.Background(), path, opts)
				var te *image.TemplateError
				if !errors.Is(err, image.ErrTemplateInUse) || !errors.As(err, &te) {
					t.Fatalf("Run = %v, want a template error", err)
				}
				if !slices.Equal(te.Clones, []string{cl}) || !strings.Contains(err.Error(), cl) || !strings.HasPrefix(err.Error(), path+": ") {
					t.Errorf("error %q (clones %v) does not name the image and the clone %s", err, te.Clones, cl)
				}
				if strings.Contains(err.Error(), "\n") || rep == nil || rep.Committed || rep.Error != err.Error() {
					t.Errorf("error %q, report %+v: want one line, reported, nothing committed", err, rep)
				}
				if !sameImage(t, path, p.data) {
					t.Fatal("the template was written although a linked clone uses it")
				}
				if !sameImage(t, cl, cloneBytes) {
					t.Fatal("the linked clone changed")
				}

				opts.Unprotected = true
				rep, err = sysprep.Run(context.Background(), path, opts)
				if err != nil || !rep.Committed {
					t.Fatalf("Run with Unprotected = %v (committed %v), want the template written", err, rep != nil && rep.Committed)
				}
				if sameImage(t, path, p.data) {
					t.Fatal("Unprotected: the template was not written")
				}
			})
		}
	}
}
