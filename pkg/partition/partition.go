package partition

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Sentinel errors, wrapped with context and the byte offset of the bad
// structure (see FormatError); test them with errors.Is.
var (
	ErrInvalidGPT        = errors.New("partition: invalid GPT")
	ErrInvalidMBR        = errors.New("partition: invalid MBR")
	ErrInvalidEBR        = errors.New("partition: invalid extended boot record")
	ErrEBRLoop           = errors.New("partition: extended boot records form a loop")
	ErrTooManyPartitions = errors.New("partition: too many partitions")
	ErrOutsideDisk       = errors.New("partition: partition lies outside the disk")
	ErrOutsidePartition  = errors.New("partition: access outside the partition")
	ErrNegativeSize      = errors.New("partition: negative disk size")
)

// Bounds on what an image may claim.
const (
	// MaxPartitions bounds the GPT entry array and the number of logical
	// partitions in an MBR extended partition; Linux's DISK_MAX_PARTS is 256.
	MaxPartitions = 256
	// MaxGPTEntries bounds the GPT header's NumberOfPartitionEntries (the
	// entry array then takes at most 2 MiB). Tools write 128.
	MaxGPTEntries = 16384
)

// Table kinds.
const (
	KindGPT  = "gpt"
	KindMBR  = "mbr"
	KindNone = "none"
)

// FormatError reports a bad on-disk structure and where it is.
type FormatError struct {
	Offset int64  // byte offset of the structure on the disk
	What   string // the structure: "GPT header", "partition entry 3", "EBR"
	Err    error  // a sentinel, possibly wrapping a detail
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("%s at byte %d: %v", e.What, e.Offset, e.Err)
}

func (e *FormatError) Unwrap() error { return e.Err }

func formatErr(off int64, what string, sentinel error, format string, args ...any) error {
	return &FormatError{Offset: off, What: what, Err: fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)}
}

// Partition is one partition of a disk.
type Partition struct {
	// Number is the partition number as Linux names it (sda<Number>): the
	// GPT entry's 1-based slot, the MBR slot 1–4, or 5 and up for logical
	// partitions in the order of the EBR chain.
	Number int
	Start  int64 // byte offset on the disk
	Size   int64 // bytes
	// Type is the GPT partition type GUID in lower case, or the MBR type as
	// two lower-case hex digits ("83", "82", "05").
	Type string
	// Name is the GPT partition name; empty for MBR.
	Name string
	// UUID is the PARTUUID: the GPT unique partition GUID in lower case, or
	// for MBR the disk signature and partition number, "1234abcd-05", as
	// Linux and blkid report it.
	UUID string
	// Extended is true for an MBR extended partition: a container of
	// logical partitions, holding no filesystem of its own.
	Extended bool
}

// End returns the byte offset just past the partition.
func (p Partition) End() int64 { return p.Start + p.Size }

// Table is a disk's partition table.
type Table struct {
	Kind       string // KindGPT, KindMBR or KindNone
	SectorSize int    // logical sector size in bytes: 512 or 4096
	// DiskUUID is the GPT disk GUID in lower case, or the MBR disk
	// signature as 8 lower-case hex digits; empty for KindNone.
	DiskUUID string
	// Partitions in table order (by Number). Empty for KindNone: the whole
	// disk is then the caller's to probe.
	Partitions []Partition
	// FromBackup is true when the primary GPT was damaged and the backup
	// at the end of the disk was read instead.
	FromBackup bool
}

// Read reads the partition table of a disk of size bytes. It returns a
// Table of kind "none" when the disk carries no partition table, and a
// *FormatError wrapping one of the package's sentinels when it carries a
// damaged one.
func Read(r io.ReaderAt, size int64) (*Table, error) {
	if size < 0 {
		return nil, fmt.Errorf("%w: %d", ErrNegativeSize, size)
	}
	none := &Table{Kind: KindNone, SectorSize: 512}
	if size < MBRSize {
		return none, nil
	}
	sector := make([]byte, MBRSize)
	if err := readFull(r, sector, 0); err != nil {
		return nil, fmt.Errorf("partition: reading LBA 0: %w", err)
	}
	var mbr MBR
	if err := binary.Read(bytes.NewReader(sector), binary.LittleEndian, &mbr); err != nil {
		return nil, fmt.Errorf("partition: decoding LBA 0: %w", err)
	}
	if mbr.Signature != MBRSignature {
		return none, nil
	}
	used := 0
	for _, e := range mbr.PartitionRecord {
		if e.BootIndicator != 0 && e.BootIndicator != 0x80 {
			// A FAT or NTFS boot sector, not a partition table (Linux's
			// msdos.c and blkid reject it the same way).
			return none, nil
		}
		if e.OSType == TypeGPTProtective {
			return readGPT(r, size)
		}
		if e.OSType != 0 && e.SizeInLBA != 0 {
			used++
		}
	}
	if used == 0 && looksLikeVBR(sector) {
		return none, nil
	}
	return readMBR(r, size, mbr.UniqueMBRSignature)
}

// looksLikeVBR reports whether a sector with the 0x55AA signature and no
// partition entries is a filesystem's boot sector (FAT, exFAT, NTFS): an
// x86 jump and a power-of-two bytes-per-sector field.
func looksLikeVBR(b []byte) bool {
	if b[0] != 0xEB && b[0] != 0xE9 {
		return false
	}
	bps := binary.LittleEndian.Uint16(b[11:13])
	return bps >= 512 && bps <= 4096 && bps&(bps-1) == 0
}

// readFull reads exactly len(b) bytes at off; a short read is an error.
func readFull(r io.ReaderAt, b []byte, off int64) error {
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}
