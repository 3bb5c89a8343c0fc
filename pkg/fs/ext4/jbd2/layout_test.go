package jbd2

import (
	"encoding/binary"
	"testing"
)

// TestLayoutSizes: every on-disk struct has the size of its C original.
func TestLayoutSizes(t *testing.T) {
	for _, c := range []struct {
		name string
		v    any
		want int
	}{
		{"journal_header_t", Header{}, HeaderSize},
		{"journal_superblock_t", Superblock{}, SuperblockSize},
		{"commit_header", CommitHeader{}, CommitHeaderSize},
		{"journal_block_tag3_t", BlockTag3{}, 16},
		{"journal_block_tag_t", BlockTag{}, 12},
		{"jbd2_journal_revoke_header_t", RevokeHeader{}, RevokeHeaderSize},
	} {
		if got := binary.Size(c.v); got != c.want {
			t.Errorf("%s: %d bytes, want %d", c.name, got, c.want)
		}
	}
}

// TestCRC32BE: the kernel's crc32_be against the CRC-32/MPEG-2 check
// value (crc32_be with seed ~0 and no final inversion is MPEG-2).
func TestCRC32BE(t *testing.T) {
	if got := newBETable().update(^uint32(0), []byte("123456789")); got != 0x0376E6E7 {
		t.Fatalf("crc32_be(~0, \"123456789\") = 0x%08x, want 0x0376e6e7", got)
	}
}

// TestCRC32C: the kernel's crc32c with the usual inversions is CRC-32C.
func TestCRC32C(t *testing.T) {
	if got := ^crc32c(^uint32(0), []byte("123456789")); got != 0xE3069283 {
		t.Fatalf("crc32c = 0x%08x, want 0xe3069283", got)
	}
}
