package partition

import (
	"fmt"
	"io"

	"github.com/diskfs/go-diskfs/partition/mbr"
)

// mbrSectorSize is the only logical sector size an MBR is read with.
const mbrSectorSize = 512

func isExtended(t uint8) bool {
	return t == TypeExtendedCHS || t == TypeExtendedLBA || t == TypeExtendedLinux
}

// sectorAt names one 512-byte sector of a disk by its byte offset.
type sectorAt struct {
	r    io.ReaderAt
	size int64 // the disk's size
	off  int64 // the sector's byte offset
}

// readRecord reads the MBR or EBR in sector s with go-diskfs.
func readRecord(s sectorAt, what string, sentinel error) (*mbr.Table, error) {
	r, size, off := s.r, s.size, s.off
	if off < 0 || off > size-mbrSectorSize {
		return nil, formatErr(off, what, sentinel, "sector lies outside the disk of %d bytes", size)
	}
	t, err := mbr.Read(&diskFile{r: io.NewSectionReader(r, off, mbrSectorSize), size: mbrSectorSize}, mbrSectorSize, mbrSectorSize)
	if err != nil {
		return nil, formatErr(off, what, sentinel, "go-diskfs: %v", err)
	}
	return t, nil
}

// readMBR reads an MBR partition table: the four primary entries, then the
// logical partitions chained by EBRs inside the first extended partition,
// numbered from 5 as Linux numbers them.
func readMBR(r io.ReaderAt, size int64, signature uint32) (*Table, error) {
	t, err := readRecord(sectorAt{r: r, size: size, off: 0}, "MBR", ErrInvalidMBR)
	if err != nil {
		return nil, err
	}
	disk := fmt.Sprintf("%08x", signature)
	out := &Table{Kind: KindMBR, SectorSize: mbrSectorSize, DiskUUID: disk}
	diskSectors := uint64(size) / mbrSectorSize
	var ext *Partition
	for i, p := range t.Partitions {
		if p.Type == mbr.Empty || p.Size == 0 {
			continue
		}
		what := fmt.Sprintf("MBR partition %d", i+1)
		if uint64(p.Start)+uint64(p.Size) > diskSectors || p.Start == 0 {
			return nil, formatErr(446+int64(i)*MBREntrySize, what, ErrOutsideDisk,
				"sectors %d..%d, the disk has %d sectors", p.Start, uint64(p.Start)+uint64(p.Size)-1, diskSectors)
		}
		part := Partition{
			Number:   i + 1,
			Start:    int64(p.Start) * mbrSectorSize,
			Size:     int64(p.Size) * mbrSectorSize,
			Type:     fmt.Sprintf("%02x", uint8(p.Type)),
			UUID:     fmt.Sprintf("%s-%02x", disk, i+1),
			Extended: isExtended(uint8(p.Type)),
		}
		out.Partitions = append(out.Partitions, part)
		if part.Extended && ext == nil {
			ext = &Partition{Start: part.Start, Size: part.Size}
		}
	}
	if ext != nil {
		logical, err := readEBRChain(r, size, *ext, disk)
		if err != nil {
			return nil, err
		}
		out.Partitions = append(out.Partitions, logical...)
	}
	return out, nil
}

// readEBRChain walks the EBRs of the extended partition ext. Each EBR's
// data entries are relative to the EBR itself; its link entry (an
// extended type) is relative to the start of ext. Like Linux, every
// non-empty, non-extended entry of an EBR is a logical partition, and only
// the first link is followed. The chain must stay inside ext, may not
// revisit an EBR, and is bounded by MaxPartitions.
func readEBRChain(r io.ReaderAt, size int64, ext Partition, disk string) ([]Partition, error) {
	var out []Partition
	seen := make(map[int64]bool)
	ebr := ext.Start
	for hops := 0; ; hops++ {
		if hops >= MaxPartitions {
			return nil, formatErr(ebr, "EBR", ErrTooManyPartitions, "more than %d extended boot records", MaxPartitions)
		}
		if seen[ebr] {
			return nil, formatErr(ebr, "EBR", ErrEBRLoop, "EBR at byte %d is linked twice", ebr)
		}
		seen[ebr] = true
		t, err := readRecord(sectorAt{r: r, size: size, off: ebr}, "EBR", ErrInvalidEBR)
		if err != nil {
			return nil, err
		}
		next := int64(-1)
		for i, p := range t.Partitions {
			if p.Type == mbr.Empty || p.Size == 0 {
				continue
			}
			what := fmt.Sprintf("EBR entry %d", i+1)
			eoff := ebr + 446 + int64(i)*MBREntrySize
			if isExtended(uint8(p.Type)) {
				if next < 0 {
					next = ext.Start + int64(p.Start)*mbrSectorSize
					if next >= ext.End() {
						return nil, formatErr(eoff, what, ErrInvalidEBR, "link to sector %d lies outside the extended partition", p.Start)
					}
				}
				continue
			}
			start := ebr + int64(p.Start)*mbrSectorSize
			end := start + int64(p.Size)*mbrSectorSize
			if p.Start == 0 || end > ext.End() {
				return nil, formatErr(eoff, what, ErrOutsideDisk, "logical partition at bytes %d..%d lies outside the extended partition %d..%d",
					start, end, ext.Start, ext.End())
			}
			if len(out) >= MaxPartitions {
				return nil, formatErr(eoff, what, ErrTooManyPartitions, "more than %d logical partitions", MaxPartitions)
			}
			n := 5 + len(out)
			out = append(out, Partition{
				Number: n,
				Start:  start,
				Size:   int64(p.Size) * mbrSectorSize,
				Type:   fmt.Sprintf("%02x", uint8(p.Type)),
				UUID:   fmt.Sprintf("%s-%02x", disk, n),
			})
		}
		if next < 0 {
			return out, nil
		}
		ebr = next
	}
}
