package ext4

import (
	"fmt"

	"github.com/imgprep/imgprep/pkg/fs"
)

// Adding directory entries. An entry goes into the first gap that holds
// it: an unused entry (inode 0) or the slack after a live entry's name
// (its rec_len split in two). In an htree directory only the leaf the
// name's hash selects is tried; when that leaf is full the index is
// dropped (the root and interior nodes become empty linear blocks, as the
// format allows) and the directory is searched linearly. With no gap, a
// new block is appended. Inline directories take the entry in i_block or
// the system.data value when it fits, else they are moved to a block.

// direntSize is the space an entry with a name of n bytes takes.
func direntSize(n int) int { return (dirEntryHeaderSize + n + 3) &^ 3 }

// putDirent writes entry e (its ino, rec_len, name and file type) at
// b[e.off:].
func (f *FS) putDirent(b []byte, e dirent) {
	off, ino, recLen, name, ft := e.off, e.ino, e.recLen, e.name, e.ftype
	le.PutUint32(b[off:], ino)
	le.PutUint16(b[off+4:], recLenToDisk(recLen))
	if f.filetype {
		b[off+6], b[off+7] = byte(len(name)), ft
	} else {
		le.PutUint16(b[off+6:], uint16(len(name)))
	}
	n := copy(b[off+dirEntryHeaderSize:], name)
	clear(b[off+dirEntryHeaderSize+n : off+direntSize(len(name))])
}

// fitDirent places the entry in the first gap of region b (parsed as
// ents) that holds it and reports whether it did.
func (f *FS) fitDirent(b []byte, ents []dirent, ino uint32, name string, ft uint8) bool {
	need := direntSize(len(name))
	for _, e := range ents {
		if e.ino == 0 {
			if e.recLen >= need {
				f.putDirent(b, dirent{off: e.off, ino: ino, recLen: e.recLen, name: name, ftype: ft})
				return true
			}
			continue
		}
		used := direntSize(e.nameLen)
		if e.recLen-used >= need {
			le.PutUint16(b[e.off+4:], recLenToDisk(used))
			f.putDirent(b, dirent{off: e.off + used, ino: ino, recLen: e.recLen - used, name: name, ftype: ft})
			return true
		}
	}
	return false
}

// setDirTail writes the checksum tail entry at the end of block b (the
// checksum itself is set by writeDirBlock).
func setDirTail(b []byte) {
	t := b[len(b)-dirTailSize:]
	clear(t)
	le.PutUint16(t[4:], dirTailSize)
	t[7] = dirTailFT
}

// leafSpace is the room for entries in a directory leaf block.
func (f *FS) leafSpace() int {
	if f.metadataCsum {
		return int(f.blockSize) - dirTailSize
	}
	return int(f.blockSize)
}

// addDirent links name to ino (file type ft) in directory dir. dir is
// changed in memory (size, blocks, flags); the caller updates its times
// and writes it.
func (f *FS) addDirent(dir *inode, name string, ino uint32, ft uint8) error {
	if !f.filetype {
		ft = 0
	}
	if dir.flag(inodeFlagInlineData) {
		ok, err := f.addInlineDirent(dir, name, ino, ft)
		if ok || err != nil {
			return err
		}
		if err := f.inlineDirToBlock(dir); err != nil {
			return err
		}
	}
	if dir.flag(inodeFlagIndex) {
		ok, err := f.addDxDirent(dir, name, ino, ft)
		if ok || err != nil {
			return err
		}
		if err := f.dropIndex(dir); err != nil {
			return err
		}
	}
	m, err := f.mapper(dir)
	if err != nil {
		return err
	}
	nblocks := uint64(dir.size() / f.blockSize)
	buf := make([]byte, f.blockSize)
	for l := uint64(0); l < nblocks; l++ {
		pblk, _, err := m.lookup(uint32(l))
		if err != nil {
			return err
		}
		if pblk == 0 {
			continue
		}
		ents, err := f.readDirBlock(dir, uint32(l), pblk, buf)
		if err != nil {
			return err
		}
		if f.fitDirent(buf, ents, ino, name, ft) {
			return f.writeDirBlock(dir, pblk, buf)
		}
	}
	if nblocks >= 1<<32-1 {
		return fmt.Errorf("%w: directory inode %d is at its largest", fs.ErrNoSpace, dir.ino)
	}
	pblk, err := f.appendBlock(dir, uint32(nblocks))
	if err != nil {
		return err
	}
	clear(buf)
	f.putDirent(buf, dirent{ino: ino, recLen: f.leafSpace(), name: name, ftype: ft})
	if f.metadataCsum {
		setDirTail(buf)
	}
	dir.setSize(int64(nblocks+1) * f.blockSize)
	return f.writeDirBlock(dir, pblk, buf)
}

