package ext4

import (
	"fmt"
	"sort"
)

// Adding to an htree directory. The name's hash selects one leaf through
// the root (and, with indirect_levels 1 or 2, interior nodes). A leaf with
// room takes the entry. A full leaf is split as the kernel's do_split
// does: its entries sorted by hash, the upper half moved to a new block
// appended to the directory, and an index entry for the new block (its
// first hash, with the low "continued" bit set when that hash also ends
// the lower half) inserted after the old leaf's. A full interior node is
// split the same way into the root. When the root itself is full, the
// caller drops the index instead (dropIndex).

// dxLevel is one node on the path from the root to a leaf.
type dxLevel struct {
	lblk uint32
	pblk uint64
	b    []byte
	node *dxNode
	at   int // index of the entry followed
}

// dxPath walks from the root of dir to the leaf for hash. ok is false
// when the index is not one this package can follow (unknown hash
// version, a node that does not parse).
func (f *FS) dxPath(dir *inode, m blockMapper, name string) (path []dxLevel, hash uint32, ok bool, err error) {
	read := func(l uint32) (uint64, []byte, error) {
		if uint64(l) >= uint64(dir.size()/f.blockSize) {
			return 0, nil, corrupt(f.inodeOffset(dir.ino), fmt.Sprintf("htree of inode %d", dir.ino), "points to block %d past the end", l)
		}
		p, _, err := m.lookup(l)
		if err != nil {
			return 0, nil, err
		}
		if p == 0 {
			return 0, nil, corrupt(f.inodeOffset(dir.ino), fmt.Sprintf("htree of inode %d", dir.ino), "block %d is a hole", l)
		}
		b := make([]byte, f.blockSize)
		return p, b, f.readBlock(p, b)
	}
	p, b, err := read(0)
	if err != nil {
		return nil, 0, false, err
	}
	node, perr := parseDxNode(b, true, f.metadataCsum)
	if perr != nil {
		return nil, 0, false, nil
	}
	hash, known := dxHash([]byte(name), f.dxHashVersion(b[dxRootInfoOffset+4]), f.sb.HashSeed)
	if !known {
		return nil, 0, false, nil
	}
	levels := node.levels
	lvl := dxLevel{lblk: 0, pblk: p, b: b, node: node}
	for depth := 0; ; depth++ {
		lvl.at = 0
		for j := 1; j < len(lvl.node.entries); j++ {
			if lvl.node.entries[j].Hash > hash {
				break
			}
			lvl.at = j
		}
		path = append(path, lvl)
		next := lvl.node.entries[lvl.at].Block
		for _, p := range path {
			if next == p.lblk {
				return nil, 0, false, corrupt(int64(lvl.pblk)*f.blockSize, fmt.Sprintf("htree of inode %d", dir.ino),
					"entry %d points back to node block %d", lvl.at, next)
			}
		}
		if depth == levels {
			path = append(path, dxLevel{lblk: next})
			return path, hash, true, nil
		}
		p, b, err := read(next)
		if err != nil {
			return nil, 0, false, err
		}
		n, perr := parseDxNode(b, false, f.metadataCsum)
		if perr != nil {
			return nil, 0, false, nil
		}
		lvl = dxLevel{lblk: next, pblk: p, b: b, node: n}
	}
}

// addDxDirent adds the entry to the leaf its hash selects, splitting the
// leaf (and an interior node) when full. It reports false, having changed
// nothing, when the index cannot take it and must be dropped.
func (f *FS) addDxDirent(dir *inode, name string, ino uint32, ft uint8) (bool, error) {
	m, err := f.mapper(dir)
	if err != nil {
		return false, err
	}
	path, hash, ok, err := f.dxPath(dir, m, name)
	if err != nil || !ok {
		return false, err
	}
	leaf := &path[len(path)-1]
	if leaf.pblk, _, err = m.lookup(leaf.lblk); err != nil {
		return false, err
	}
	if leaf.pblk == 0 || uint64(leaf.lblk) >= uint64(dir.size()/f.blockSize) {
		return false, corrupt(f.inodeOffset(dir.ino), fmt.Sprintf("htree of inode %d", dir.ino), "leaf block %d missing", leaf.lblk)
	}
	buf := make([]byte, f.blockSize)
	ents, err := f.readDirBlock(dir, leaf.lblk, leaf.pblk, buf)
	if err != nil {
		return false, err
	}
	if f.fitDirent(buf, ents, ino, name, ft) {
		return true, f.writeDirBlock(dir, leaf.pblk, buf)
	}
	// The leaf is full. Room for the new index entry: the parent, or
	// after splitting the parent, the grandparent.
	// The root is never split: some node on the way up must have room.
	room := false
	for i := len(path) - 2; i >= 0 && !room; i-- {
		room = path[i].node.count < path[i].node.limit
	}
	if !room {
		if path[0].node.levels != 0 {
			return false, nil
		}
		// A full single-level root: add a level, then split. (The
		// caller has checked the room to grow: checkCreateSpace.)
		if err := f.dxAddLevel(dir, &path[0]); err != nil {
			return false, err
		}
		return f.addDxDirent(dir, name, ino, ft)
	}
	return true, f.splitLeaf(dir, path, ents, hash, dirent{ino: ino, name: name, nameLen: len(name), ftype: ft})
}

