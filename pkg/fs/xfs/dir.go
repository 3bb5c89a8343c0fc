package xfs

import (
	"encoding/binary"
	"fmt"

	"github.com/imgprep/imgprep/pkg/fs"
)

// Directory layout constants (xfs_da_format.h).
const (
	dirLeafOffset   = 1 << 35 // XFS_DIR2_LEAF_OFFSET: leaf blocks start at 32 GiB
	dirFreeOffset   = 2 << 35 // XFS_DIR2_FREE_OFFSET
	dirNullDataptr  = 0
	dirFreeTag      = 0xffff
	dir3Leaf1Magic  = 0x3df1
	dir3LeafNMagic  = 0x3dff
	da3NodeMagic    = 0x3ebe
	maxNameLen      = 255
	maxDaLevels     = 5 // XFS_DA_NODE_MAXDEPTH
	dirLeafHdrSize  = 64
	daNodeHdrSize   = 64
	dirBlockTailLen = 8
)

// dirent is one directory entry as stored, "." and ".." included.
type dirent struct {
	name  string
	ino   uint64
	ftype uint8
}

// ftypeOf converts an xfs ftype (XFS_DIR3_FT_*) to fs.FileType.
func ftypeOf(t uint8) fs.FileType {
	switch t {
	case 1:
		return fs.TypeRegular
	case 2:
		return fs.TypeDir
	case 3:
		return fs.TypeChar
	case 4:
		return fs.TypeBlock
	case 5:
		return fs.TypeFIFO
	case 6:
		return fs.TypeSocket
	case 7:
		return fs.TypeSymlink
	}
	return fs.TypeUnknown
}

// dirHash is xfs_da_hashname.
func dirHash(name []byte) uint32 {
	rol := func(x uint32, n uint) uint32 { return x<<n | x>>(32-n) }
	var h uint32
	for ; len(name) >= 4; name = name[4:] {
		h = uint32(name[0])<<21 ^ uint32(name[1])<<14 ^ uint32(name[2])<<7 ^ uint32(name[3]) ^ rol(h, 7*4)
	}
	switch len(name) {
	case 3:
		return uint32(name[0])<<14 ^ uint32(name[1])<<7 ^ uint32(name[2]) ^ rol(h, 7*3)
	case 2:
		return uint32(name[0])<<7 ^ uint32(name[1]) ^ rol(h, 7*2)
	case 1:
		return uint32(name[0]) ^ rol(h, 7)
	}
	return h
}

// parseShortform decodes a shortform directory (xfs_dir2_sf_hdr and its
// entries) in the data fork; ".." carries the parent.
func (f *FS) parseShortform(in *inode) ([]dirent, error) {
	what := fmt.Sprintf("inode %d shortform directory", in.ino)
	b := in.data[:in.size()]
	if len(b) < 6 {
		return nil, f.corruptAt(in.off, what, "%d bytes", len(b))
	}
	count, i8 := int(b[0]), b[1]
	isz := 4
	if i8 != 0 {
		isz = 8
	}
	getIno := func(p []byte) uint64 {
		if isz == 8 {
			return binary.BigEndian.Uint64(p) & (1<<56 - 1)
		}
		return uint64(binary.BigEndian.Uint32(p))
	}
	if len(b) < 2+isz {
		return nil, f.corruptAt(in.off, what, "%d bytes", len(b))
	}
	out := []dirent{{".", in.ino, 2}, {"..", getIno(b[2:]), 2}}
	p := 2 + isz
	ft := 0
	if f.g.ftype {
		ft = 1
	}
	for i := 0; i < count; i++ {
		if p+3 > len(b) {
			return nil, f.corruptAt(in.off, what, "entry %d past the end", i)
		}
		nl := int(b[p])
		end := p + 3 + nl + ft + isz
		if nl == 0 || end > len(b) {
			return nil, f.corruptAt(in.off, what, "entry %d: name of %d bytes past the end", i, nl)
		}
		e := dirent{name: string(b[p+3 : p+3+nl]), ino: getIno(b[p+3+nl+ft:])}
		if ft == 1 {
			e.ftype = b[p+3+nl]
		}
		out = append(out, e)
		p = end
	}
	return out, nil
}

// dirGeom says which format a non-shortform directory has.
type dirFormat int

const (
	dirBlock dirFormat = iota
	dirLeaf
	dirNode
)

// dirMap is an open block/leaf/node directory.
type dirMap struct {
	f      *FS
	in     *inode
	m      *forkMap
	format dirFormat
}

func (f *FS) openDir(in *inode) (*dirMap, error) {
	ext, err := f.extents(in, 0)
	if err != nil {
		return nil, err
	}
	d := &dirMap{f: f, in: in, m: &forkMap{f: f, ext: ext}}
	dbs := uint64(f.g.dirBlkFSBs)
	leafFB := uint64(dirLeafOffset) >> f.g.blockLog
	var last uint64
	if len(ext) > 0 {
		l := ext[len(ext)-1]
		last = l.off + l.count
	}
	switch {
	case last == dbs && in.size() == int64(f.g.dirBlkSize):
		d.format = dirBlock
	case last == leafFB+dbs:
		d.format = dirLeaf
	default:
		d.format = dirNode
	}
	return d, nil
}

