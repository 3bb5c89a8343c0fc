package ext4

import (
	"encoding/binary"
	"testing"
)

// TestDiskLayoutSizes: each on-disk struct has the size ext2_fs.h gives it.
func TestDiskLayoutSizes(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want int
	}{
		{"struct ext2_super_block is 1024 bytes", Superblock{}, superblockSize},
		{"struct ext4_group_desc is 64 bytes", GroupDesc{}, gdSize64},
		{"struct ext4_inode with extra fields is 160 bytes", Inode{}, inodeStructSize},
		{"struct ext4_extent_header is 12 bytes", ExtentHeader{}, extentEntrySize},
		{"struct ext4_extent_idx is 12 bytes", ExtentIdx{}, extentEntrySize},
		{"struct ext4_extent is 12 bytes", Extent{}, extentEntrySize},
		{"struct ext4_extent_tail is 4 bytes", ExtentTail{}, 4},
		{"struct ext4_dir_entry_2 header is 8 bytes", DirEntry2{}, dirEntryHeaderSize},
		{"struct ext4_dir_entry header is 8 bytes", DirEntry1{}, dirEntryHeaderSize},
		{"struct ext4_dir_entry_tail is 12 bytes", DirEntryTail{}, dirTailSize},
		{"struct dx_root_info is 8 bytes", DxRootInfo{}, 8},
		{"struct dx_countlimit is 4 bytes", DxCountLimit{}, 4},
		{"struct dx_entry is 8 bytes", DxEntry{}, dxEntrySize},
		{"struct dx_tail is 8 bytes", DxTail{}, dxTailSize},
		{"struct ext4_xattr_header is 32 bytes", XattrHeader{}, xattrHeaderSize},
		{"struct ext4_xattr_ibody_header is 4 bytes", XattrIbodyHeader{}, 4},
		{"struct ext4_xattr_entry without name is 16 bytes", XattrEntry{}, xattrEntrySize},
		{"journal superblock header is 32 bytes", JournalSuperblockHead{}, 32},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := binary.Size(tc.v); got != tc.want {
				t.Fatalf("binary.Size = %d, want %d", got, tc.want)
			}
		})
	}
}

// TestSuperblockFieldOffsets: fields the engine relies on sit at the byte
// offsets of ext2_fs.h.
func TestSuperblockFieldOffsets(t *testing.T) {
	var sb Superblock
	sb.Magic = 0xEF53
	sb.LastOrphan = 0x11223344
	sb.ChecksumSeed = 0x55667788
	sb.OrphanFileInum = 0x99AABBCC
	sb.Checksum = 0xDDEEFF00
	b := make([]byte, superblockSize)
	encode(b, &sb)
	for _, tc := range []struct {
		name string
		off  int
		want uint32
		size int
	}{
		{"s_magic at 0x38", 0x38, 0xEF53, 2},
		{"s_last_orphan at 0xE8", 0xE8, 0x11223344, 4},
		{"s_checksum_seed at 0x270", 0x270, 0x55667788, 4},
		{"s_orphan_file_inum at 0x280", 0x280, 0x99AABBCC, 4},
		{"s_checksum at 0x3FC", 0x3FC, 0xDDEEFF00, 4},
	} {
		got := uint32(le.Uint16(b[tc.off:]))
		if tc.size == 4 {
			got = le.Uint32(b[tc.off:])
		}
		if got != tc.want {
			t.Errorf("%s: 0x%x, want 0x%x", tc.name, got, tc.want)
		}
	}
}
