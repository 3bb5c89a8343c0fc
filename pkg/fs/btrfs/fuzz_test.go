package btrfs

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// fuzzDevice is an in-memory device.
type fuzzDevice []byte

func (d fuzzDevice) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= int64(len(d)) {
		return 0, errShort
	}
	n := copy(p, d[off:])
	if n < len(p) {
		return n, errShort
	}
	return n, nil
}

var errShort = bytes.ErrTooLarge

// seedSuper builds a valid superblock with one system chunk mapping
// logical 1 MiB to physical 1 MiB and the given trees at 1 MiB.
func seedSuper() []byte {
	var sb Superblock
	copy(sb.Magic[:], superMagic)
	sb.Bytenr = superOffset
	sb.SectorSize, sb.NodeSize, sb.StripeSize = 4096, 4096, 4096
	sb.Root, sb.ChunkRoot = 1<<20, 1<<20
	sb.NumDevices = 1
	sb.TotalBytes = 2 << 20
	sb.DevItem.DevID = 1
	arr := binary.LittleEndian.AppendUint64(nil, firstChunkTreeID)
	arr = append(arr, typeChunkItem)
	arr = binary.LittleEndian.AppendUint64(arr, 1<<20)
	arr, _ = binary.Append(arr, binary.LittleEndian, ChunkItem{Length: 1 << 20, Type: bgSystem, NumStripes: 1, StripeLen: 65536, SectorSize: 4096})
	arr, _ = binary.Append(arr, binary.LittleEndian, Stripe{DevID: 1, Offset: 1 << 20})
	copy(sb.SysChunkArray[:], arr)
	sb.SysChunkArraySize = uint32(len(arr))
	b, _ := binary.Append(nil, binary.LittleEndian, &sb)
	return b
}

// fixSuper stamps the checksum the superblock's csum type asks for.
func fixSuper(b []byte) {
	cs, err := newChecksummer(binary.LittleEndian.Uint16(b[0xC4:]))
	if err != nil {
		return
	}
	s := cs.sum(b[csumSize:superSize])
	copy(b, s[:])
}

// FuzzSuperblock feeds superblocks (checksum fixed up, so the fuzzer gets
// past it) with their sys_chunk_array to OpenVolume over a 2 MiB device
// whose chunk tree is empty space.
func FuzzSuperblock(f *testing.F) {
	f.Add(seedSuper())
	f.Fuzz(func(t *testing.T, sb []byte) {
		if len(sb) > superSize {
			sb = sb[:superSize]
		}
		dev := make(fuzzDevice, 2<<20)
		copy(dev[superOffset:], sb)
		fixSuper(dev[superOffset:])
		v, err := OpenVolume(dev, int64(len(dev)))
		if err == nil && len(v.chunks) == 0 {
			t.Fatal("opened with no chunks")
		}
	})
}

// FuzzChunkItem feeds one chunk item (key offset, item bytes) to addChunk.
func FuzzChunkItem(f *testing.F) {
	arr := seedSuper()[0x32B:]
	f.Add(uint64(1<<20), arr[keySize:keySize+chunkItemSize+stripeSize])
	f.Fuzz(func(t *testing.T, logical uint64, item []byte) {
		v := &Volume{size: 64 << 20}
		v.sb.DevItem.DevID = 1
		n, err := v.addChunk(Key{ObjectID: firstChunkTreeID, Type: typeChunkItem, Offset: logical}, item, 0)
		if err != nil {
			return
		}
		if n > len(item) || len(v.chunks) != 1 {
			t.Fatalf("took %d of %d bytes, %d chunks", n, len(item), len(v.chunks))
		}
		c := v.chunks[0]
		for _, p := range c.phys {
			if p+c.length > uint64(v.size) {
				t.Fatalf("copy at %d of %d bytes past the device", p, c.length)
			}
		}
	})
}

// fuzzVolume is a volume over dev with logical == physical and tree
// blocks of nodeSize bytes checked by crc32c.
func fuzzVolume(dev fuzzDevice, nodeSize int) *Volume {
	v := &Volume{r: dev, size: int64(len(dev)), cache: map[uint64][]byte{}, subvols: map[uint64]*subvol{}}
	v.sb.SectorSize, v.sb.NodeSize = 4096, uint32(nodeSize)
	v.sb.TotalBytes = uint64(len(dev))
	v.csum, _ = newChecksummer(csumCRC32C)
	v.chunks = []chunk{{logical: 0, length: uint64(len(dev)), typ: bgMetadata | bgData, phys: []uint64{0}}}
	return v
}

// fixNode stamps bytenr, fsid and checksum into the tree block at l.
func fixNode(dev fuzzDevice, l, nodeSize int) {
	b := dev[l : l+nodeSize]
	binary.LittleEndian.PutUint64(b[0x30:], uint64(l))
	copy(b[0x20:0x30], make([]byte, 16))
	s := crc32cSum(b[csumSize:])
	copy(b, s[:])
}

func crc32cSum(b []byte) [csumSize]byte {
	c, _ := newChecksummer(csumCRC32C)
	return c.sum(b)
}

// seedLeaf builds a leaf holding one item of each type given.
func seedLeaf(items []Key, datas [][]byte) []byte {
	b := make([]byte, 4096)
	binary.LittleEndian.PutUint32(b[0x60:], uint32(len(items)))
	end := 4096 - headerSize
	for i, k := range items {
		end -= len(datas[i])
		it := b[headerSize+i*itemSize:]
		binary.LittleEndian.PutUint64(it, k.ObjectID)
		it[8] = k.Type
		binary.LittleEndian.PutUint64(it[9:], k.Offset)
		binary.LittleEndian.PutUint32(it[17:], uint32(end))
		binary.LittleEndian.PutUint32(it[21:], uint32(len(datas[i])))
		copy(b[headerSize+end:], datas[i])
	}
	return b
}