// hashedEnt is a live leaf entry with its name's hash.
type hashedEnt struct {
	e    dirent
	hash uint32
}

// splitLeaf splits the full leaf at the end of path (parsed as ents),
// adds e to the half its hash belongs in, and records the new leaf in the
// parent (splitting full interior nodes up to one with room).
func (f *FS) splitLeaf(dir *inode, path []dxLevel, ents []dirent, hash uint32, e dirent) error {
	version := f.dxHashVersion(path[0].b[dxRootInfoOffset+4])
	var hs []hashedEnt
	for _, d := range ents {
		if d.ino == 0 {
			continue
		}
		h, _ := dxHash([]byte(d.name), version, f.sb.HashSeed)
		hs = append(hs, hashedEnt{d, h})
	}
	if len(hs) < 2 {
		return corrupt(f.inodeOffset(dir.ino), fmt.Sprintf("htree of inode %d", dir.ino), "full leaf of %d entries", len(hs))
	}
	sort.SliceStable(hs, func(i, j int) bool { return hs[i].hash < hs[j].hash })
	// Split in the middle by size; if the new entry does not fit the half
	// it belongs to, move the split point away from it.
	total := 0
	for _, h := range hs {
		total += direntSize(h.e.nameLen)
	}
	mid, acc := 0, 0
	for mid < len(hs)-1 && acc+direntSize(hs[mid].e.nameLen) <= total/2 {
		acc += direntSize(hs[mid].e.nameLen)
		mid++
	}
	mid = max(mid, 1)
	var lower, upper []byte
	var splitHash uint32
	k, placed := 0, false
	for d := 0; d < len(hs) && !placed; d++ {
		for _, c := range []int{mid - d, mid + d} {
			if c < 1 || c > len(hs)-1 || placed {
				continue
			}
			k, splitHash = c, hs[c].hash
			lower, upper = f.leafBlock(hs[:k]), f.leafBlock(hs[k:])
			target := lower
			if hash >= splitHash {
				target = upper
			}
			tents, err := parseDirEntries(target[:f.leafSpace()], f.filetype, int(f.blockSize))
			if err != nil {
				return err
			}
			placed = f.fitDirent(target, tents, e.ino, e.name, e.ftype)
		}
	}
	if !placed {
		return corrupt(int64(path[len(path)-1].pblk)*f.blockSize, fmt.Sprintf("htree leaf of inode %d", dir.ino),
			"entry %q fits no half of the split leaf", e.name)
	}
	continued := uint32(0)
	if hs[k-1].hash == splitHash {
		continued = 1
	}
	nblocks := uint32(dir.size() / f.blockSize)
	newPblk, err := f.appendBlock(dir, nblocks)
	if err != nil {
		return err
	}
	dir.setSize(int64(nblocks+1) * f.blockSize)
	leaf := path[len(path)-1]
	if err := f.writeDirBlock(dir, leaf.pblk, lower); err != nil {
		return err
	}
	if err := f.writeDirBlock(dir, newPblk, upper); err != nil {
		return err
	}
	return f.dxInsert(dir, path[:len(path)-1], DxEntry{Hash: splitHash | continued, Block: nblocks})
}

