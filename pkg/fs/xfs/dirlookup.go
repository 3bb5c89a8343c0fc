package xfs

import (
	"encoding/binary"
	"sort"

	"github.com/imgprep/imgprep/pkg/fs"
)

// leafEnt is a directory leaf entry: a name's hash and where its data
// entry is (in 8-byte units of the directory's address space).
type leafEnt struct{ hash, addr uint32 }

// lookup finds name in directory in by its hash, as the kernel does:
// shortform directories are scanned; block directories search the leaf
// entries in the block's tail; leaf and node directories search the leaf
// blocks (below a dabtree for node directories).
func (f *FS) lookup(in *inode, name string) (dirent, error) {
	if !in.isDir() {
		return dirent{}, fs.ErrNotDir
	}
	if in.d.Format == fmtLocal || f.g.asciiCI || name == "." || name == ".." {
		found, ok := dirent{}, false
		err := f.eachEntry(in, func(e dirent) bool {
			found, ok = e, e.name == name
			return !ok
		})
		if err != nil {
			return dirent{}, err
		}
		if !ok {
			return dirent{}, fs.ErrNotExist
		}
		return found, nil
	}
	d, err := f.openDir(in)
	if err != nil {
		return dirent{}, err
	}
	hash := dirHash([]byte(name))
	var cands []leafEnt
	switch d.format {
	case dirBlock:
		b, off, err := d.readDirBlock(0, "directory block")
		if err != nil {
			return dirent{}, err
		}
		if b == nil {
			return dirent{}, f.corruptAt(in.off, "directory block", "block 0 unmapped")
		}
		if _, err := d.dataEntries(b, off, 0); err != nil { // checks the block
			return dirent{}, err
		}
		count := int(binary.BigEndian.Uint32(b[len(b)-8:]))
		ents := b[len(b)-8-8*count : len(b)-8]
		cands = matching(ents, count, hash)
	case dirLeaf:
		ents, count, _, err := d.leafBlock(uint64(dirLeafOffset)>>f.g.blockLog, dir3Leaf1Magic)
		if err != nil {
			return dirent{}, err
		}
		cands = matching(ents, count, hash)
	case dirNode:
		if cands, err = d.nodeLookup(hash); err != nil {
			return dirent{}, err
		}
	}
	for _, c := range cands {
		if c.addr == dirNullDataptr {
			continue
		}
		byteOff := uint64(c.addr) << 3
		db := byteOff / uint64(f.g.dirBlkSize)
		if byteOff >= dirLeafOffset {
			return dirent{}, f.corruptAt(in.off, "directory leaf", "address 0x%x past the data space", c.addr)
		}
		b, off, err := d.readDirBlock(db*uint64(f.g.dirBlkFSBs), "directory data block")
		if err != nil {
			return dirent{}, err
		}
		if b == nil {
			return dirent{}, f.corruptAt(in.off, "directory leaf", "address 0x%x in a hole", c.addr)
		}
		es, err := d.dataEntries(b, off, int(byteOff%uint64(f.g.dirBlkSize)))
		if err != nil {
			return dirent{}, err
		}
		if len(es) != 1 {
			return dirent{}, f.corruptAt(off, "directory leaf", "address 0x%x is not an entry", c.addr)
		}
		if es[0].name == name {
			return es[0], nil
		}
	}
	return dirent{}, fs.ErrNotExist
}

// matching returns the leaf entries (count of them in ents) whose hash is
// hash; the entries are sorted by hash.
func matching(ents []byte, count int, hash uint32) []leafEnt {
	i := sort.Search(count, func(i int) bool { return binary.BigEndian.Uint32(ents[8*i:]) >= hash })
	var out []leafEnt
	for ; i < count && binary.BigEndian.Uint32(ents[8*i:]) == hash; i++ {
		out = append(out, leafEnt{hash, binary.BigEndian.Uint32(ents[8*i+4:])})
	}
	return out
}

