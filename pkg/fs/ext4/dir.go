package ext4

import (
	"fmt"

	"github.com/imgprep/imgprep/pkg/fs"
)

// dirent is one parsed directory entry, including unused ones (ino 0).
type dirent struct {
	ino     uint32
	recLen  int
	nameLen int
	ftype   uint8
	name    string
	off     int // offset of the entry in its block or region
}

// Directory file types (ext4_dir_entry_2.file_type).
const (
	ftUnknown = 0
	ftRegular = 1
	ftDir     = 2
	ftChr     = 3
	ftBlk     = 4
	ftFifo    = 5
	ftSock    = 6
	ftSymlink = 7
)

func ftToType(t uint8) fs.FileType {
	switch t {
	case ftRegular:
		return fs.TypeRegular
	case ftDir:
		return fs.TypeDir
	case ftChr:
		return fs.TypeChar
	case ftBlk:
		return fs.TypeBlock
	case ftFifo:
		return fs.TypeFIFO
	case ftSock:
		return fs.TypeSocket
	case ftSymlink:
		return fs.TypeSymlink
	}
	return fs.TypeUnknown
}

// recLenFromDisk decodes rec_len as ext4_rec_len_from_disk does for
// 64 KiB blocks.
func recLenFromDisk(v uint16, blockSize int) int {
	if blockSize >= 65536 && (v == 65535 || v == 0) {
		return 65536
	}
	return int(v)
}

func recLenToDisk(n int) uint16 {
	if n >= 65536 {
		return 65535
	}
	return uint16(n)
}

// walkDirEntries checks the entries filling region b (a directory block,
// or one of the two regions of an inline directory) and calls fn for each
// with its name bytes, valid during the call only; fn returns true to
// stop. Every rec_len must be a multiple of 4, hold its name, and the
// entries must tile b exactly (checked up to where fn stops).
func walkDirEntries(b []byte, filetype bool, blockSize int, fn func(e *dirent, name []byte) bool) error {
	var e dirent // reused: fn must copy what it keeps
	for off := 0; off < len(b); {
		if off+dirEntryHeaderSize > len(b) {
			return fmt.Errorf("entry at %d: header past the end of the %d-byte block", off, len(b))
		}
		e = dirent{off: off, ino: le.Uint32(b[off:])}
		e.recLen = recLenFromDisk(le.Uint16(b[off+4:]), blockSize)
		if filetype {
			e.nameLen, e.ftype = int(b[off+6]), b[off+7]
		} else {
			e.nameLen = int(le.Uint16(b[off+6:]))
		}
		if e.recLen < dirEntryHeaderSize || e.recLen%4 != 0 || off+e.recLen > len(b) {
			return fmt.Errorf("entry at %d: rec_len %d", off, e.recLen)
		}
		if dirEntryHeaderSize+e.nameLen > e.recLen || e.nameLen > maxNameLen {
			return fmt.Errorf("entry at %d: name_len %d in rec_len %d", off, e.nameLen, e.recLen)
		}
		var name []byte
		if e.ino != 0 {
			if e.nameLen == 0 {
				return fmt.Errorf("entry at %d: inode %d with an empty name", off, e.ino)
			}
			name = b[off+dirEntryHeaderSize : off+dirEntryHeaderSize+e.nameLen]
		}
		if fn(&e, name) {
			return nil
		}
		off += e.recLen
	}
	return nil
}

