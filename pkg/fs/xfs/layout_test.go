package xfs

import (
	"encoding/binary"
	"testing"
)

// TestLayoutSizes: every on-disk struct has the size xfs_format.h and
// xfs_da_format.h give it (their XFS_CHECK_STRUCT_SIZE lines in
// xfs_ondisk.h).
func TestLayoutSizes(t *testing.T) {
	for _, c := range []struct {
		name string
		v    any
		want int
	}{
		{"xfs_dsb through sb_meta_uuid", superblock{}, 264},
		{"xfs_agf", agf{}, 224},
		{"xfs_agi", agi{}, 344},
		{"xfs_agfl header", agflHeader{}, 36},
		{"xfs_dinode v3 core", dinode{}, dinodeSize},
		{"long btree block header", lblockHeader{}, lblockSize},
		{"short btree block header", sblockHeader{}, sblockSize},
		{"xfs_dir3_blk_hdr", dir3BlkHeader{}, 48},
		{"xfs_dir3_data_hdr", dir3DataHeader{}, dir3DataHeaderSize},
		{"xfs_da3_blkinfo", da3BlkInfo{}, 56},
		{"xfs_da3_node_hdr", da3NodeHeader{}, daNodeHdrSize},
		{"xfs_dir3_leaf_hdr", dir3LeafHeader{}, dirLeafHdrSize},
		{"xfs_dir3_free_hdr", dir3FreeHeader{}, 64},
		{"xfs_attr3_leaf_hdr", attr3LeafHeader{}, attr3HdrSize},
		{"xfs_attr_leaf_entry", attrLeafEntry{}, 8},
		{"xfs_dsymlink_hdr / xfs_attr3_rmt_hdr", rmtHeader{}, rmtHeaderSize},
		{"xlog_rec_header through h_num_logops", logRecordHeader{}, 44},
	} {
		if got := binary.Size(c.v); got != c.want {
			t.Errorf("%s: %d bytes, want %d", c.name, got, c.want)
		}
	}
}

// TestDirHash checks xfs_da_hashname against values xfs_db computes
// (xfs_db -c 'hash NAME').
func TestDirHash(t *testing.T) {
	for name, want := range map[string]uint32{
		"": 0, "a": 0x61, "ab": 0x30e2, "abc": 0x187163, "abcd": 0xc38b1e4, "hostname": 0x4d09c97a,
		"entry-with-a-longish-name-04999": 0xd284438c,
	} {
		if got := dirHash([]byte(name)); got != want {
			t.Errorf("hash(%q) = %#x, want %#x", name, got, want)
		}
	}
}