// leafBlock reads the leaf block at file block fb with the given magic
// (leaf1 or leafn) and returns its entries, their count and its forward
// sibling (a directory block number).
func (d *dirMap) leafBlock(fb uint64, magic uint16) ([]byte, int, uint32, error) {
	f := d.f
	const what = "directory leaf block"
	b, off, err := d.readDirBlock(fb, what)
	if err != nil {
		return nil, 0, 0, err
	}
	if b == nil {
		return nil, 0, 0, f.corruptAt(d.in.off, what, "file block %d unmapped", fb)
	}
	var h dir3LeafHeader
	if _, err := binary.Decode(b, binary.BigEndian, &h); err != nil || h.Info.Magic != magic {
		return nil, 0, 0, f.corruptAt(off, what, "bad magic 0x%x (want 0x%x)", h.Info.Magic, magic)
	}
	if err := d.checkHdr(b, off, da3CRCOff, h.Info.UUID, h.Info.Owner, h.Info.BlkNo, what); err != nil {
		return nil, 0, 0, err
	}
	space := len(b) - dirLeafHdrSize
	if magic == dir3Leaf1Magic {
		best := int(binary.BigEndian.Uint32(b[len(b)-4:]))
		if best > space/2 {
			return nil, 0, 0, f.corruptAt(off, what, "%d bests", best)
		}
		space -= 4 + 2*best
	}
	if int(h.Count) > space/8 || h.Stale > h.Count {
		return nil, 0, 0, f.corruptAt(off, what, "%d entries (%d stale)", h.Count, h.Stale)
	}
	return b[dirLeafHdrSize:], int(h.Count), h.Info.Forw, nil
}

// nodeLookup descends the dabtree of a node directory to the leaves that
// can hold hash and collects the matching entries, following forward
// siblings while the hash continues.
func (d *dirMap) nodeLookup(hash uint32) ([]leafEnt, error) {
	f := d.f
	// Dabtree pointers and siblings are file block numbers (xfs_dablk_t).
	leafFB := uint64(dirLeafOffset) >> f.g.blockLog
	freeFB := uint64(dirFreeOffset) >> f.g.blockLog
	db := leafFB
	for depth := 0; ; depth++ {
		if depth > maxDaLevels {
			return nil, f.corruptAt(d.in.off, "directory node", "dabtree deeper than %d", maxDaLevels)
		}
		b, off, err := d.readDirBlock(db, "directory node block")
		if err != nil {
			return nil, err
		}
		if b == nil {
			return nil, f.corruptAt(d.in.off, "directory node", "directory block %d unmapped", db)
		}
		var h da3NodeHeader
		if _, err := binary.Decode(b, binary.BigEndian, &h); err != nil {
			return nil, f.corruptAt(off, "directory node block", "short")
		}
		if h.Info.Magic == dir3LeafNMagic {
			break
		}
		if h.Info.Magic != da3NodeMagic {
			return nil, f.corruptAt(off, "directory node block", "bad magic 0x%x", h.Info.Magic)
		}
		if err := d.checkHdr(b, off, da3CRCOff, h.Info.UUID, h.Info.Owner, h.Info.BlkNo, "directory node block"); err != nil {
			return nil, err
		}
		if h.Count == 0 || int(h.Count) > (len(b)-daNodeHdrSize)/8 || h.Level == 0 || int(h.Level) > maxDaLevels {
			return nil, f.corruptAt(off, "directory node block", "%d entries at level %d", h.Count, h.Level)
		}
		ents := b[daNodeHdrSize:]
		n := int(h.Count)
		i := sort.Search(n, func(i int) bool { return binary.BigEndian.Uint32(ents[8*i:]) >= hash })
		if i == n {
			i = n - 1
		}
		next := uint64(binary.BigEndian.Uint32(ents[8*i+4:]))
		if next < leafFB || next >= freeFB {
			return nil, f.corruptAt(off, "directory node block", "child %d outside the leaf space", next)
		}
		db = next
	}
	var out []leafEnt
	seen := map[uint64]bool{}
	for {
		if seen[db] {
			return nil, f.corruptAt(d.in.off, "directory leaf", "sibling chain loops at block %d", db)
		}
		seen[db] = true
		ents, count, forw, err := d.leafBlock(db, dir3LeafNMagic)
		if err != nil {
			return nil, err
		}
		out = append(out, matching(ents, count, hash)...)
		if count == 0 || binary.BigEndian.Uint32(ents[8*(count-1):]) > hash || forw == 0 {
			return out, nil
		}
		if uint64(forw) < leafFB || uint64(forw) >= freeFB {
			return nil, f.corruptAt(d.in.off, "directory leaf", "forward sibling %d", forw)
		}
		db = uint64(forw)
	}
}
