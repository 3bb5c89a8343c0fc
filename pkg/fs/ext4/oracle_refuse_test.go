package ext4_test

import (
	"errors"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imgprep/imgprep/internal/ext4test"
	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/fs/ext4"
)

// countingFile counts WriteAt calls on its way to the host file.
type countingFile struct {
	f      *os.File
	writes atomic.Int64
}

func (c *countingFile) ReadAt(p []byte, off int64) (int, error) { return c.f.ReadAt(p, off) }
func (c *countingFile) WriteAt(p []byte, off int64) (int, error) {
	c.writes.Add(1)
	return c.f.WriteAt(p, off)
}

// TestRefusesUnsafeFilesystems: OpenWritable refuses a filesystem the
// kernel itself would have to repair or could not understand, with the
// documented sentinel, a message naming the filesystem and the reason,
// and not one byte written; reading still works where it is safe.
func TestRefusesUnsafeFilesystems(t *testing.T) {
	cases := []struct {
		image string
		// rule is the spec's reason, in its words.
		rule     string
		want     error
		readable bool
	}{
		{"ext4-unknown-feature.img", "an unknown RO_COMPAT feature: the filesystem may be read but not written",
			ext4.ErrUnknownFeature, true},
		{"ext4-unknown-incompat.img", "an unknown INCOMPAT feature: the filesystem must not even be read",
			ext4.ErrUnknownFeature, false},
		{"ext4-orphans.img", "s_last_orphan: inodes left on the orphan list",
			ext4.ErrOrphansPresent, true},
		{"ext4-orphan-file.img", "orphan_file with orphan_present: an inode waiting in the orphan file",
			ext4.ErrOrphansPresent, true},
		{"ext4-bigalloc.img", "bigalloc: a known feature whose cluster accounting this engine does not maintain",
			ext4.ErrUnsupportedFeature, true},
		{"ext4-error-state.img", "s_state has EXT2_ERROR_FS: errors detected, e2fsck must run first",
			ext4.ErrErrorState, true},
	}
	for _, c := range cases {
		t.Run(c.image+"/"+c.rule, func(t *testing.T) {
			img := fixture.Path(t, c.image)
			sum := fileSHA(t, img)
			f, err := os.OpenFile(img, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			st, _ := f.Stat()
			cf := &countingFile{f: f}
			fsys, err := ext4.OpenWritable(cf, st.Size(), ext4.Options{Name: "refusal fixture", Now: func() time.Time { return now }})
			switch {
			case err == nil:
				t.Errorf("OpenWritable succeeded, want an error wrapping %v", c.want)
				// Whatever it does with the filesystem, it must not have
				// written yet.
				_ = fsys
			case !errors.Is(err, c.want):
				t.Errorf("OpenWritable: %v, want an error wrapping %v", err, c.want)
			case !strings.Contains(err.Error(), "refusal fixture"):
				t.Errorf("OpenWritable: %q does not name the filesystem (Options.Name)", err)
			}
			f.Close()
			if n := cf.writes.Load(); n != 0 {
				t.Errorf("OpenWritable wrote %d times to a filesystem it must refuse", n)
			}
			if got := fileSHA(t, img); got != sum {
				t.Errorf("the image changed: sha256 %s, was %s", got, sum)
			}

			// Reading.
			r, err := os.Open(img)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			ro, err := ext4.Open(r, st.Size())
			if !c.readable {
				if !errors.Is(err, c.want) {
					t.Errorf("Open: %v, want an error wrapping %v", err, c.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open (read-only) of a filesystem safe to read: %v", err)
			}
			if inf := ro.Info(); inf.Writable {
				t.Errorf("Info().Writable = true on a read-only open")
			}
			b, err := ro.ReadFile("/etc/machine-id")
			if err != nil || string(b) != "0123456789abcdef0123456789abcdef\n" {
				t.Errorf("ReadFile(/etc/machine-id) = %q, %v", b, err)
			}
			if err := ro.Remove("/etc/machine-id"); !errors.Is(err, fs.ErrReadOnly) {
				t.Errorf("Remove on a read-only FS: %v, want fs.ErrReadOnly", err)
			}
			if got := fileSHA(t, img); got != sum {
				t.Errorf("reading changed the image: sha256 %s, was %s", got, sum)
			}
		})
	}
}

// TestRefusedImagesReadLikeDebugfs: where reading is safe, the refused
// images read as debugfs reads them.
func TestRefusedImagesReadLikeDebugfs(t *testing.T) {
	for _, name := range []string{"ext4-orphans.img", "ext4-orphan-file.img", "ext4-error-state.img"} {
		t.Run(name, func(t *testing.T) {
			img := fixture.Path(t, name)
			ext4test.Parity(t, ext4test.SnapshotFS(t, openRead(t, img)), ext4test.Snapshot(t, img))
		})
	}
}
