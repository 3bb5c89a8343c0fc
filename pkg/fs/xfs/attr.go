package xfs

import (
	"encoding/binary"
	"fmt"
)

// Attribute flags (xfs_da_format.h).
const (
	attrLocal      = 0x01
	attrRoot       = 0x02 // trusted.
	attrSecure     = 0x04 // security.
	attrParent     = 0x08 // parent pointer, not an xattr
	attrIncomplete = 0x80
	attr3LeafMagic = 0x3bee
	attr3HdrSize   = 80
	maxAttrValue   = 64 << 10
)

// attrName gives the full xattr name of an entry, "" for entries that
// are not extended attributes (parent pointers, incomplete ones).
func attrName(flags uint8, name []byte) string {
	if flags&(attrIncomplete|attrParent) != 0 {
		return ""
	}
	switch {
	case flags&attrRoot != 0:
		return "trusted." + string(name)
	case flags&attrSecure != 0:
		return "security." + string(name)
	}
	// POSIX ACLs are trusted.SGI_ACL_FILE and trusted.SGI_ACL_DEFAULT on
	// disk (in xfs's own format), and are reported under those names.
	return "user." + string(name)
}

// xattrs returns every extended attribute of in.
func (f *FS) xattrs(in *inode) (map[string][]byte, error) {
	out := map[string][]byte{}
	if in.attr == nil {
		return out, nil
	}
	what := fmt.Sprintf("inode %d attribute fork", in.ino)
	switch in.d.AFormat {
	case fmtLocal:
		return out, f.attrShortform(in, out, what)
	case fmtExtents, fmtBtree:
	default:
		return nil, f.corruptAt(in.off, what, "format %d", in.d.AFormat)
	}
	ext, err := f.extents(in, 1)
	if err != nil {
		return nil, err
	}
	if len(ext) == 0 {
		return out, nil
	}
	m := &forkMap{f: f, ext: ext}
	// Descend the dabtree's leftmost path to the first leaf, then follow
	// the forward siblings.
	blk := uint64(0)
	for depth := 0; ; depth++ {
		b, off, err := f.attrBlock(m, in, blk)
		if err != nil {
			return nil, err
		}
		magic := binary.BigEndian.Uint16(b[8:])
		if magic == attr3LeafMagic {
			break
		}
		if magic != da3NodeMagic || depth > maxDaLevels {
			return nil, f.corruptAt(off, "attribute node block", "bad magic 0x%x at depth %d", magic, depth)
		}
		count := int(binary.BigEndian.Uint16(b[56:]))
		if count == 0 || count > (len(b)-daNodeHdrSize)/8 {
			return nil, f.corruptAt(off, "attribute node block", "%d entries", count)
		}
		blk = uint64(binary.BigEndian.Uint32(b[daNodeHdrSize+4:]))
	}
	seen := map[uint64]bool{}
	for blk != 0 || len(seen) == 0 {
		if seen[blk] {
			return nil, f.corruptAt(in.off, what, "leaf sibling chain loops at block %d", blk)
		}
		seen[blk] = true
		b, off, err := f.attrBlock(m, in, blk)
		if err != nil {
			return nil, err
		}
		if next, err := f.attrLeaf(m, in, b, off, out); err != nil {
			return nil, err
		} else {
			blk = next
		}
	}
	return out, nil
}

// attrShortform decodes xfs_attr_sf_hdr and its entries.
func (f *FS) attrShortform(in *inode, out map[string][]byte, what string) error {
	b := in.attr
	if len(b) < 4 {
		return f.corruptAt(in.off, what, "shortform header")
	}
	tot := int(binary.BigEndian.Uint16(b))
	count := int(b[2])
	if tot < 4 || tot > len(b) {
		return f.corruptAt(in.off, what, "shortform size %d of %d", tot, len(b))
	}
	b = b[:tot]
	for i, p := 0, 4; i < count; i++ {
		if p+3 > len(b) {
			return f.corruptAt(in.off, what, "shortform entry %d past the end", i)
		}
		nl, vl, fl := int(b[p]), int(b[p+1]), b[p+2]
		if nl == 0 || p+3+nl+vl > len(b) {
			return f.corruptAt(in.off, what, "shortform entry %d past the end", i)
		}
		if n := attrName(fl, b[p+3:p+3+nl]); n != "" {
			out[n] = append([]byte{}, b[p+3+nl:p+3+nl+vl]...)
		}
		p += 3 + nl + vl
	}
	return nil
}

