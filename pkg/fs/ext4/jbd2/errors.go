package jbd2

import (
	"errors"
	"fmt"
)

// Sentinel errors; test them with errors.Is.
var (
	// ErrNotJournal: the first block has no journal superblock magic.
	ErrNotJournal = errors.New("jbd2: not a journal")
	// ErrCorrupt is wrapped by every *FormatError.
	ErrCorrupt = errors.New("jbd2: corrupt journal")
	// ErrChecksum is wrapped (with ErrCorrupt) by a checksum mismatch.
	ErrChecksum = errors.New("jbd2: journal checksum mismatch")
	// ErrUnsupported: a journal feature this package does not replay,
	// named in the error (fast_commit, unknown feature bits, a journal
	// shared by several filesystems).
	ErrUnsupported = errors.New("jbd2: unsupported journal")
)

// FormatError reports a journal structure that breaks the format's rules.
type FormatError struct {
	// Block is the journal block holding the structure (0 is the journal
	// superblock).
	Block uint32
	// Structure names it: "journal superblock", "descriptor block".
	Structure string
	// Reason says what is wrong.
	Reason string
	// Checksum is true for a checksum mismatch.
	Checksum bool
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("jbd2: corrupt %s at journal block %d: %s", e.Structure, e.Block, e.Reason)
}

// Unwrap returns ErrCorrupt, plus ErrChecksum for a checksum mismatch.
func (e *FormatError) Unwrap() []error {
	if e.Checksum {
		return []error{ErrCorrupt, ErrChecksum}
	}
	return []error{ErrCorrupt}
}

func corrupt(blk uint32, structure, format string, args ...any) error {
	return &FormatError{Block: blk, Structure: structure, Reason: fmt.Sprintf(format, args...)}
}

func badChecksum(blk uint32, structure, format string, args ...any) error {
	return &FormatError{Block: blk, Structure: structure, Reason: fmt.Sprintf(format, args...), Checksum: true}
}

// UnsupportedError names a journal feature this package does not
// replay. It unwraps to ErrUnsupported.
type UnsupportedError struct {
	// What: "fast commits (fast_commit)", "a journal shared by 2
	// filesystems", "unknown incompatible feature 0x40".
	What string
}

func (e *UnsupportedError) Error() string { return "jbd2: unsupported journal: " + e.What }

// Unwrap returns ErrUnsupported.
func (e *UnsupportedError) Unwrap() error { return ErrUnsupported }

func unsupported(format string, args ...any) error {
	return &UnsupportedError{What: fmt.Sprintf(format, args...)}
}
