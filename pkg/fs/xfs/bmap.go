package xfs

import (
	"encoding/binary"
	"fmt"
	"sort"
)

// extent is one decoded bmbt record (xfs_bmbt_rec): count blocks at file
// block off map to filesystem block start; unwritten extents read as
// zeros.
type extent struct {
	off       uint64
	start     uint64
	count     uint64
	unwritten bool
}

// decodeExtent unpacks the 128-bit record: flag:1, startoff:54,
// startblock:52, blockcount:21.
func decodeExtent(b []byte) extent {
	l0, l1 := binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:])
	return extent{
		unwritten: l0>>63 != 0,
		off:       (l0 & (1<<63 - 1)) >> 9,
		start:     (l0&(1<<9-1))<<43 | l1>>21,
		count:     l1 & (1<<21 - 1),
	}
}

// maxBmbtLevels bounds a bmbt's height (the kernel's is 9 with 64-bit
// extent counters).
const maxBmbtLevels = 10

// forkName names fork w of an inode for errors.
func forkName(w int) string {
	if w == 1 {
		return "attribute fork"
	}
	return "data fork"
}

// extents returns the extent map of fork w (0 data, 1 attribute) of in,
// sorted by file offset and checked: no overlaps, every extent inside
// the filesystem.
func (f *FS) extents(in *inode, w int) ([]extent, error) {
	format, lit, n := in.d.Format, in.data, in.nextents()
	if w == 1 {
		format, lit, n = uint8(in.d.AFormat), in.attr, in.anextents()
	}
	what := fmt.Sprintf("inode %d %s", in.ino, forkName(w))
	var out []extent
	switch format {
	case fmtExtents:
		if n > uint64(len(lit)/16) {
			return nil, f.corruptAt(in.off, what, "%d extents in a %d-byte fork", n, len(lit))
		}
		for i := uint64(0); i < n; i++ {
			out = append(out, decodeExtent(lit[16*i:]))
		}
	case fmtBtree:
		var err error
		if out, err = f.bmbtExtents(in, lit, n, what); err != nil {
			return nil, err
		}
	default:
		return nil, f.corruptAt(in.off, what, "format %d has no extents", format)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].off < out[j].off })
	var next uint64
	for i, e := range out {
		if e.count == 0 || e.off < next || e.off+e.count < e.off || e.off+e.count > 1<<54 {
			return nil, f.corruptAt(in.off, what, "extent %d at file block %d (+%d) overlaps or is empty", i, e.off, e.count)
		}
		if _, err := f.fsbOffset(e.start, e.count, what); err != nil {
			return nil, err
		}
		next = e.off + e.count
	}
	return out, nil
}

// bmbtExtents walks a bmbt whose root (xfs_bmdr_block) is the fork lit,
// collecting the leaf records. A tree may not claim more records than
// nextents or visit a block twice.
func (f *FS) bmbtExtents(in *inode, lit []byte, nextents uint64, what string) ([]extent, error) {
	if len(lit) < 4 {
		return nil, f.corruptAt(in.off, what, "bmbt root in %d bytes", len(lit))
	}
	level := binary.BigEndian.Uint16(lit)
	numrecs := int(binary.BigEndian.Uint16(lit[2:]))
	maxrecs := (len(lit) - 4) / 16
	if level == 0 || level > maxBmbtLevels || numrecs == 0 || numrecs > maxrecs {
		return nil, f.corruptAt(in.off, what, "bmbt root level %d with %d records (max %d)", level, numrecs, maxrecs)
	}
	if nextents > f.g.dblocks {
		return nil, f.corruptAt(in.off, what, "%d extents in a filesystem of %d blocks", nextents, f.g.dblocks)
	}
	ptrs := lit[4+8*maxrecs:]
	var out []extent
	seen := map[uint64]bool{}
	for i := 0; i < numrecs; i++ {
		if err := f.bmbtWalk(in, binary.BigEndian.Uint64(ptrs[8*i:]), int(level)-1, nextents, seen, &out, what); err != nil {
			return nil, err
		}
	}
	if uint64(len(out)) != nextents {
		return nil, f.corruptAt(in.off, what, "bmbt holds %d extents, inode says %d", len(out), nextents)
	}
	return out, nil
}

func (f *FS) bmbtWalk(in *inode, fsb uint64, level int, nextents uint64, seen map[uint64]bool, out *[]extent, what string) error {
	if seen[fsb] {
		return f.corruptAt(in.off, what, "bmbt block %d reached twice", fsb)
	}
	seen[fsb] = true
	b, err := f.readBlocks(fsb, 1, "bmbt block")
	if err != nil {
		return err
	}
	off, _ := f.fsbOffset(fsb, 1, "")
	var h lblockHeader
	if _, err := binary.Decode(b, binary.BigEndian, &h); err != nil || string(h.Magic[:]) != "BMA3" {
		return f.corruptAt(off, "bmbt block", "bad magic")
	}
	if err := f.checkCRC(b, lblockCRCOff, off, "bmbt block"); err != nil {
		return err
	}
	if err := f.checkUUID(h.UUID, off, "bmbt block"); err != nil {
		return err
	}
	maxrecs := (len(b) - lblockSize) / 16
	if h.Owner != in.ino || int(h.Level) != level || h.BlkNo != uint64(off>>9) || h.NumRecs == 0 || int(h.NumRecs) > maxrecs {
		return f.corruptAt(off, "bmbt block", "owner %d level %d (want %d and %d), daddr %d, %d records", h.Owner, h.Level, in.ino, level, h.BlkNo, h.NumRecs)
	}
	if level == 0 {
		if uint64(len(*out))+uint64(h.NumRecs) > nextents {
			return f.corruptAt(off, "bmbt block", "more extents than the inode's %d", nextents)
		}
		for i := 0; i < int(h.NumRecs); i++ {
			*out = append(*out, decodeExtent(b[lblockSize+16*i:]))
		}
		return nil
	}
	ptrs := b[lblockSize+8*maxrecs:]
	for i := 0; i < int(h.NumRecs); i++ {
		if err := f.bmbtWalk(in, binary.BigEndian.Uint64(ptrs[8*i:]), level-1, nextents, seen, out, what); err != nil {
			return err
		}
	}
	return nil
}

// forkMap is the extent map of one fork, for reads at file offsets.
type forkMap struct {
	f   *FS
	ext []extent
}

// find returns the extent holding file block fb, or nil.
func (m *forkMap) find(fb uint64) *extent {
	i := sort.Search(len(m.ext), func(i int) bool { return m.ext[i].off+m.ext[i].count > fb })
	if i < len(m.ext) && m.ext[i].off <= fb {
		return &m.ext[i]
	}
	return nil
}

// readBlocks reads n file blocks from fb; holes and unwritten extents
// read as zeros. ok is false when none of them is mapped.
func (m *forkMap) readBlocks(fb uint64, n int, what string) (buf []byte, mapped bool, err error) {
	bs := m.f.g.blockSize
	buf = make([]byte, n*bs)
	for i := 0; i < n; {
		e := m.find(fb + uint64(i))
		if e == nil {
			i++
			continue
		}
		k := min(uint64(n-i), e.off+e.count-(fb+uint64(i)))
		mapped = true
		if !e.unwritten {
			b, err := m.f.readBlocks(e.start+(fb+uint64(i)-e.off), k, what)
			if err != nil {
				return nil, false, err
			}
			copy(buf[i*bs:], b)
		}
		i += int(k)
	}
	return buf, mapped, nil
}