// attrBlock reads attribute fork block blk (one filesystem block) and
// checks its da3_blkinfo: CRC, UUID, owner, block number.
func (f *FS) attrBlock(m *forkMap, in *inode, blk uint64) ([]byte, int64, error) {
	const what = "attribute block"
	e := m.find(blk)
	if e == nil || e.unwritten {
		return nil, 0, f.corruptAt(in.off, what, "block %d unmapped", blk)
	}
	fsb := e.start + blk - e.off
	b, err := f.readBlocks(fsb, 1, what)
	if err != nil {
		return nil, 0, err
	}
	off, _ := f.fsbOffset(fsb, 1, what)
	var info da3BlkInfo
	if _, err := binary.Decode(b, binary.BigEndian, &info); err != nil {
		return nil, 0, f.corruptAt(off, what, "short")
	}
	if err := f.checkCRC(b, da3CRCOff, off, what); err != nil {
		return nil, 0, err
	}
	if err := f.checkUUID(info.UUID, off, what); err != nil {
		return nil, 0, err
	}
	if info.Owner != in.ino || info.BlkNo != uint64(off>>9) {
		return nil, 0, f.corruptAt(off, what, "owner %d, daddr %d", info.Owner, info.BlkNo)
	}
	return b, off, nil
}

// attrLeaf decodes one attr3 leaf block into out and returns its forward
// sibling.
func (f *FS) attrLeaf(m *forkMap, in *inode, b []byte, off int64, out map[string][]byte) (uint64, error) {
	const what = "attribute leaf block"
	var h attr3LeafHeader
	if _, err := binary.Decode(b, binary.BigEndian, &h); err != nil || h.Info.Magic != attr3LeafMagic {
		return 0, f.corruptAt(off, what, "bad magic 0x%x", h.Info.Magic)
	}
	if int(h.Count) > (len(b)-attr3HdrSize)/8 {
		return 0, f.corruptAt(off, what, "%d entries", h.Count)
	}
	for i := 0; i < int(h.Count); i++ {
		eb := b[attr3HdrSize+8*i:]
		idx, fl := int(binary.BigEndian.Uint16(eb[4:])), eb[6]
		if idx < attr3HdrSize+8*int(h.Count) || idx >= len(b) {
			return 0, f.corruptAt(off, what, "entry %d at %d", i, idx)
		}
		nb := b[idx:]
		if fl&attrLocal != 0 {
			if len(nb) < 3 {
				return 0, f.corruptAt(off, what, "entry %d past the end", i)
			}
			vl, nl := int(binary.BigEndian.Uint16(nb)), int(nb[2])
			if nl == 0 || 3+nl+vl > len(nb) {
				return 0, f.corruptAt(off, what, "entry %d past the end", i)
			}
			if n := attrName(fl, nb[3:3+nl]); n != "" {
				out[n] = append([]byte{}, nb[3+nl:3+nl+vl]...)
			}
			continue
		}
		if len(nb) < 9 {
			return 0, f.corruptAt(off, what, "entry %d past the end", i)
		}
		vblk, vl, nl := binary.BigEndian.Uint32(nb), binary.BigEndian.Uint32(nb[4:]), int(nb[8])
		if nl == 0 || 9+nl > len(nb) {
			return 0, f.corruptAt(off, what, "entry %d past the end", i)
		}
		n := attrName(fl, nb[9:9+nl])
		if n == "" {
			continue
		}
		v, err := f.attrRemote(m, in, uint64(vblk), vl)
		if err != nil {
			return 0, err
		}
		out[n] = v
	}
	return uint64(h.Info.Forw), nil
}

// attrRemote reads a remote value of vl bytes from attribute fork block
// blk on: each filesystem block carries an XARM header with its own CRC.
func (f *FS) attrRemote(m *forkMap, in *inode, blk uint64, vl uint32) ([]byte, error) {
	if vl > maxAttrValue {
		return nil, f.corruptAt(in.off, "attribute value", "%d bytes", vl)
	}
	per := uint32(f.g.blockSize - rmtHeaderSize)
	out := make([]byte, 0, vl)
	for b := blk; uint32(len(out)) < vl; b++ {
		e := m.find(b)
		if e == nil || e.unwritten {
			return nil, f.corruptAt(in.off, "attribute value", "block %d unmapped", b)
		}
		fsb := e.start + b - e.off
		buf, err := f.readBlocks(fsb, 1, "attribute value block")
		if err != nil {
			return nil, err
		}
		off, _ := f.fsbOffset(fsb, 1, "")
		want := min(per, vl-uint32(len(out)))
		if err := f.checkRmt(buf, off, "XARM", "attribute value block", in.ino, uint32(len(out)), want); err != nil {
			return nil, err
		}
		out = append(out, buf[rmtHeaderSize:rmtHeaderSize+want]...)
	}
	return out, nil
}