// FuzzTreeBlock feeds a tree block (a leaf, or a node whose children are
// the following blocks; 4 KiB nodes, or 16 KiB for inputs that long, as
// the seeds taken from btrfs-kernel.img) to the walker, and every leaf item to the reader
// of its type: inode, inode ref, dir item and index, xattr, file extent,
// root item and ref, chunk item and checksum item.
func FuzzTreeBlock(f *testing.F) {
	name := []byte("name")
	di, _ := binary.Append(nil, binary.LittleEndian, DirItem{Location: Key{ObjectID: 257, Type: typeInodeItem}, NameLen: 4, Type: ftRegFile})
	di = append(di, name...)
	ino, _ := binary.Append(nil, binary.LittleEndian, InodeItem{Mode: 0o100644, Size: 5, Nlink: 1})
	ref, _ := binary.Append(nil, binary.LittleEndian, InodeRef{Index: 2, NameLen: 4})
	ref = append(ref, name...)
	fe, _ := binary.Append(nil, binary.LittleEndian, FileExtentItem{RAMBytes: 5, Type: extentInline})
	fe = append(fe[:fileExtentInlineHeader], "hello"...)
	rr, _ := binary.Append(nil, binary.LittleEndian, RootRef{DirID: 256, NameLen: 4})
	rr = append(rr, name...)
	ri, _ := binary.Append(nil, binary.LittleEndian, RootItem{Bytenr: 8192, RootDirID: 256})
	ch := seedSuper()[0x32B+keySize : 0x32B+keySize+chunkItemSize+stripeSize]
	f.Add(seedLeaf(
		[]Key{{256, typeInodeItem, 0}, {256, typeDirItem, uint64(nameHash(name))}, {256, typeDirIndex, 2}, {257, typeInodeItem, 0}, {257, typeInodeRef, 256}, {257, typeXattrItem, 1}, {257, typeExtentData, 0}, {258, typeRootItem, 0}, {258, typeRootRef, 259}, {firstChunkTreeID, typeChunkItem, 1 << 20}, {extentCsumObjectID, typeExtentCsum, 0}},
		[][]byte{ino, di, di, ino, ref, di, fe, ri, rr, ch, make([]byte, 8)}))
	f.Fuzz(func(t *testing.T, blk []byte) {
		ns := 4096
		if len(blk) >= 16384 { // a real 16 KiB tree block
			ns = 16384
		}
		dev := make(fuzzDevice, 4<<20)
		for i := 0; i*ns < len(blk) && i < 4; i++ {
			copy(dev[(i+1)*ns:(i+2)*ns], blk[i*ns:])
			fixNode(dev, (i+1)*ns, ns)
		}
		v := fuzzVolume(dev, ns)
		level := dev[ns+0x64]
		root := treeRoot{id: 5, bytenr: uint64(ns), level: level}
		s := &subvol{id: 5, root: root, rootDir: 256}
		lo, hi := Key{}, Key{ObjectID: ^uint64(0), Type: 255, Offset: ^uint64(0)}
		_ = v.walk(root, lo, hi, func(k Key, d []byte, p int64) (bool, error) {
			switch k.Type {
			case typeInodeItem:
				_, _ = v.inode(s, k.ObjectID)
			case typeDirItem, typeDirIndex, typeXattrItem:
				_, _ = parseDirItems(d, p, "fuzz")
				_ = v.eachDirIndex(s, k.ObjectID, func(dirEnt) bool { return true })
				_, _ = v.xattrs(s, k.ObjectID)
			case typeInodeRef:
				_, _ = v.dirPath(s, k.ObjectID)
			case typeExtentData:
				if _, err := parseFileExtent(k, d, p, "fuzz"); err == nil {
					fs := newFS(v, s, "fuzz")
					if it, err := v.inode(s, k.ObjectID); err == nil && it.Size < 1<<20 {
						if fl, err := fs.openInode(&inode{sv: s, ino: k.ObjectID, item: it}); err == nil {
							buf := make([]byte, it.Size)
							_, _ = fl.ReadAt(buf, 0)
						}
					}
				}
			case typeRootItem, typeRootRef, typeRootBackref:
				_, _ = parseRootRef(d, p)
				_, _, _ = v.readRoot(k.ObjectID)
			case typeChunkItem:
				_, _ = v.addChunk(k, d, p)
			case typeExtentCsum:
				_, _ = v.dataCsums(k.Offset, 4)
			}
			return true, nil
		})
	})
}

// FuzzLZO feeds btrfs LZO framing and raw LZO1X streams to the
// decompressors: they must end, never write past their bound, and never
// panic.
func FuzzLZO(f *testing.F) {
	stream := append([]byte{17 + 3, 'a', 'b', 'c', 0xA8, 0x00}, 0x11, 0, 0)
	framed := binary.LittleEndian.AppendUint32(nil, uint32(8+len(stream)))
	framed = binary.LittleEndian.AppendUint32(framed, uint32(len(stream)))
	framed = append(framed, stream...)
	f.Add(framed, uint16(9))
	f.Fuzz(func(t *testing.T, in []byte, ram uint16) {
		out, err := btrfsLZO(in, int(ram), 4096)
		if err == nil && len(out) > int(ram) {
			t.Fatalf("%d bytes out, bound %d", len(out), ram)
		}
		raw, _ := lzo1xDecompress(nil, in, int(ram))
		if len(raw) > int(ram) {
			t.Fatalf("%d raw bytes out, bound %d", len(raw), ram)
		}
	})
}
