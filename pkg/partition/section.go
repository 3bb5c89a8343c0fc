package partition

import (
	"fmt"
	"io"
)

// ReaderWriterAt is random-access storage that can be read and written.
type ReaderWriterAt interface {
	io.ReaderAt
	io.WriterAt
}

// SectionRW is one partition of a disk as a disk of its own: offsets are
// relative to the partition's start, and no read or write ever reaches
// outside it.
type SectionRW struct {
	rw    ReaderWriterAt
	start int64
	size  int64
}

// Section returns the partition p of the disk rw. It reads and writes only
// inside [p.Start, p.Start+p.Size).
func Section(rw ReaderWriterAt, p Partition) *SectionRW {
	size := max(p.Size, 0)
	return &SectionRW{rw: rw, start: p.Start, size: size}
}

// Size returns the partition's size in bytes.
func (s *SectionRW) Size() int64 { return s.size }

// Offset returns the partition's byte offset on the disk.
func (s *SectionRW) Offset() int64 { return s.start }

// ReadAt reads as io.ReaderAt does: a read reaching past the partition's
// end returns the bytes before it and io.EOF.
func (s *SectionRW) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("%w: read at negative offset %d", ErrOutsidePartition, off)
	}
	if off >= s.size {
		return 0, io.EOF
	}
	short := false
	if rest := s.size - off; int64(len(p)) > rest {
		p, short = p[:rest], true
	}
	n, err := s.rw.ReadAt(p, s.start+off)
	if err == nil && short {
		err = io.EOF
	}
	if err == io.EOF && n == len(p) && !short {
		err = nil
	}
	return n, err
}

// WriteAt writes all of p at off, or, when p would reach past the
// partition's end, writes nothing and returns an error wrapping
// ErrOutsidePartition.
func (s *SectionRW) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off > s.size || int64(len(p)) > s.size-off {
		return 0, fmt.Errorf("%w: write of %d bytes at offset %d, the partition has %d bytes",
			ErrOutsidePartition, len(p), off, s.size)
	}
	return s.rw.WriteAt(p, s.start+off)
}