// parseDirEntries parses and checks every entry filling region b.
func parseDirEntries(b []byte, filetype bool, blockSize int) ([]dirent, error) {
	var out []dirent
	err := walkDirEntries(b, filetype, blockSize, func(e *dirent, name []byte) bool {
		e.name = string(name)
		out = append(out, *e)
		return false
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// hasDirTail reports whether block b ends with a checksum tail entry.
func hasDirTail(b []byte) bool {
	t := b[len(b)-dirTailSize:]
	return le.Uint32(t) == 0 && le.Uint16(t[4:]) == dirTailSize && t[6] == 0 && t[7] == dirTailFT
}

// dirLoc says where a directory entry lives, for changing it.
type dirLoc struct {
	lblk   uint32 // logical block (block directories)
	pblk   uint64 // physical block, 0 for an inline directory
	region int    // inline directory: 0 i_block, 1 system.data
	prev   int    // offset of the previous entry in the same block, -1 if first
}

// isDxNode reports whether logical block lblk of directory in, holding b,
// is an htree interior node rather than a leaf.
func (f *FS) isDxNode(in *inode, lblk uint32, b []byte) bool {
	if !in.flag(inodeFlagIndex) || len(b) < 8 {
		return false
	}
	if lblk == 0 {
		return true
	}
	return le.Uint32(b) == 0 && recLenFromDisk(le.Uint16(b[4:]), int(f.blockSize)) == int(f.blockSize)
}

// readDirBlock reads directory block pblk (logical lblk) into buf,
// verifies its leaf or htree checksum, and parses and checks every entry.
func (f *FS) readDirBlock(in *inode, lblk uint32, pblk uint64, buf []byte) ([]dirent, error) {
	region, err := f.readDirRegion(in, lblk, pblk, buf)
	if err != nil {
		return nil, err
	}
	ents, err := parseDirEntries(region, f.filetype, int(f.blockSize))
	if err != nil {
		return nil, corrupt(int64(pblk)*f.blockSize, fmt.Sprintf("directory block %d of inode %d", lblk, in.ino), "%v", err)
	}
	return ents, nil
}

// readDirRegion reads directory block pblk (logical lblk) into buf,
// verifies its leaf or htree checksum, and returns the region holding
// entries (the block without its checksum tail), not yet parsed.
func (f *FS) readDirRegion(in *inode, lblk uint32, pblk uint64, buf []byte) ([]byte, error) {
	if err := f.readBlock(pblk, buf); err != nil {
		return nil, err
	}
	off := int64(pblk) * f.blockSize
	what := fmt.Sprintf("directory block %d of inode %d", lblk, in.ino)
	dx := f.isDxNode(in, lblk, buf)
	region := buf
	if f.metadataCsum && !dx && hasDirTail(buf) {
		region = buf[:len(buf)-dirTailSize]
		want := crc32c(f.inodeSeed(in.ino, in.d.Generation), region)
		if got := le.Uint32(buf[len(buf)-4:]); got != want {
			return nil, badChecksum(off, what, got, want)
		}
	}
	if dx && f.metadataCsum {
		if err := f.verifyDxNode(in, lblk, buf); err != nil {
			return nil, corruptAt(err, off, what)
		}
	}
	return region, nil
}

// corruptAt turns a parse error into a *CorruptError, keeping an existing
// one.
func corruptAt(err error, off int64, what string) error {
	if ce, ok := err.(*CorruptError); ok {
		if ce.Offset < 0 {
			ce.Offset, ce.Structure = off, what
		}
		return ce
	}
	return corrupt(off, what, "%v", err)
}

// forEachDirent calls fn for every used entry of directory in, including
// "." and "..", with where it lives. fn returns true to stop.
func (f *FS) forEachDirent(in *inode, fn func(e *dirent, loc dirLoc) bool) error {
	return f.scanDirents(in, func(e *dirent, name []byte, loc dirLoc) bool {
		e.name = string(name)
		return fn(e, loc)
	})
}

// scanDirents is forEachDirent giving the name as bytes valid during the
// call, so that a lookup allocates nothing per entry.
func (f *FS) scanDirents(in *inode, fn func(e *dirent, name []byte, loc dirLoc) bool) error {
	if !in.isDir() {
		return fs.ErrNotDir
	}
	if in.flag(inodeFlagInlineData) {
		return f.forEachInlineDirent(in, func(e *dirent, loc dirLoc) bool {
			return fn(e, []byte(e.name), loc)
		})
	}
	m, err := f.mapper(in)
	if err != nil {
		return err
	}
	size := in.size()
	if size%f.blockSize != 0 || size > int64(f.blocksCount)*f.blockSize {
		return corrupt(f.inodeOffset(in.ino), fmt.Sprintf("inode %d", in.ino), "directory size %d", size)
	}
	nblocks := min(uint64(size/f.blockSize), 1<<32)
	// A directory cannot hold more blocks than i_blocks counts: a size
	// claiming more over a map of holes ends there.
	budget := f.blocks512(in) * 512 / uint64(f.blockSize)
	buf := make([]byte, f.blockSize)
	for l := uint64(0); l < nblocks; {
		pblk, run, err := m.lookup(uint32(l))
		if err != nil {
			return err
		}
		if pblk == 0 {
			l += max(run, 1)
			continue
		}
		if budget == 0 {
			return corrupt(f.inodeOffset(in.ino), fmt.Sprintf("inode %d", in.ino),
				"directory maps more blocks than its i_blocks %d", f.blocks512(in))
		}
		budget--
		region, err := f.readDirRegion(in, uint32(l), pblk, buf)
		if err != nil {
			return err
		}
		prev, stop := -1, false
		err = walkDirEntries(region, f.filetype, int(f.blockSize), func(e *dirent, name []byte) bool {
			if e.ino != 0 && fn(e, name, dirLoc{lblk: uint32(l), pblk: pblk, prev: prev}) {
				stop = true
				return true
			}
			prev = e.off
			return false
		})
		if err != nil {
			return corrupt(int64(pblk)*f.blockSize, fmt.Sprintf("directory block %d of inode %d", l, in.ino), "%v", err)
		}
		if stop {
			return nil
		}
		l++
	}
	return nil
}

// lookup finds name in directory in: through the htree index when the
// directory has one, else (and whenever the index does not lead to the
// name) by scanning every block, which is always correct.
func (f *FS) lookup(in *inode, name string) (*dirent, dirLoc, error) {
	if in.flag(inodeFlagIndex) && !in.flag(inodeFlagInlineData) && name != "." && name != ".." {
		if e, loc, ok := f.dxLookup(in, name); ok {
			return e, loc, nil
		}
	}
	var found *dirent
	var where dirLoc
	err := f.scanDirents(in, func(e *dirent, n []byte, loc dirLoc) bool {
		if string(n) == name { // compiled without allocating
			c := *e
			c.name = name
			found, where = &c, loc
			return true
		}
		return false
	})
	if err != nil {
		return nil, where, err
	}
	if found == nil {
		return nil, where, fs.ErrNotExist
	}
	return found, where, nil
}

// dxNode is a parsed htree root or interior node.
type dxNode struct {
	levels   int // root only: indirect levels
	countOff int // offset of dx_countlimit
	limit    int
	count    int
	entries  []DxEntry // entries[0].Hash is unused (the count/limit)
}

// parseDxNode parses an htree root (root true) or interior node in block
// b of a filesystem with or without metadata_csum.
func parseDxNode(b []byte, root bool, csum bool) (*dxNode, error) {
	n := &dxNode{}
	if root {
		if len(b) < 32+dxEntrySize {
			return nil, fmt.Errorf("root of %d bytes", len(b))
		}
		var info DxRootInfo
		decode(b[dxRootInfoOffset:], &info)
		if info.InfoLength != 8 {
			return nil, fmt.Errorf("dx_root_info length %d", info.InfoLength)
		}
		if info.IndirectLevels > 3 { // 3 with large_dir
			return nil, fmt.Errorf("%d indirect levels", info.IndirectLevels)
		}
		n.levels = int(info.IndirectLevels)
		n.countOff = dxRootInfoOffset + 8
	} else {
		n.countOff = 8
	}
	room := len(b) - n.countOff
	if csum {
		room -= dxTailSize
	}
	if room < dxEntrySize {
		return nil, fmt.Errorf("no room for entries")
	}
	var cl DxCountLimit
	decode(b[n.countOff:], &cl)
	n.limit, n.count = int(cl.Limit), int(cl.Count)
	if n.limit != room/dxEntrySize {
		return nil, fmt.Errorf("limit %d, room for %d", n.limit, room/dxEntrySize)
	}
	if n.count == 0 || n.count > n.limit {
		return nil, fmt.Errorf("count %d, limit %d", n.count, n.limit)
	}
	n.entries = make([]DxEntry, n.count)
	for i := range n.entries {
		decode(b[n.countOff+i*dxEntrySize:], &n.entries[i])
	}
	return n, nil
}

// verifyDxNode checks the dx_tail checksum of htree node lblk.
func (f *FS) verifyDxNode(in *inode, lblk uint32, b []byte) error {
	n, err := parseDxNode(b, lblk == 0, true)
	if err != nil {
		return err
	}
	t := n.countOff + n.limit*dxEntrySize
	tail := b[t : t+dxTailSize]
	want := dxChecksum(f.inodeSeed(in.ino, in.d.Generation), b, n.countOff, n.count, tail)
	if got := le.Uint32(tail[4:]); got != want {
		return badChecksum(-1, "htree node", got, want)
	}
	return nil
}

// dxLookup looks name up in the one leaf its hash selects (dxPath). ok
// false means only that the name was not seen there; the caller then
// scans the whole directory, so a damaged index or a hash collision
// continued in the next leaf costs time, never a wrong answer.
func (f *FS) dxLookup(in *inode, name string) (*dirent, dirLoc, bool) {
	m, err := f.mapper(in)
	if err != nil {
		return nil, dirLoc{}, false
	}
	path, _, ok, err := f.dxPath(in, m, name)
	if err != nil || !ok || len(path) == 0 {
		return nil, dirLoc{}, false
	}
	leaf := path[len(path)-1].lblk
	pblk, _, err := m.lookup(leaf)
	if err != nil || pblk == 0 {
		return nil, dirLoc{}, false
	}
	region, err := f.readDirRegion(in, leaf, pblk, make([]byte, f.blockSize))
	if err != nil {
		return nil, dirLoc{}, false
	}
	var found *dirent
	var loc dirLoc
	prev := -1
	err = walkDirEntries(region, f.filetype, int(f.blockSize), func(e *dirent, n []byte) bool {
		if e.ino != 0 && string(n) == name {
			c := *e
			c.name = name
			found, loc = &c, dirLoc{lblk: leaf, pblk: pblk, prev: prev}
			return true
		}
		prev = e.off
		return false
	})
	if err != nil || found == nil {
		return nil, dirLoc{}, false
	}
	return found, loc, true
}
