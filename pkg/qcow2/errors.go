package qcow2

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error this package returns wraps one of them (or
// an I/O error of the underlying file), so callers test with errors.Is.
var (
	ErrNotQcow2 = errors.New("qcow2: not a qcow2 image")
	// ErrCorrupt is wrapped by every *FormatError: a structure of the
	// image breaks the specification.
	ErrCorrupt = errors.New("qcow2: corrupt image")
	// ErrCorruptBit: the header's corrupt bit (incompatible bit 1) is set;
	// QEMU marked the image corrupt and it must not be written.
	ErrCorruptBit = errors.New("qcow2: image is marked corrupt (incompatible feature bit 1)")
	// ErrDirty: the dirty bit (incompatible bit 0) is set, refcounts may be
	// stale; writing would need a refcount rebuild.
	ErrDirty = errors.New("qcow2: image is dirty, refcounts need a rebuild (incompatible feature bit 0)")
	// ErrUnknownFeature: an incompatible feature bit this package does not
	// implement is set.
	ErrUnknownFeature = errors.New("qcow2: unknown incompatible feature")
	// ErrExternalData: the image keeps its data in an external data file.
	ErrExternalData = errors.New("qcow2: external data file is not supported")
	// ErrEncrypted: the image is encrypted (crypt_method != 0).
	ErrEncrypted = errors.New("qcow2: encrypted images are not supported")
	// ErrBitmaps: the image has persistent dirty bitmaps, which a write
	// would invalidate.
	ErrBitmaps = errors.New("qcow2: image has persistent bitmaps, refusing to write")
	// ErrReadOnly: a write to an image opened read-only.
	ErrReadOnly = errors.New("qcow2: image is read-only")
	// ErrNoBacking: the image names a backing file but no Options.Backing
	// resolver was given.
	ErrNoBacking = errors.New("qcow2: image has a backing file and no resolver was given")
	// ErrBackingLoop: the backing chain refers to itself or is too deep.
	ErrBackingLoop = errors.New("qcow2: backing chain loops or is too deep")
	// ErrTooLarge: a size or table is beyond what this package accepts.
	ErrTooLarge = errors.New("qcow2: too large")
	// ErrOutOfRange: a read or write beyond the virtual size.
	ErrOutOfRange = errors.New("qcow2: access beyond the virtual disk size")
	// ErrClosed: use of a closed image.
	ErrClosed = errors.New("qcow2: image is closed")
	// ErrInvalidOptions: Create or Open was given unusable options.
	ErrInvalidOptions = errors.New("qcow2: invalid options")
)

// FormatError describes a structure of the image that breaks the
// specification: where it is (the host byte offset), what it is and why it
// is wrong. It wraps ErrCorrupt.
type FormatError struct {
	Offset    int64  // host file offset of the bad structure
	Structure string // e.g. "header", "L1 table", "L2 entry 17"
	Reason    string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("qcow2: corrupt image: %s at offset %#x: %s", e.Structure, e.Offset, e.Reason)
}

// Unwrap makes errors.Is(err, ErrCorrupt) true.
func (e *FormatError) Unwrap() error { return ErrCorrupt }

func corrupt(off int64, structure, format string, args ...any) error {
	return &FormatError{Offset: off, Structure: structure, Reason: fmt.Sprintf(format, args...)}
}