// readDirBlock reads directory block db (in directory-block units) from
// the fork's logical range, checking CRC, UUID, owner and block number.
// nil means the block is a hole.
func (d *dirMap) readDirBlock(fb uint64, what string) ([]byte, int64, error) {
	f := d.f
	b, mapped, err := d.m.readBlocks(fb, f.g.dirBlkFSBs, what)
	if err != nil || !mapped {
		return nil, 0, err
	}
	e := d.m.find(fb)
	if e == nil || e.unwritten {
		return nil, 0, f.corruptAt(d.in.off, what, "directory block at file block %d is partly mapped", fb)
	}
	off, _ := f.fsbOffset(e.start+fb-e.off, 1, what)
	return b, off, nil
}

// checkDir3Hdr checks the xfs_dir3_blk_hdr or xfs_da3_blkinfo of a
// directory block.
func (d *dirMap) checkHdr(b []byte, off int64, crcOff int, uuid [16]byte, owner, blkno uint64, what string) error {
	f := d.f
	if err := f.checkCRC(b, crcOff, off, what); err != nil {
		return err
	}
	if err := f.checkUUID(uuid, off, what); err != nil {
		return err
	}
	if owner != d.in.ino || blkno != uint64(off>>9) {
		return f.corruptAt(off, what, "owner %d, daddr %d (want inode %d, daddr %d)", owner, blkno, d.in.ino, off>>9)
	}
	return nil
}

// dataEntries decodes the entries of a data or block-format block. For a
// block-format block the leaf entries and tail are excluded. With want
// set (a byte offset inside the block), only the entry there is returned.
func (d *dirMap) dataEntries(b []byte, off int64, want int) ([]dirent, error) {
	f := d.f
	const what = "directory data block"
	var h dir3DataHeader
	if _, err := binary.Decode(b, binary.BigEndian, &h); err != nil {
		return nil, f.corruptAt(off, what, "short block")
	}
	end := len(b)
	switch string(h.Hdr.Magic[:]) {
	case "XDB3":
		count := binary.BigEndian.Uint32(b[len(b)-8:])
		if uint64(count) > uint64(len(b)-dir3DataHeaderSize-dirBlockTailLen)/8 {
			return nil, f.corruptAt(off, "directory block", "%d leaf entries", count)
		}
		end = len(b) - dirBlockTailLen - 8*int(count)
	case "XDD3":
	default:
		return nil, f.corruptAt(off, what, "bad magic %q", h.Hdr.Magic[:])
	}
	if err := d.checkHdr(b, off, dir3CRCOff, h.Hdr.UUID, h.Hdr.Owner, h.Hdr.BlkNo, what); err != nil {
		return nil, err
	}
	ft := 0
	if f.g.ftype {
		ft = 1
	}
	var out []dirent
	for p := dir3DataHeaderSize; p < end; {
		if p+8 > end {
			return nil, f.corruptAt(off, what, "entry at %d runs past %d", p, end)
		}
		if binary.BigEndian.Uint16(b[p:]) == dirFreeTag {
			l := int(binary.BigEndian.Uint16(b[p+2:]))
			if l < 8 || l%8 != 0 || p+l > end || int(binary.BigEndian.Uint16(b[p+l-2:])) != p {
				return nil, f.corruptAt(off, what, "free space at %d of %d bytes", p, l)
			}
			p += l
			continue
		}
		nl := int(b[p+8])
		l := (8 + 1 + nl + ft + 2 + 7) &^ 7
		if nl == 0 || p+l > end || int(binary.BigEndian.Uint16(b[p+l-2:])) != p {
			return nil, f.corruptAt(off, what, "entry at %d with a %d-byte name", p, nl)
		}
		if want < 0 || want == p {
			e := dirent{name: string(b[p+9 : p+9+nl]), ino: binary.BigEndian.Uint64(b[p:])}
			if ft == 1 {
				e.ftype = b[p+9+nl]
			}
			out = append(out, e)
		}
		p += l
	}
	return out, nil
}

// each calls fn for every entry of the directory, "." and ".."
// included, reading one data block below the leaf offset at a time,
// until fn returns false.
func (d *dirMap) each(fn func(dirent) bool) error {
	f := d.f
	leafFB := uint64(dirLeafOffset) >> f.g.blockLog
	dbs := uint64(f.g.dirBlkFSBs)
	done := int64(-1)
	for _, e := range d.m.ext {
		if e.off >= leafFB {
			break
		}
		for db := e.off / dbs; db*dbs < e.off+e.count && db*dbs < leafFB; db++ {
			if int64(db) <= done {
				continue
			}
			done = int64(db)
			b, off, err := d.readDirBlock(db*dbs, "directory data block")
			if err != nil {
				return err
			}
			if b == nil {
				continue
			}
			es, err := d.dataEntries(b, off, -1)
			if err != nil {
				return err
			}
			for _, e := range es {
				if !fn(e) {
					return nil
				}
			}
		}
	}
	return nil
}

// eachEntry calls fn for every entry of directory in until it returns
// false.
func (f *FS) eachEntry(in *inode, fn func(dirent) bool) error {
	if !in.isDir() {
		return fs.ErrNotDir
	}
	if in.d.Format == fmtLocal {
		es, err := f.parseShortform(in)
		if err != nil {
			return err
		}
		for _, e := range es {
			if !fn(e) {
				break
			}
		}
		return nil
	}
	d, err := f.openDir(in)
	if err != nil {
		return err
	}
	return d.each(fn)
}
