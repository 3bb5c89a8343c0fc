package btrfs

import (
	"errors"
	"fmt"
)

// Sentinel errors. Errors returned by this package wrap them with %w and
// context; test them with errors.Is.
var (
	// ErrNotBtrfs is returned by Open when no superblock has the magic.
	ErrNotBtrfs = errors.New("btrfs: not a btrfs filesystem")
	// ErrCorrupt is wrapped by every *FormatError.
	ErrCorrupt = errors.New("btrfs: corrupt filesystem")
	// ErrChecksum is wrapped (with ErrCorrupt) when a checksum does not
	// match.
	ErrChecksum = errors.New("btrfs: checksum mismatch")
	// ErrUnsupported: the filesystem uses something this package does
	// not read (an unknown incompat flag, a checksum algorithm, a RAID
	// profile spanning devices); the error names it.
	ErrUnsupported = errors.New("btrfs: unsupported feature")
	// ErrNoSubvolume: the subvolume named by Options does not exist.
	ErrNoSubvolume = errors.New("btrfs: no such subvolume")
	// ErrReadOnly: imgprep cannot write btrfs.
	ErrReadOnly = errors.New("btrfs: imgprep cannot write btrfs yet")
)

// FormatError reports a structure on disk that breaks the format's rules.
// It unwraps to ErrCorrupt, and also to ErrChecksum for a checksum
// mismatch.
type FormatError struct {
	// Structure names it: "superblock", "tree block", "chunk item",
	// "inode 257 of subvolume 256", "zstd extent".
	Structure string
	// Logical is its btrfs logical address, -1 when it has none.
	Logical int64
	// Physical is its byte offset from the start of the device, -1 when
	// unknown.
	Physical int64
	// Reason says what is wrong.
	Reason string
	// Checksum is true for a checksum mismatch.
	Checksum bool
}

func (e *FormatError) Error() string {
	s := "btrfs: corrupt " + e.Structure
	if e.Logical >= 0 {
		s += fmt.Sprintf(" at logical %d", e.Logical)
	}
	if e.Physical >= 0 {
		s += fmt.Sprintf(" (byte %d)", e.Physical)
	}
	return s + ": " + e.Reason
}

// Unwrap returns ErrCorrupt, and ErrChecksum for a checksum mismatch.
func (e *FormatError) Unwrap() []error {
	if e.Checksum {
		return []error{ErrCorrupt, ErrChecksum}
	}
	return []error{ErrCorrupt}
}

// corrupt builds a *FormatError.
func corrupt(structure string, logical, physical int64, format string, args ...any) error {
	return &FormatError{Structure: structure, Logical: logical, Physical: physical, Reason: fmt.Sprintf(format, args...)}
}