// dxNodeBlocks returns the logical blocks of dir's htree root and
// interior nodes.
func (f *FS) dxNodeBlocks(dir *inode, m blockMapper) ([]uint32, error) {
	nodes := []uint32{0}
	b := make([]byte, f.blockSize)
	p, _, err := m.lookup(0)
	if err != nil || p == 0 {
		return nodes, err
	}
	if err := f.readBlock(p, b); err != nil {
		return nil, err
	}
	root, err := parseDxNode(b, true, f.metadataCsum)
	if err != nil || root.levels == 0 {
		return nodes, nil
	}
	frontier := root.entries
	for lvl := 0; lvl < root.levels; lvl++ {
		var next []DxEntry
		for _, e := range frontier {
			if uint64(e.Block) >= uint64(dir.size()/f.blockSize) || e.Block == 0 {
				continue
			}
			nodes = append(nodes, e.Block)
			if lvl+1 < root.levels {
				p, _, err := m.lookup(e.Block)
				if err != nil || p == 0 {
					continue
				}
				if err := f.readBlock(p, b); err != nil {
					return nil, err
				}
				if n, err := parseDxNode(b, false, f.metadataCsum); err == nil {
					next = append(next, n.entries...)
				}
			}
		}
		frontier = next
	}
	return nodes, nil
}

// dropIndex turns htree directory dir into a linear one: the root keeps
// "." and ".." (whose rec_len now ends at the checksum tail or the block
// end), interior nodes become empty leaf blocks, INDEX_FL is cleared.
func (f *FS) dropIndex(dir *inode) error {
	m, err := f.mapper(dir)
	if err != nil {
		return err
	}
	nodes, err := f.dxNodeBlocks(dir, m)
	if err != nil {
		return err
	}
	b := make([]byte, f.blockSize)
	for _, l := range nodes {
		p, _, err := m.lookup(l)
		if err != nil {
			return err
		}
		if p == 0 {
			continue
		}
		if l == 0 {
			if err := f.readBlock(p, b); err != nil {
				return err
			}
			dot := recLenFromDisk(le.Uint16(b[4:]), int(f.blockSize))
			if dot != 12 || le.Uint32(b[12:]) == 0 {
				return corrupt(int64(p)*f.blockSize, fmt.Sprintf("htree root of inode %d", dir.ino), "no '.' and '..' entries")
			}
			le.PutUint16(b[12+4:], recLenToDisk(f.leafSpace()-12))
			clear(b[12+direntSize(2) : f.leafSpace()])
		} else {
			clear(b)
			le.PutUint16(b[4:], recLenToDisk(f.leafSpace()))
		}
		if f.metadataCsum {
			setDirTail(b)
		}
		if err := f.writeDirBlock(dir, p, b); err != nil {
			return err
		}
	}
	dir.d.Flags &^= inodeFlagIndex
	return nil
}

// addInlineDirent places the entry in a gap of an inline directory.
func (f *FS) addInlineDirent(dir *inode, name string, ino uint32, ft uint8) (bool, error) {
	ib, extra, x, err := f.inlineData(dir)
	if err != nil {
		return false, err
	}
	for region, b := range [][]byte{ib[inlineDotdotSize:], extra} {
		if len(b) == 0 {
			continue
		}
		ents, err := parseDirEntries(b, f.filetype, int(f.blockSize))
		if err != nil {
			return false, corrupt(f.inodeOffset(dir.ino), fmt.Sprintf("inline directory inode %d", dir.ino), "%v", err)
		}
		if f.fitDirent(b, ents, ino, name, ft) {
			if region == 1 {
				f.rehashIbodyEntry(dir, x, extra)
			}
			dir.syncBlockFromRaw()
			return true, nil
		}
	}
	return false, nil
}

