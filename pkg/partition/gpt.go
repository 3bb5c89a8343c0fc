package partition

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"

	"github.com/diskfs/go-diskfs/partition/gpt"
)

// sectorSizes are the logical sector sizes a GPT is looked for with, in
// order.
var sectorSizes = [...]int{512, 4096}

// readGPT reads the GPT of a disk whose MBR has a 0xEE entry: the primary
// header at LBA 1 (512-byte sectors, then 4096), else the backup header in
// the last LBA.
func readGPT(r io.ReaderAt, size int64) (*Table, error) {
	var primaryErr error
	for _, ss := range sectorSizes {
		if size < 2*int64(ss) {
			continue
		}
		_, err := checkGPT(r, size, ss, 1)
		if err == nil {
			return gptViaDiskfs(r, size, ss, false)
		}
		if primaryErr == nil && !errors.Is(err, errNoSignature) {
			primaryErr = err
		}
	}
	for _, ss := range sectorSizes {
		if size < 2*int64(ss) {
			continue
		}
		last := uint64(size/int64(ss)) - 1
		if _, err := checkGPT(r, size, ss, last); err == nil {
			return gptViaDiskfs(r, size, ss, true)
		}
	}
	if primaryErr != nil {
		return nil, fmt.Errorf("%w (and no valid backup GPT at the end of the disk)", primaryErr)
	}
	return nil, formatErr(512, "GPT header", ErrInvalidGPT,
		"the MBR has a GPT protective entry, but no %q header is at LBA 1 (512 or 4096-byte sectors) nor at the end of the disk", GPTSignature)
}

// errNoSignature marks a header sector without "EFI PART", so that a
// missing header at one sector size does not hide a damaged one at the
// other.
var errNoSignature = fmt.Errorf("%w: no %q signature", ErrInvalidGPT, GPTSignature)

