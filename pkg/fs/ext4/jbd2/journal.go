package jbd2

import (
	"fmt"
	"io"
)

// Journal is an opened journal: its superblock, validated, and the
// geometry of its log.
type Journal struct {
	r    io.ReaderAt
	sb   Superblock
	raw  []byte // the superblock as read (SuperblockSize bytes)
	bs   int
	last uint32 // one past the last log block (s_maxlen, less the fast commit area)

	csumSeed uint32   // crc32c(~0, uuid) with csum v2/v3
	v1       *beTable // non-nil with checksum v1
}

// Open reads and validates the journal superblock of the journal r holds
// (size bytes: the journal's blocks, block 0 first). It checks what
// e2fsck checks before trusting a journal: magic and version, features,
// superblock checksum, and that the log fits the journal.
func Open(r io.ReaderAt, size int64) (*Journal, error) {
	if size < SuperblockSize {
		return nil, fmt.Errorf("%w: %d bytes are too few for a journal superblock", ErrNotJournal, size)
	}
	raw := make([]byte, SuperblockSize)
	if _, err := r.ReadAt(raw, 0); err != nil {
		return nil, fmt.Errorf("jbd2: reading the journal superblock: %w", err)
	}
	j := &Journal{r: r, raw: raw}
	if err := j.parse(size); err != nil {
		return nil, err
	}
	return j, nil
}

// ParseSuperblock decodes and validates a journal superblock alone, as
// Open does, for a journal of size bytes.
func ParseSuperblock(raw []byte, size int64) (Superblock, error) {
	if len(raw) < SuperblockSize {
		return Superblock{}, fmt.Errorf("%w: %d bytes are too few for a journal superblock", ErrNotJournal, len(raw))
	}
	j := &Journal{raw: raw[:SuperblockSize]}
	err := j.parse(size)
	return j.sb, err
}

func (j *Journal) parse(size int64) error {
	decode(j.raw, &j.sb)
	sb := &j.sb
	if sb.Magic != Magic {
		return fmt.Errorf("%w: magic 0x%08x", ErrNotJournal, sb.Magic)
	}
	switch sb.BlockType {
	case BlockSuperblockV1:
		// Version 1 has no features; e2fsck ignores what the fields hold.
		sb.FeatureCompat, sb.FeatureIncompat, sb.FeatureROCompat = 0, 0, 0
	case BlockSuperblockV2:
		if sb.NrUsers > 1 {
			return unsupported("a journal shared by %d filesystems", sb.NrUsers)
		}
	default:
		return corrupt(0, "journal superblock", "block type %d", sb.BlockType)
	}
	if u := sb.FeatureIncompat &^ knownIncompat; u != 0 {
		return unsupported("unknown incompatible journal feature 0x%x", u)
	}
	if sb.FeatureROCompat != 0 {
		return unsupported("unknown read-only compatible journal feature 0x%x", sb.FeatureROCompat)
	}
	v2, v3 := sb.FeatureIncompat&FeatureIncompatCsumV2 != 0, sb.FeatureIncompat&FeatureIncompatCsumV3 != 0
	if v2 && v3 {
		return corrupt(0, "journal superblock", "both csum v2 and v3")
	}
	if (v2 || v3) && sb.FeatureCompat&FeatureCompatChecksum != 0 {
		return corrupt(0, "journal superblock", "both checksum v1 and csum v%d", map[bool]int{true: 2, false: 3}[v2])
	}
	if v2 || v3 {
		if sb.ChecksumType != ChecksumCRC32C {
			return corrupt(0, "journal superblock", "checksum type %d", sb.ChecksumType)
		}
		if got, want := sb.Checksum, superblockChecksum(j.raw); got != want {
			return badChecksum(0, "journal superblock", "checksum 0x%08x, computed 0x%08x", got, want)
		}
		j.csumSeed = crc32c(^uint32(0), sb.UUID[:])
	}
	if sb.FeatureCompat&FeatureCompatChecksum != 0 {
		j.v1 = newBETable()
	}
	if sb.BlockSize < 1024 || sb.BlockSize > 65536 || sb.BlockSize&(sb.BlockSize-1) != 0 {
		return corrupt(0, "journal superblock", "block size %d", sb.BlockSize)
	}
	j.bs = int(sb.BlockSize)
	if int64(sb.MaxLen) > size/int64(sb.BlockSize) {
		return corrupt(0, "journal superblock", "%d blocks of %d bytes do not fit the %d-byte journal",
			sb.MaxLen, sb.BlockSize, size)
	}
	j.last = sb.MaxLen
	if sb.FeatureIncompat&FeatureIncompatFastCommit != 0 {
		fc := sb.NumFCBlocks
		if fc == 0 {
			fc = 256 // JBD2_DEFAULT_FAST_COMMIT_BLOCKS
		}
		if fc >= sb.MaxLen {
			return corrupt(0, "journal superblock", "%d fast commit blocks in a %d-block journal", fc, sb.MaxLen)
		}
		j.last = sb.MaxLen - fc
	}
	if sb.First == 0 || sb.First >= j.last {
		return corrupt(0, "journal superblock", "log starts at block %d of %d", sb.First, j.last)
	}
	if sb.Start != 0 && (sb.Start < sb.First || sb.Start >= j.last) {
		return corrupt(0, "journal superblock", "log head %d outside the log [%d, %d)", sb.Start, sb.First, j.last)
	}
	return nil
}

