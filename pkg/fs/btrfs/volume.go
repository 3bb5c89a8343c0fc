package btrfs

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Volume is one btrfs filesystem on one device: its superblock, chunk
// map and root tree. Every FS view of a subvolume shares it. It is not
// safe for concurrent use.
type Volume struct {
	r      io.ReaderAt
	size   int64
	sb     Superblock
	csum   checksummer
	fsid   [16]byte // what tree block headers carry (metadata_uuid if set)
	chunks []chunk  // sorted by logical
	note   string
	cache  map[uint64][]byte // tree blocks by logical address
	// subvols caches opened subvolumes by id.
	subvols map[uint64]*subvol
}

// chunk maps one logical range to its copies on this device.
type chunk struct {
	logical, length uint64
	typ             uint64
	phys            []uint64 // physical start of each copy on this device
}

// maxCachedNodes bounds the tree block cache (at most 64 KiB each).
const maxCachedNodes = 512

// maxChunks bounds the chunk map: a 1 GiB chunk each would be 64 TiB.
const maxChunks = 1 << 16

// OpenVolume reads the superblock, the system chunks and the chunk tree
// of the btrfs filesystem on r, a device of size bytes.
func OpenVolume(r io.ReaderAt, size int64) (*Volume, error) {
	copies, err := readSupers(r, size)
	if err != nil {
		return nil, err
	}
	sb, note, err := pickSuper(copies)
	if err != nil {
		return nil, err
	}
	v := &Volume{r: r, size: size, sb: *sb, note: note, cache: map[uint64][]byte{}, subvols: map[uint64]*subvol{}}
	if v.csum, err = newChecksummer(sb.CsumType); err != nil {
		return nil, err
	}
	if unk := sb.IncompatFlags &^ incompatRead; unk != 0 {
		return nil, fmt.Errorf("%w: incompat flags %s", ErrUnsupported, flagNames(unk))
	}
	v.fsid = sb.FSID
	if sb.IncompatFlags&incompatMetadataUUID != 0 {
		v.fsid = sb.MetadataUUID
	}
	if err := v.readSysChunks(); err != nil {
		return nil, err
	}
	if err := v.readChunkTree(); err != nil {
		return nil, err
	}
	if sb.LogRoot != 0 {
		v.addNote(fmt.Sprintf("log tree at logical %d not replayed (the kernel replays it at mount)", sb.LogRoot))
	}
	return v, nil
}

func (v *Volume) addNote(s string) {
	if v.note != "" {
		v.note += "; "
	}
	v.note += s
}

// flagNames names incompat bits, "bit N" for unknown ones.
func flagNames(f uint64) string {
	var n []string
	for b := 0; b < 64; b++ {
		if f&(1<<b) == 0 {
			continue
		}
		if s, ok := incompatNames[1<<b]; ok {
			n = append(n, s)
		} else {
			n = append(n, fmt.Sprintf("bit %d", b))
		}
	}
	return strings.Join(n, ", ")
}

// readSysChunks parses sys_chunk_array: (disk key, chunk item with its
// stripes) pairs.
func (v *Volume) readSysChunks() error {
	arr := v.sb.SysChunkArray[:v.sb.SysChunkArraySize]
	off := 0
	for off < len(arr) {
		where := int64(superOffset + 0x32B + off)
		if len(arr)-off < keySize {
			return corrupt("sys_chunk_array", -1, where, "truncated key")
		}
		k := parseKey(arr[off:])
		off += keySize
		if k.Type != typeChunkItem {
			return corrupt("sys_chunk_array", -1, where, "key type %d is not a chunk item", k.Type)
		}
		n, err := v.addChunk(k, arr[off:], where)
		if err != nil {
			return err
		}
		off += n
	}
	if len(v.chunks) == 0 {
		return corrupt("sys_chunk_array", -1, superOffset+0x32B, "no system chunk")
	}
	return nil
}

// readChunkTree adds every CHUNK_ITEM of the chunk tree.
func (v *Volume) readChunkTree() error {
	root := treeRoot{id: chunkTreeObjectID, bytenr: v.sb.ChunkRoot, level: v.sb.ChunkRootLevel}
	lo := Key{ObjectID: firstChunkTreeID, Type: typeChunkItem}
	hi := Key{ObjectID: firstChunkTreeID, Type: typeChunkItem, Offset: ^uint64(0)}
	return v.walk(root, lo, hi, func(k Key, data []byte, at int64) (bool, error) {
		_, err := v.addChunk(k, data, at)
		return true, err
	})
}

