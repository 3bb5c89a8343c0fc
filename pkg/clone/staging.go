package clone

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/imgprep/imgprep/pkg/image"
	"github.com/imgprep/imgprep/pkg/storage"
	"golang.org/x/sys/unix"
)

// A clone is built under a temporary name in its destination directory
// and renamed into place only once it is prepared, so that a clone killed
// after its copy never leaves a complete, unprepared machine (the
// template's machine-id and SSH keys) under its final name.
const stagingMark = ".imgprep-"

// stagingPrefix is how the temporary names of dest's clones begin:
// ".NAME.imgprep-".
func stagingPrefix(dest string) string {
	return "." + filepath.Base(dest) + stagingMark
}

// createStaging creates, exclusively and locked, a new temporary file
// for dest in dest's directory and returns it with its path.
func createStaging(dest string) (*storage.OSFile, string, error) {
	for range 8 {
		var r [6]byte
		if _, err := rand.Read(r[:]); err != nil {
			return nil, "", err
		}
		p := filepath.Join(filepath.Dir(dest), stagingPrefix(dest)+hex.EncodeToString(r[:]))
		f, err := storage.CreateFile(p)
		if errors.Is(err, iofs.ErrExist) {
			continue
		}
		return f, p, err
	}
	return nil, "", fmt.Errorf("%s: no free temporary name", dest)
}

// removeStaging removes a temporary clone and a journal beside it.
func removeStaging(tmp string) {
	os.Remove(tmp)
	os.Remove(tmp + image.JournalSuffix)
}

// cleanStale removes the temporary files a killed clone of dest left:
// regular files named with dest's staging prefix that no process has
// locked (an image being built or prepared is locked by its builder),
// and the journals of temporary files that are gone. Nothing else in the
// directory is looked at beyond its name and lstat type.
func cleanStale(dest string) error {
	dir, prefix := filepath.Dir(dest), stagingPrefix(dest)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, prefix) || !e.Type().IsRegular() {
			continue
		}
		p := filepath.Join(dir, name)
		if tmp, ok := strings.CutSuffix(p, image.JournalSuffix); ok {
			if _, err := os.Lstat(tmp); errors.Is(err, iofs.ErrNotExist) {
				os.Remove(p) // the journal of a temporary clone already gone
			}
			continue
		}
		fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		unix.Close(fd)
		if l, err := storage.Probe(p); err != nil || l.Any() {
			continue // being built or prepared by a live process
		}
		removeStaging(p)
	}
	return nil
}

// publish renames the prepared temporary clone to dest, failing with
// ErrDestExists rather than replacing a file created there meanwhile, and
// makes the rename durable.
func publish(tmp, dest string) error {
	err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, dest, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		// A filesystem without RENAME_NOREPLACE: link then unlink, which
		// refuses an existing dest as well.
		if err = os.Link(tmp, dest); err == nil {
			err = os.Remove(tmp)
		}
	}
	if errors.Is(err, unix.EEXIST) || errors.Is(err, iofs.ErrExist) {
		return fmt.Errorf("%s: %w", dest, ErrDestExists)
	}
	if err != nil {
		return fmt.Errorf("%s: renaming the prepared clone into place: %w", dest, err)
	}
	d, err := os.Open(filepath.Dir(dest))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
