package xfs

import (
	"errors"
	"fmt"

	"github.com/imgprep/imgprep/pkg/fs"
)

// Sentinel errors. Errors returned by this package wrap them with %w and
// context; test them with errors.Is.
var (
	// ErrNotXFS is returned by Open when the superblock magic is wrong.
	ErrNotXFS = errors.New("xfs: not an xfs filesystem")
	// ErrCorrupt is wrapped by every *CorruptError.
	ErrCorrupt = errors.New("xfs: corrupt filesystem")
	// ErrChecksum is wrapped (with ErrCorrupt) when a metadata CRC does
	// not match.
	ErrChecksum = errors.New("xfs: checksum mismatch")
	// ErrUnsupported: a format or feature this package does not read (V4
	// filesystems, real-time files, unknown incompat features); the error
	// names it.
	ErrUnsupported = errors.New("xfs: unsupported")
	// ErrDirtyLog: the log holds changes not yet written in place (head
	// != tail). Reads warn; writes are refused.
	ErrDirtyLog = errors.New("xfs: dirty log")
	// ErrReadOnly: this package does not write xfs yet. Every
	// *RefusalError also satisfies errors.Is(err, fs.ErrReadOnly).
	ErrReadOnly = errors.New("xfs: filesystem opened read-only")
)

// CorruptError reports a structure on disk that breaks the format's rules,
// with where it is: the allocation group and the block in it (filesystem
// block numbers), and the byte offset from the start of the filesystem.
// It unwraps to ErrCorrupt (and to ErrChecksum for a CRC mismatch).
type CorruptError struct {
	AG    uint32 // allocation group
	Block uint64 // block number inside the AG
	// Offset is the byte offset of the structure, -1 if unknown.
	Offset int64
	// Structure names it: "superblock", "AGF", "inode 131", "bmbt block",
	// "directory data block".
	Structure string
	Reason    string
	Checksum  bool
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("xfs: corrupt %s (AG %d block %d, byte %d): %s", e.Structure, e.AG, e.Block, e.Offset, e.Reason)
}

// Unwrap returns ErrCorrupt, plus ErrChecksum for a CRC mismatch.
func (e *CorruptError) Unwrap() []error {
	if e.Checksum {
		return []error{ErrCorrupt, ErrChecksum}
	}
	return []error{ErrCorrupt}
}

// RefusalError is the refusal to write: "xfs on partition 2: imgprep
// cannot write xfs yet", or the dirty log's advice. It unwraps to its
// Reason and to ErrReadOnly.
type RefusalError struct {
	Name string // the filesystem as the caller named it
	Why  string
	Err  error
}

func (e *RefusalError) Error() string {
	name := e.Name
	if name == "" {
		name = "xfs"
	}
	return name + e.Why
}

// Unwrap returns the reason, ErrReadOnly and fs.ErrReadOnly.
func (e *RefusalError) Unwrap() []error { return []error{e.Err, ErrReadOnly, fs.ErrReadOnly} }