// superblockChecksum is crc32c(~0, the superblock with s_checksum zero).
func superblockChecksum(raw []byte) uint32 {
	var zero [4]byte
	c := crc32c(^uint32(0), raw[:superblockChecksumOff])
	c = crc32c(c, zero[:])
	return crc32c(c, raw[superblockChecksumOff+4:SuperblockSize])
}

// Superblock returns the journal superblock.
func (j *Journal) Superblock() Superblock { return j.sb }

// BlockSize returns the journal's block size.
func (j *Journal) BlockSize() int { return j.bs }

// NeedsRecovery reports whether the log holds transactions (s_start != 0).
func (j *Journal) NeedsRecovery() bool { return j.sb.Start != 0 }

// Features names the journal's features as e2fsprogs does
// ("journal_64bit", "journal_checksum_v3", ...).
func (j *Journal) Features() []string {
	var names []string
	if j.sb.FeatureCompat&FeatureCompatChecksum != 0 {
		names = append(names, "journal_checksum")
	}
	for _, f := range []struct {
		bit  uint32
		name string
	}{
		{FeatureIncompatRevoke, "journal_incompat_revoke"},
		{FeatureIncompat64bit, "journal_64bit"},
		{FeatureIncompatAsyncCommit, "journal_async_commit"},
		{FeatureIncompatCsumV2, "journal_checksum_v2"},
		{FeatureIncompatCsumV3, "journal_checksum_v3"},
		{FeatureIncompatFastCommit, "fast_commit"},
	} {
		if j.sb.FeatureIncompat&f.bit != 0 {
			names = append(names, f.name)
		}
	}
	return names
}

// ResetSuperblock returns the journal superblock as e2fsck leaves it
// after recovery: s_start 0 (the log is empty), s_sequence seq, and the
// checksum updated with csum v2/v3. Every other byte is kept.
func (j *Journal) ResetSuperblock(seq uint32) []byte {
	b := append([]byte(nil), j.raw...)
	be.PutUint32(b[0x18:], seq)
	be.PutUint32(b[0x1C:], 0)
	if j.csumV23() {
		be.PutUint32(b[superblockChecksumOff:], superblockChecksum(b))
	}
	return b
}

func (j *Journal) csumV23() bool {
	return j.sb.FeatureIncompat&(FeatureIncompatCsumV2|FeatureIncompatCsumV3) != 0
}

func (j *Journal) has(incompat uint32) bool { return j.sb.FeatureIncompat&incompat != 0 }

// tagBytes is journal_tag_bytes: the size of one descriptor tag.
func (j *Journal) tagBytes() int {
	if j.has(FeatureIncompatCsumV3) {
		return 16
	}
	n := 12
	if j.has(FeatureIncompatCsumV2) {
		n += 2
	}
	if j.has(FeatureIncompat64bit) {
		return n
	}
	return n - 4
}

// wrap brings a log block number that ran past the log's end back to its
// start, as the kernel's wrap() does (once).
func (j *Journal) wrap(blk uint64) uint64 {
	if blk >= uint64(j.last) {
		blk -= uint64(j.last - j.sb.First)
	}
	return blk
}

// readBlock reads log block blk into p (one block).
func (j *Journal) readBlock(blk uint64, p []byte) error {
	if blk >= uint64(j.sb.MaxLen) {
		return corrupt(uint32(min(blk, 1<<32-1)), "log", "block %d beyond the %d-block journal", blk, j.sb.MaxLen)
	}
	if _, err := j.r.ReadAt(p, int64(blk)*int64(j.bs)); err != nil {
		return fmt.Errorf("jbd2: reading journal block %d: %w", blk, err)
	}
	return nil
}

// tailChecksumOK verifies the tail of a descriptor or revoke block
// (csum v2/v3); true without those features.
func (j *Journal) tailChecksumOK(b []byte) bool {
	if !j.csumV23() {
		return true
	}
	var zero [TailSize]byte
	n := len(b) - TailSize
	c := crc32c(crc32c(j.csumSeed, b[:n]), zero[:])
	return be.Uint32(b[n:]) == c
}

// commitChecksumOK verifies a commit block's checksum (csum v2/v3).
func (j *Journal) commitChecksumOK(b []byte) bool {
	if !j.csumV23() {
		return true
	}
	var zero [4]byte
	c := crc32c(j.csumSeed, b[:commitChecksumOff])
	c = crc32c(c, zero[:])
	c = crc32c(c, b[commitChecksumOff+4:])
	return be.Uint32(b[commitChecksumOff:]) == c
}

// tagChecksumOK verifies a data block against its tag (csum v2/v3).
func (j *Journal) tagChecksumOK(tag, data []byte, seq uint32) bool {
	if !j.csumV23() {
		return true
	}
	var s [4]byte
	be.PutUint32(s[:], seq)
	c := crc32c(crc32c(j.csumSeed, s[:]), data)
	if j.has(FeatureIncompatCsumV3) {
		return be.Uint32(tag[12:]) == c
	}
	return be.Uint16(tag[4:]) == uint16(c)
}