// addChunk parses one chunk item for key k from b and adds it to the map
// unless it is already there (sys_chunk_array and the chunk tree both hold
// the system chunks). It returns the bytes the item takes.
func (v *Volume) addChunk(k Key, b []byte, at int64) (int, error) {
	bad := func(format string, args ...any) error {
		return corrupt(fmt.Sprintf("chunk item for logical %d", k.Offset), int64(k.Offset), at, format, args...)
	}
	var c ChunkItem
	if len(b) < chunkItemSize || !decode(b, &c) {
		return 0, bad("truncated")
	}
	if c.NumStripes == 0 {
		return 0, bad("no stripes")
	}
	n := chunkItemSize + int(c.NumStripes)*stripeSize
	if len(b) < n {
		return 0, bad("%d stripes do not fit", c.NumStripes)
	}
	if c.Length == 0 || k.Offset+c.Length < k.Offset {
		return 0, bad("length %d", c.Length)
	}
	for _, ch := range v.chunks {
		if ch.logical == k.Offset && ch.length == c.Length {
			return n, nil
		}
		if k.Offset < ch.logical+ch.length && ch.logical < k.Offset+c.Length {
			return 0, bad("overlaps the chunk at logical %d", ch.logical)
		}
	}
	if len(v.chunks) >= maxChunks {
		return 0, bad("more than %d chunks", maxChunks)
	}
	profile := c.Type &^ (bgData | bgSystem | bgMetadata)
	switch profile {
	case 0, bgDUP, bgRAID1, bgRAID1C3, bgRAID1C4:
	default:
		return 0, fmt.Errorf("%w: chunk at logical %d has profile %s, which stripes data across devices", ErrUnsupported, k.Offset, profileName(profile))
	}
	ch := chunk{logical: k.Offset, length: c.Length, typ: c.Type}
	for i := 0; i < int(c.NumStripes); i++ {
		var s Stripe
		decode(b[chunkItemSize+i*stripeSize:], &s)
		if s.DevID != v.sb.DevItem.DevID {
			continue
		}
		if s.Offset+c.Length < s.Offset || s.Offset+c.Length > uint64(v.size) {
			return 0, bad("stripe %d at byte %d runs past the device end (%d bytes)", i, s.Offset, v.size)
		}
		ch.phys = append(ch.phys, s.Offset)
	}
	v.chunks = append(v.chunks, ch)
	sort.Slice(v.chunks, func(i, j int) bool { return v.chunks[i].logical < v.chunks[j].logical })
	return n, nil
}

func profileName(p uint64) string {
	switch p {
	case bgRAID0:
		return "raid0"
	case bgRAID10:
		return "raid10"
	case bgRAID5:
		return "raid5"
	case bgRAID6:
		return "raid6"
	}
	return fmt.Sprintf("0x%x", p)
}

// mapLogical returns the physical offsets of every copy of the n bytes at
// logical address l, which must lie within one chunk.
func (v *Volume) mapLogical(l uint64, n int, what string) ([]int64, error) {
	i := sort.Search(len(v.chunks), func(i int) bool { return v.chunks[i].logical+v.chunks[i].length > l })
	if i == len(v.chunks) || v.chunks[i].logical > l {
		return nil, corrupt(what, int64(l), -1, "logical address in no chunk")
	}
	c := v.chunks[i]
	if l+uint64(n) > c.logical+c.length || l+uint64(n) < l {
		return nil, corrupt(what, int64(l), -1, "%d bytes run past the end of the chunk at logical %d", n, c.logical)
	}
	if len(c.phys) == 0 {
		return nil, fmt.Errorf("%w: %s at logical %d is in a chunk with no copy on this device (devid %d)", ErrUnsupported, what, l, v.sb.DevItem.DevID)
	}
	out := make([]int64, len(c.phys))
	for j, p := range c.phys {
		out[j] = int64(p + (l - c.logical))
	}
	return out, nil
}

// readPhys reads len(b) bytes at physical offset p.
func (v *Volume) readPhys(b []byte, p int64, what string, logical int64) error {
	if p < 0 || p+int64(len(b)) > v.size {
		return corrupt(what, logical, p, "%d bytes past the device end", len(b))
	}
	n, err := v.r.ReadAt(b, p)
	if err != nil && !(errors.Is(err, io.EOF) && n == len(b)) {
		return fmt.Errorf("btrfs: reading %s at byte %d: %w", what, p, err)
	}
	return nil
}

// readLogical reads len(b) bytes at logical address l from the first
// copy, trying the next copies when check rejects what was read.
func (v *Volume) readLogical(b []byte, l uint64, what string, check func([]byte, int64) error) error {
	phys, err := v.mapLogical(l, len(b), what)
	if err != nil {
		return err
	}
	var first error
	for _, p := range phys {
		if err := v.readPhys(b, p, what, int64(l)); err != nil {
			return err
		}
		if check == nil {
			return nil
		}
		err := check(b, p)
		if err == nil {
			return nil
		}
		if first == nil {
			first = err
		}
	}
	return first
}
