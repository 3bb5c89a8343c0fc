package sysprep_test

import (
	"context"
	"errors"
	"testing"

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