// checkGPT validates the GPT header in sector lba and its entry array the
// way the UEFI specification (section 5.3.2, "GPT Header") says a header
// is validated, plus the bounds go-diskfs does not check: entry size and
// count, array location, partition extents.
func checkGPT(r io.ReaderAt, size int64, ss int, lba uint64) (*GPTHeader, error) {
	diskSectors := uint64(size) / uint64(ss)
	off := int64(lba) * int64(ss)
	const what = "GPT header"
	sector := make([]byte, ss)
	if err := readFull(r, sector, off); err != nil {
		return nil, formatErr(off, what, ErrInvalidGPT, "reading: %v", err)
	}
	var h GPTHeader
	if err := binary.Read(bytes.NewReader(sector[:GPTHeaderSize]), binary.LittleEndian, &h); err != nil {
		return nil, formatErr(off, what, ErrInvalidGPT, "decoding: %v", err)
	}
	if string(h.Signature[:]) != GPTSignature {
		return nil, &FormatError{Offset: off, What: what, Err: errNoSignature}
	}
	switch {
	case h.Revision != GPTRevision:
		return nil, formatErr(off, what, ErrInvalidGPT, "revision %#x, want %#x", h.Revision, GPTRevision)
	case h.HeaderSize != GPTHeaderSize:
		return nil, formatErr(off, what, ErrInvalidGPT, "header size %d, want %d", h.HeaderSize, GPTHeaderSize)
	case h.Reserved != 0:
		return nil, formatErr(off, what, ErrInvalidGPT, "reserved field %#x is not zero", h.Reserved)
	}
	hdr := append([]byte(nil), sector[:GPTHeaderSize]...)
	clear(hdr[16:20])
	if sum := crc32.ChecksumIEEE(hdr); sum != h.HeaderCRC32 {
		return nil, formatErr(off, what, ErrInvalidGPT, "header CRC32 %#08x, computed %#08x", h.HeaderCRC32, sum)
	}
	if h.MyLBA != lba {
		return nil, formatErr(off, what, ErrInvalidGPT, "MyLBA is %d, but the header is in LBA %d", h.MyLBA, lba)
	}
	if h.SizeOfPartitionEntry != GPTEntrySize {
		return nil, formatErr(off, what, ErrInvalidGPT, "partition entry size %d, only %d is supported", h.SizeOfPartitionEntry, GPTEntrySize)
	}
	if h.NumberOfPartitionEntries > MaxGPTEntries {
		return nil, formatErr(off, what, ErrInvalidGPT, "%d partition entries, more than the limit %d", h.NumberOfPartitionEntries, MaxGPTEntries)
	}
	arrayBytes := uint64(h.NumberOfPartitionEntries) * GPTEntrySize
	arraySectors := (arrayBytes + uint64(ss) - 1) / uint64(ss)
	if h.PartitionEntryLBA < 1 || h.PartitionEntryLBA > diskSectors || arraySectors > diskSectors-h.PartitionEntryLBA ||
		(lba >= h.PartitionEntryLBA && lba < h.PartitionEntryLBA+arraySectors) {
		return nil, formatErr(off, what, ErrInvalidGPT, "partition entry array at LBA %d (%d sectors) does not fit the disk of %d sectors beside the header",
			h.PartitionEntryLBA, arraySectors, diskSectors)
	}
	if h.LastUsableLBA >= diskSectors || h.FirstUsableLBA > h.LastUsableLBA+1 {
		return nil, formatErr(off, what, ErrInvalidGPT, "usable LBAs %d..%d do not fit the disk of %d sectors",
			h.FirstUsableLBA, h.LastUsableLBA, diskSectors)
	}
	arrayOff := int64(h.PartitionEntryLBA) * int64(ss)
	array := make([]byte, arrayBytes)
	if err := readFull(r, array, arrayOff); err != nil {
		return nil, formatErr(arrayOff, "GPT partition entry array", ErrInvalidGPT, "reading: %v", err)
	}
	if sum := crc32.ChecksumIEEE(array); sum != h.PartitionEntryArrayCRC32 {
		return nil, formatErr(arrayOff, "GPT partition entry array", ErrInvalidGPT, "CRC32 %#08x, computed %#08x", h.PartitionEntryArrayCRC32, sum)
	}
	used := 0
	for i := 0; i < int(h.NumberOfPartitionEntries); i++ {
		// The GPTEntry fields checked here, decoded by hand: reflection
		// per entry would dominate the cost of reading a table.
		b := array[i*GPTEntrySize : (i+1)*GPTEntrySize]
		e := GPTEntry{
			StartingLBA: binary.LittleEndian.Uint64(b[32:40]),
			EndingLBA:   binary.LittleEndian.Uint64(b[40:48]),
		}
		copy(e.PartitionTypeGUID[:], b[0:16])
		if e.PartitionTypeGUID == [16]byte{} {
			continue
		}
		used++
		eoff := arrayOff + int64(i*GPTEntrySize)
		ewhat := fmt.Sprintf("GPT partition entry %d", i+1)
		if used > MaxPartitions {
			return nil, formatErr(eoff, ewhat, ErrTooManyPartitions, "more than %d partitions", MaxPartitions)
		}
		if e.StartingLBA > e.EndingLBA || e.EndingLBA >= diskSectors {
			return nil, formatErr(eoff, ewhat, ErrOutsideDisk, "LBAs %d..%d, the disk has %d sectors", e.StartingLBA, e.EndingLBA, diskSectors)
		}
	}
	return &h, nil
}

// gptViaDiskfs reads a GPT that checkGPT found valid with go-diskfs; with
// backup, the primary header is hidden so that go-diskfs reads the backup.
func gptViaDiskfs(r io.ReaderAt, size int64, ss int, backup bool) (*Table, error) {
	df := &diskFile{r: r, size: size}
	if backup {
		df.maskOff, df.maskLen = int64(ss), int64(ss)
	}
	t, err := gpt.Read(df, ss, ss)
	if err != nil {
		return nil, formatErr(int64(ss), "GPT", ErrInvalidGPT, "go-diskfs: %v", err)
	}
	out := &Table{
		Kind:       KindGPT,
		SectorSize: ss,
		DiskUUID:   strings.ToLower(t.GUID),
		FromBackup: t.RecoveredFromBackup,
	}
	for _, p := range t.Partitions {
		out.Partitions = append(out.Partitions, Partition{
			Number: p.Index,
			Start:  int64(p.Start) * int64(ss),
			Size:   int64(p.End-p.Start+1) * int64(ss),
			Type:   strings.ToLower(string(p.Type)),
			Name:   p.Name,
			UUID:   strings.ToLower(p.GUID),
		})
	}
	return out, nil
}
