package sysprep_test

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/killtest"
	"github.com/imgprep/imgprep/pkg/fs/ext4"
	"github.com/imgprep/imgprep/pkg/sysprep"
)

// TestHostileImagesFailTheRunAndStayByteIdentical: each hostile fixture
// of gen.d/hostile.sh opened for writing through the whole stack (a
// default sysprep: image, txn, guest, ext4, operations) ends with an
// error naming the image and the damage, within a time bound, and the
// image is byte-identical afterwards with no journal beside it.
func TestHostileImagesFailTheRunAndStayByteIdentical(t *testing.T) {
	for _, tc := range []struct {
		fixture string
		wantErr error  // errors.Is
		words   string // in the message
	}{
		{"hostile-extent-loop.img", ext4.ErrCorrupt, "already in the tree"},
		{"hostile-dir-cycle.img", ext4.ErrCorrupt, "directory cycle"},
		{"hostile-indirect-loop.img", ext4.ErrCorrupt, "referenced twice"},
		// A refused superblock hides the guest: no OS found, and why.
		{"hostile-sb-inodes.img", sysprep.ErrNoOS, "corrupt superblock"},
		{"hostile-sb-groups.img", sysprep.ErrNoOS, "corrupt superblock"},
		{"hostile-dir-reclen0.img", ext4.ErrCorrupt, "rec_len 0"},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			path := fixture.Path(t, tc.fixture)
			orig, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { _, err := runWith(path, nil); done <- err }()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("sysprep of a hostile image did not end within 30 s")
			}
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.words) || !strings.Contains(err.Error(), path) {
				t.Fatalf("sysprep: %v\nwant %v, naming the image and saying %q", err, tc.wantErr, tc.words)
			}
			if !killtest.SameFile(t, path, orig) || journalLeft(t, path) {
				t.Fatal("a failed sysprep of a hostile image changed it, or left a journal")
			}
		})
	}
}
