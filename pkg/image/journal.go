package image

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/imgprep/imgprep/pkg/storage"
	"github.com/imgprep/imgprep/pkg/txn"
	"golang.org/x/sys/unix"
)

// DefaultDeviceJournalDir is where the journals of block devices live
// when no JournalDir is given: a persistent directory, since a journal
// on the device's own directory (/dev, devtmpfs) would vanish at the
// power loss it is there for.
const DefaultDeviceJournalDir = "/var/lib/imgprep"

// JournalSuffix ends the name of a regular file's journal, beside it
// (txn.JournalSuffix).
const JournalSuffix = txn.JournalSuffix

// ErrVolatileJournal means the journal would be on tmpfs or devtmpfs,
// where a power loss loses the only copy of the original bytes.
var ErrVolatileJournal = errors.New("image: journal directory is in memory (tmpfs or devtmpfs)")

// JournalOptions says where the rollback journal of an image lives.
type JournalOptions struct {
	// Dir holds the journals (named after the image's identity) instead
	// of the image's directory. Empty: beside a regular file, and in
	// DefaultDeviceJournalDir for a block device.
	Dir string
	// Volatile allows Dir to be on tmpfs or devtmpfs.
	Volatile bool
	// Path is the journal's path. Open works it out from Dir and the
	// image; OpenFile needs it to open for writing or a dry run.
	Path string
}

// Statfs magic numbers of the in-memory filesystems (linux/magic.h).
const (
	tmpfsMagic = 0x01021994 // tmpfs and devtmpfs
	ramfsMagic = 0x858458f6
)

// journalPath returns where the journal of the image at path, opened as
// f, lives. A regular file's journal is beside the real file (symlinks
// resolved, so that every name of the image shares one journal); a block
// device's, or any image's when o.Dir is given, is in that directory,
// named after the device's identity. create makes the directory (mode
// 0700) when missing.
func journalPath(path string, f *storage.OSFile, o JournalOptions, create bool) (string, error) {
	dir := o.Dir
	block := f.IsBlockDevice()
	if dir == "" && !block {
		real, err := filepath.EvalSymlinks(path)
		if err != nil {
			return "", fmt.Errorf("resolving the image's real path for its journal: %w", err)
		}
		return txn.JournalPathFor(real), nil
	}
	if dir == "" {
		dir = DefaultDeviceJournalDir
	}
	id, err := f.Identity()
	if err != nil {
		return "", err
	}
	if create {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", fmt.Errorf("journal directory: %w", err)
		}
	}
	if !create {
		// Only looking for a journal: where it would be is enough.
		return filepath.Join(dir, journalKey(path, id)), nil
	}
	var sfs unix.Statfs_t
	if err := unix.Statfs(dir, &sfs); err != nil {
		return "", fmt.Errorf("journal directory %s: %w", dir, err)
	}
	if !o.Volatile && (uint32(sfs.Type) == tmpfsMagic || uint32(sfs.Type) == ramfsMagic) {
		return "", fmt.Errorf("%w: %s would lose the journal at a power loss; choose a persistent --journal-dir (or allow a volatile one)", ErrVolatileJournal, dir)
	}
	return filepath.Join(dir, journalKey(path, id)), nil
}

// journalKey names a journal in a journal directory after the image's
// identity: a block device by its /dev/disk/by-id name when it has one
// (stable across reboots and renumbering), else by major:minor, with its
// size; a regular file by device and inode.
func journalKey(path string, id storage.Identity) string {
	dev := strconv.FormatUint(uint64(unix.Major(id.Dev)), 10) + "-" + strconv.FormatUint(uint64(unix.Minor(id.Dev)), 10)
	if !id.Block {
		return "file-" + dev + "-" + strconv.FormatUint(id.Ino, 10) + txn.JournalSuffix
	}
	size := strconv.FormatUint(id.Ino, 10)
	if name := byID(path); name != "" {
		return "by-id-" + name + "-" + size + txn.JournalSuffix
	}
	return "dev-" + dev + "-" + size + txn.JournalSuffix
}

// byID returns the first (sorted) /dev/disk/by-id name of the device at
// path, reading links only.
func byID(path string) string {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return ""
	}
	const dir = "/dev/disk/by-id"
	entries, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	var names []string
	for _, e := range entries {
		if e.Type()&os.ModeSymlink == 0 {
			continue
		}
		t, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		if !filepath.IsAbs(t) {
			t = filepath.Join(dir, t)
		}
		if filepath.Clean(t) == real && !strings.ContainsAny(e.Name(), "/") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return ""
	}
	return names[0]
}

// RecoverOptions says how Recover finds the journal.
type RecoverOptions struct {
	Journal JournalOptions
}

// Recover rolls back the journal an interrupted imgprep run left for the
// image at path, taking the image's write locks for it (an image in use
// is refused). It reports whether anything was rolled back; no journal is
// not an error.
func Recover(path string, opts RecoverOptions) (rolledBack bool, err error) {
	f, err := storage.OpenFile(path, storage.OpenOptions{Write: true, Name: path})
	if err != nil {
		return false, err
	}
	defer f.Close()
	jp, err := journalPath(path, f, opts.Journal, false)
	if err != nil {
		return false, &Error{Image: path, Err: err}
	}
	id, err := f.Identity()
	if err != nil {
		return false, err
	}
	return txn.Recover(f, txn.Options{JournalPath: jp, Identity: id, ImageName: path})
}