// leafBlock lays hs out as a fresh leaf block, the last entry's rec_len
// reaching the checksum tail (or the block end).
func (f *FS) leafBlock(hs []hashedEnt) []byte {
	b := make([]byte, f.blockSize)
	off := 0
	for i, h := range hs {
		size := direntSize(h.e.nameLen)
		if i == len(hs)-1 {
			size = f.leafSpace() - off
		}
		f.putDirent(b, dirent{off: off, ino: h.e.ino, recLen: size, name: h.e.name, ftype: h.e.ftype})
		off += size
	}
	if f.metadataCsum {
		setDirTail(b)
	}
	return b
}

// dxInsert inserts x after the followed entry of the last node of path,
// splitting that node into its parent when it is full (the caller has
// checked the parent has room).
func (f *FS) dxInsert(dir *inode, path []dxLevel, x DxEntry) error {
	lvl := &path[len(path)-1]
	n := lvl.node
	ents := append(append(append([]DxEntry(nil), n.entries[:lvl.at+1]...), x), n.entries[lvl.at+1:]...)
	if len(ents) <= n.limit {
		return f.writeDxNode(dir, lvl, ents)
	}
	// Split the interior node: its upper half goes to a new block.
	half := len(ents) / 2
	nblocks := uint32(dir.size() / f.blockSize)
	pblk, err := f.appendBlock(dir, nblocks)
	if err != nil {
		return err
	}
	dir.setSize(int64(nblocks+1) * f.blockSize)
	upperHash := ents[half].Hash
	nb := make([]byte, f.blockSize)
	le.PutUint16(nb[4:], recLenToDisk(int(f.blockSize)))
	upper := &dxLevel{lblk: nblocks, pblk: pblk, b: nb, node: &dxNode{countOff: 8, limit: n.limit}}
	if err := f.writeDxNode(dir, upper, ents[half:]); err != nil {
		return err
	}
	if err := f.writeDxNode(dir, lvl, ents[:half]); err != nil {
		return err
	}
	return f.dxInsert(dir, path[:len(path)-1], DxEntry{Hash: upperHash, Block: nblocks})
}

// writeDxNode stores ents (ents[0].Hash unused) as the entries of node
// lvl, with count, limit and the dx_tail checksum, and writes it.
func (f *FS) writeDxNode(dir *inode, lvl *dxLevel, ents []DxEntry) error {
	n, b := lvl.node, lvl.b
	end := n.countOff + n.limit*dxEntrySize
	clear(b[n.countOff:end])
	le.PutUint16(b[n.countOff:], uint16(n.limit))
	le.PutUint16(b[n.countOff+2:], uint16(len(ents)))
	le.PutUint32(b[n.countOff+4:], ents[0].Block)
	for i := 1; i < len(ents); i++ {
		le.PutUint32(b[n.countOff+i*dxEntrySize:], ents[i].Hash)
		le.PutUint32(b[n.countOff+i*dxEntrySize+4:], ents[i].Block)
	}
	n.count, n.entries = len(ents), ents
	if f.metadataCsum {
		tail := b[end : end+dxTailSize]
		clear(tail)
		le.PutUint32(tail[4:], dxChecksum(f.inodeSeed(dir.ino, dir.d.Generation), b, n.countOff, n.count, tail))
	}
	return f.writeBlock(lvl.pblk, b)
}

// dxAddLevel moves the entries of the full root (indirect_levels 0) into
// a new interior node appended to dir, which becomes the root's only
// entry, and sets indirect_levels to 1, as the kernel's dx_insert path
// does when the root fills.
func (f *FS) dxAddLevel(dir *inode, root *dxLevel) error {
	nblocks := uint32(dir.size() / f.blockSize)
	pblk, err := f.appendBlock(dir, nblocks)
	if err != nil {
		return err
	}
	dir.setSize(int64(nblocks+1) * f.blockSize)
	nb := make([]byte, f.blockSize)
	le.PutUint16(nb[4:], recLenToDisk(int(f.blockSize)))
	room := int(f.blockSize) - 8
	if f.metadataCsum {
		room -= dxTailSize
	}
	child := &dxLevel{lblk: nblocks, pblk: pblk, b: nb, node: &dxNode{countOff: 8, limit: room / dxEntrySize}}
	if err := f.writeDxNode(dir, child, root.node.entries); err != nil {
		return err
	}
	root.b[dxRootInfoOffset+6] = 1 // indirect_levels
	root.node.levels = 1
	return f.writeDxNode(dir, root, []DxEntry{{Block: nblocks}})
}
