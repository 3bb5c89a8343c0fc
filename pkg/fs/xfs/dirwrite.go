package xfs

import (
	"encoding/binary"
	"sort"
)

// blockRemove removes name from block-format directory d as
// xfs_dir2_block_removename does: its data entry becomes free space,
// merged with free neighbours, the bestfree table is rebuilt, and its
// leaf entry goes stale. It returns the inode the entry named; the caller
// records the block with record.
func (f *FS) blockRemove(d *dirMap, name string) (uint64, func(), error) {
	e := d.m.find(0)
	if e == nil || e.unwritten || e.off != 0 || e.count < uint64(f.g.dirBlkFSBs) {
		return 0, nil, f.notYet("remove entries from a directory block split across extents")
	}
	b, off, err := d.readDirBlock(0, "directory block")
	if err != nil {
		return 0, nil, err
	}
	if b == nil {
		return 0, nil, f.corruptAt(d.in.off, "directory block", "block 0 unmapped")
	}
	if _, err := d.dataEntries(b, off, -1); err != nil { // checks the whole block
		return 0, nil, err
	}
	count := int(binary.BigEndian.Uint32(b[len(b)-8:]))
	leaf := b[len(b)-8-8*count : len(b)-8]
	end := len(b) - 8 - 8*count
	hash := dirHash([]byte(name))
	i := sort.Search(count, func(i int) bool { return binary.BigEndian.Uint32(leaf[8*i:]) >= hash })
	ft := 0
	if f.g.ftype {
		ft = 1
	}
	for ; i < count && binary.BigEndian.Uint32(leaf[8*i:]) == hash; i++ {
		addr := binary.BigEndian.Uint32(leaf[8*i+4:])
		if addr == dirNullDataptr {
			continue
		}
		p := int(uint64(addr) << 3 % uint64(f.g.dirBlkSize))
		if p < dir3DataHeaderSize || p+9 > end {
			return 0, nil, f.corruptAt(off, "directory block", "leaf address 0x%x", addr)
		}
		nl := int(b[p+8])
		if p+9+nl > end || string(b[p+9:p+9+nl]) != name {
			continue
		}
		ino := binary.BigEndian.Uint64(b[p:])
		l := (8 + 1 + nl + ft + 2 + 7) &^ 7
		apply := func() {
			markFree(b, p, l, end, ft)
			binary.BigEndian.PutUint32(leaf[8*i+4:], dirNullDataptr)
			binary.BigEndian.PutUint32(b[len(b)-4:], binary.BigEndian.Uint32(b[len(b)-4:])+1) // stale
			rebuildBestFree(b, end, ft)
			binary.LittleEndian.PutUint32(b[dir3CRCOff:], cksum(b, dir3CRCOff))
			f.put(off, b)
		}
		return ino, apply, nil
	}
	return 0, nil, errNotExistDir
}

// markFree turns the l bytes at p of a data block into free space, merged
// with the free regions before and after it (xfs_dir2_data_make_free).
func markFree(b []byte, p, l, end, ft int) {
	// The region before p, if free.
	start := p
	for q := dir3DataHeaderSize; q < p; {
		var n int
		if binary.BigEndian.Uint16(b[q:]) == dirFreeTag {
			n = int(binary.BigEndian.Uint16(b[q+2:]))
			if q+n == p {
				start = q
			}
		} else {
			n = (8 + 1 + int(b[q+8]) + ft + 2 + 7) &^ 7
		}
		if n <= 0 {
			break
		}
		q += n
	}
	stop := p + l
	if stop+4 <= end && binary.BigEndian.Uint16(b[stop:]) == dirFreeTag {
		stop += int(binary.BigEndian.Uint16(b[stop+2:]))
	}
	clear(b[start:stop])
	binary.BigEndian.PutUint16(b[start:], dirFreeTag)
	binary.BigEndian.PutUint16(b[start+2:], uint16(stop-start))
	binary.BigEndian.PutUint16(b[stop-2:], uint16(start))
}

// rebuildBestFree recomputes the three largest free regions of a data
// block's entries up to end, as xfs_dir2_data_freescan does.
func rebuildBestFree(b []byte, end, ft int) {
	type region struct{ off, n int }
	var best [3]region
	for q := dir3DataHeaderSize; q < end; {
		if binary.BigEndian.Uint16(b[q:]) == dirFreeTag {
			n := int(binary.BigEndian.Uint16(b[q+2:]))
			r := region{q, n}
			switch {
			case n > best[0].n:
				best = [3]region{r, best[0], best[1]}
			case n > best[1].n:
				best = [3]region{best[0], r, best[1]}
			case n > best[2].n:
				best[2] = r
			}
			q += n
			continue
		}
		q += (8 + 1 + int(b[q+8]) + ft + 2 + 7) &^ 7
	}
	for i, r := range best {
		binary.BigEndian.PutUint16(b[48+4*i:], uint16(r.off))
		binary.BigEndian.PutUint16(b[50+4*i:], uint16(r.n))
	}
}
