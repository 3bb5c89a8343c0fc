package btrfs

import (
	"encoding/binary"
	"testing"
)

// TestStructSizes checks every on-disk struct against the size the
// format gives it.
func TestStructSizes(t *testing.T) {
	for _, c := range []struct {
		name string
		v    any
		want int
	}{
		{"btrfs_super_block", Superblock{}, superSize},
		{"btrfs_dev_item", DevItem{}, 98},
		{"btrfs_root_backup", RootBackup{}, 168},
		{"btrfs_header", Header{}, headerSize},
		{"btrfs_disk_key", Key{}, keySize},
		{"btrfs_item", Item{}, itemSize},
		{"btrfs_key_ptr", KeyPtr{}, keyPtrSize},
		{"btrfs_chunk", ChunkItem{}, chunkItemSize},
		{"btrfs_stripe", Stripe{}, stripeSize},
		{"btrfs_inode_item", InodeItem{}, inodeItemSize},
		{"btrfs_root_item", RootItem{}, rootItemSize},
		{"btrfs_dir_item", DirItem{}, dirItemSize},
		{"btrfs_inode_ref", InodeRef{}, inodeRefSize},
		{"btrfs_root_ref", RootRef{}, rootRefSize},
		{"btrfs_file_extent_item", FileExtentItem{}, fileExtentItemSize},
		{"btrfs_timespec", Timespec{}, 12},
	} {
		if got := binary.Size(c.v); got != c.want {
			t.Errorf("%s: %d bytes, want %d", c.name, got, c.want)
		}
	}
}

// TestSuperblockOffsets checks fields the format places at fixed offsets.
func TestSuperblockOffsets(t *testing.T) {
	var sb Superblock
	sb.Magic = [8]byte([]byte(superMagic))
	sb.SysChunkArraySize = 0x11223344
	sb.CsumType = 0x5566
	sb.Label[0] = 'L'
	sb.SysChunkArray[0] = 0x77
	b, err := binary.Append(nil, binary.LittleEndian, &sb)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		off  int
		want byte
	}{{0x40, '_'}, {0xA0, 0x44}, {0xC4, 0x66}, {0x12B, 'L'}, {0x32B, 0x77}} {
		if b[c.off] != c.want {
			t.Errorf("byte 0x%x = %#x, want %#x", c.off, b[c.off], c.want)
		}
	}
}

// TestXXHash64 checks the published XXH64 (seed 0) test values.
func TestXXHash64(t *testing.T) {
	for _, c := range []struct {
		in   string
		want uint64
	}{
		{"", 0xef46db3751d8e999},
		{"abc", 0x44bc2cf5ad770999},
	} {
		if got := xxhash64([]byte(c.in)); got != c.want {
			t.Errorf("xxhash64(%q) = %#x, want %#x", c.in, got, c.want)
		}
	}
}

// TestLZO1X decodes hand-assembled streams: literals only, and literals
// followed by an overlapping match.
func TestLZO1X(t *testing.T) {
	end := []byte{0x11, 0, 0}
	for _, c := range []struct {
		name string
		in   []byte
		want string
	}{
		{"literals", append([]byte{17 + 5, 'h', 'e', 'l', 'l', 'o'}, end...), "hello"},
		{"match", append([]byte{17 + 3, 'a', 'b', 'c', 0xA8, 0x00}, end...), "abcabcabc"},
	} {
		got, err := lzo1xDecompress(nil, c.in, 4096)
		if err != nil || string(got) != c.want {
			t.Errorf("%s: %q, %v; want %q", c.name, got, err, c.want)
		}
	}
	// A match before any output, a truncated stream, output past max.
	for _, in := range [][]byte{
		{0xA8, 0x00, 0x11, 0, 0},
		{17 + 5, 'h', 'e'},
		append([]byte{17 + 5, 'h', 'e', 'l', 'l', 'o'}, end...),
	} {
		if _, err := lzo1xDecompress(nil, in, 4); err == nil {
			t.Errorf("%x: no error", in)
		}
	}
}