// inlineDirToBlock moves the entries of inline directory dir into a new
// directory block ("." and ".." first) and removes its system.data
// attribute, as the kernel's ext4_convert_inline_data_nolock.
func (f *FS) inlineDirToBlock(dir *inode) error {
	var ents []dirent
	err := f.forEachInlineDirent(dir, func(e *dirent, _ dirLoc) bool {
		ents = append(ents, *e)
		return false
	})
	if err != nil {
		return err
	}
	b := make([]byte, f.blockSize)
	off := 0
	for i, e := range ents {
		size := direntSize(len(e.name))
		if i == len(ents)-1 {
			size = f.leafSpace() - off
		}
		if off+size > f.leafSpace() {
			return corrupt(f.inodeOffset(dir.ino), fmt.Sprintf("inline directory inode %d", dir.ino), "entries do not fit one block")
		}
		f.putDirent(b, dirent{off: off, ino: e.ino, recLen: size, name: e.name, ftype: e.ftype})
		off += size
	}
	if f.metadataCsum {
		setDirTail(b)
	}
	if err := f.removeIbodyXattr(dir, 7, "data"); err != nil {
		return err
	}
	dir.d.Flags &^= inodeFlagInlineData
	dir.d.Block = [15]uint32{}
	clear(dir.iblock())
	dir.setSize(0)
	if f.sb.FeatureIncompat&incompatExtents != 0 {
		if _, err := f.buildExtentTree(dir, nil, 0); err != nil {
			return err
		}
	}
	pblk, err := f.appendBlock(dir, 0)
	if err != nil {
		return err
	}
	dir.setSize(f.blockSize)
	return f.writeDirBlock(dir, pblk, b)
}

// removeIbodyXattr drops the in-inode attribute (index, name) from in.raw,
// repacking the remaining entries and values. The caller writes in.
func (f *FS) removeIbodyXattr(in *inode, index uint8, name string) error {
	xs, err := f.ibodyXattrs(in)
	if err != nil {
		return err
	}
	area := ibodyXattrArea(in)
	if area == nil {
		return nil
	}
	type kept struct {
		x     xattr
		value []byte
	}
	var keep []kept
	for _, x := range xs {
		if x.index == index && x.name == name {
			continue
		}
		if x.valueInum != 0 {
			return fmt.Errorf("%w: xattr value in EA inode %d", ErrUnsupportedFeature, x.valueInum)
		}
		keep = append(keep, kept{x, append([]byte(nil), x.value...)})
	}
	clear(area)
	off, vend := 0, len(area)
	for _, k := range keep {
		vsize := (len(k.value) + 3) &^ 3
		vend -= vsize
		copy(area[vend:], k.value)
		var e XattrEntry
		e.NameLen, e.NameIndex = uint8(len(k.x.name)), k.x.index
		e.ValueSize, e.Hash = uint32(len(k.value)), k.x.hash
		e.ValueOffs = uint16(vend)
		if len(k.value) == 0 {
			e.ValueOffs = 0
		}
		encode(area[off:], &e)
		copy(area[off+xattrEntrySize:], k.x.name)
		off = (off + xattrEntrySize + len(k.x.name) + 3) &^ 3
	}
	return nil
}

// roomFor reports whether a gap among ents holds an entry of need bytes
// (fitDirent's rule, changing nothing).
func roomFor(ents []dirent, need int) bool {
	for _, e := range ents {
		if e.ino == 0 && e.recLen >= need || e.ino != 0 && e.recLen-direntSize(e.nameLen) >= need {
			return true
		}
	}
	return false
}

// direntFits reports, changing nothing, whether addDirent would place
// name in an existing gap of dir (no new block, split or index change).
func (f *FS) direntFits(dir *inode, name string) (bool, error) {
	need := direntSize(len(name))
	if dir.flag(inodeFlagInlineData) {
		ib, extra, _, err := f.inlineData(dir)
		if err != nil {
			return false, err
		}
		for _, b := range [][]byte{ib[inlineDotdotSize:], extra} {
			if len(b) == 0 {
				continue
			}
			ents, err := parseDirEntries(b, f.filetype, int(f.blockSize))
			if err != nil {
				return false, corrupt(f.inodeOffset(dir.ino), fmt.Sprintf("inline directory inode %d", dir.ino), "%v", err)
			}
			if roomFor(ents, need) {
				return true, nil
			}
		}
		return false, nil
	}
	m, err := f.mapper(dir)
	if err != nil {
		return false, err
	}
	buf := make([]byte, f.blockSize)
	if dir.flag(inodeFlagIndex) {
		path, _, ok, err := f.dxPath(dir, m, name)
		if err != nil || !ok {
			return false, err
		}
		leaf := path[len(path)-1].lblk
		pblk, _, err := m.lookup(leaf)
		if err != nil || pblk == 0 {
			return false, err
		}
		ents, err := f.readDirBlock(dir, leaf, pblk, buf)
		if err != nil {
			return false, err
		}
		return roomFor(ents, need), nil
	}
	nblocks := uint64(dir.size() / f.blockSize)
	for l := uint64(0); l < nblocks; l++ {
		pblk, _, err := m.lookup(uint32(l))
		if err != nil {
			return false, err
		}
		if pblk == 0 {
			continue
		}
		ents, err := f.readDirBlock(dir, uint32(l), pblk, buf)
		if err != nil {
			return false, err
		}
		if roomFor(ents, need) {
			return true, nil
		}
	}
	return false, nil
}
