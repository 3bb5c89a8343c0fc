package btrfs

import (
	"encoding/binary"
	"errors"
	"testing"
)

// chunkBytes is a chunk item of the given type with one stripe per
// (devid, offset) pair.
func chunkBytes(typ uint64, stripes ...[2]uint64) []byte {
	b, _ := binary.Append(nil, binary.LittleEndian, ChunkItem{Length: 1 << 20, Type: typ, NumStripes: uint16(len(stripes)), StripeLen: 65536, SectorSize: 4096})
	for _, s := range stripes {
		b, _ = binary.Append(b, binary.LittleEndian, Stripe{DevID: s[0], Offset: s[1]})
	}
	return b
}

// TestChunkProfiles maps logical addresses through SINGLE, DUP and RAID1
// chunks (both RAID1 copies on this device, as a one-device RAID1 left by
// a conversion has them), and refuses what this device cannot serve: a
// chunk whose only copy is on another device, and striped profiles.
func TestChunkProfiles(t *testing.T) {
	for _, c := range []struct {
		name  string
		item  []byte
		want  []int64
		unsup bool
	}{
		{"single", chunkBytes(bgData, [2]uint64{1, 4 << 20}), []int64{4<<20 + 0x1000}, false},
		{"dup", chunkBytes(bgMetadata|bgDUP, [2]uint64{1, 4 << 20}, [2]uint64{1, 8 << 20}), []int64{4<<20 + 0x1000, 8<<20 + 0x1000}, false},
		{"raid1 one device", chunkBytes(bgData|bgRAID1, [2]uint64{1, 4 << 20}, [2]uint64{1, 12 << 20}), []int64{4<<20 + 0x1000, 12<<20 + 0x1000}, false},
		{"raid1 two devices", chunkBytes(bgData|bgRAID1, [2]uint64{2, 4 << 20}, [2]uint64{1, 12 << 20}), []int64{12<<20 + 0x1000}, false},
		{"other device", chunkBytes(bgData, [2]uint64{2, 4 << 20}), nil, true},
	} {
		v := &Volume{size: 64 << 20}
		v.sb.DevItem.DevID = 1
		if _, err := v.addChunk(Key{ObjectID: firstChunkTreeID, Type: typeChunkItem, Offset: 1 << 30}, c.item, 0); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got, err := v.mapLogical(1<<30+0x1000, 4096, "test")
		if c.unsup {
			if !errors.Is(err, ErrUnsupported) {
				t.Errorf("%s: %v, want ErrUnsupported", c.name, err)
			}
			continue
		}
		if err != nil || len(got) != len(c.want) {
			t.Fatalf("%s: %v, %v; want %v", c.name, got, err, c.want)
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s: copy %d at %d, want %d", c.name, i, got[i], c.want[i])
			}
		}
	}
	for _, typ := range []uint64{bgRAID0, bgRAID10, bgRAID5, bgRAID6} {
		v := &Volume{size: 64 << 20}
		v.sb.DevItem.DevID = 1
		_, err := v.addChunk(Key{Offset: 1 << 30}, chunkBytes(bgData|typ, [2]uint64{1, 4 << 20}, [2]uint64{1, 8 << 20}), 0)
		if !errors.Is(err, ErrUnsupported) {
			t.Errorf("profile %#x: %v, want ErrUnsupported", typ, err)
		}
	}
	// A stripe past the device end, and a truncated item.
	v := &Volume{size: 64 << 20}
	v.sb.DevItem.DevID = 1
	if _, err := v.addChunk(Key{Offset: 1 << 30}, chunkBytes(bgData, [2]uint64{1, 64 << 20}), 0); !errors.Is(err, ErrCorrupt) {
		t.Errorf("stripe past the end: %v", err)
	}
	if _, err := v.addChunk(Key{Offset: 1 << 30}, chunkBytes(bgData, [2]uint64{1, 0})[:60], 0); !errors.Is(err, ErrCorrupt) {
		t.Errorf("truncated: %v", err)
	}
}
