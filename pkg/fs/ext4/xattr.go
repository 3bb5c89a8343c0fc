package ext4

import (
	"fmt"
)

// xattr is one parsed extended attribute entry.
type xattr struct {
	index     uint8
	name      string // without the index prefix
	value     []byte // nil when stored in an EA inode (valueInum != 0)
	valueInum uint32
	valueSize uint32
	valueOff  int // offset of the value from the value base
	entryOff  int // offset of the entry in the entry area
	hash      uint32
}

// xattrPrefix returns the name prefix of attribute index i (ext4
// xattr.h), and whether the index is known. For the POSIX ACL indexes the
// prefix is the whole name.
func xattrPrefix(i uint8) (string, bool) {
	switch i {
	case 0:
		return "", true
	case 1:
		return "user.", true
	case 2:
		return "system.posix_acl_access", true
	case 3:
		return "system.posix_acl_default", true
	case 4:
		return "trusted.", true
	case 6:
		return "security.", true
	case 7:
		return "system.", true
	case 8:
		return "system.richacl", true
	}
	return "", false
}

func (x *xattr) fullName() (string, bool) {
	p, ok := xattrPrefix(x.index)
	return p + x.name, ok
}

// parseXattrEntries parses the entries at the start of ents (up to the
// 4-byte zero terminator or the end) whose values live in vals at
// e_value_offs. Every name and value must lie inside its area.
func parseXattrEntries(ents, vals []byte) ([]xattr, error) {
	var out []xattr
	off := 0
	for {
		if off+4 > len(ents) {
			if off == len(ents) {
				return out, nil // an ibody area may end without a terminator
			}
			return nil, fmt.Errorf("entry at %d runs past the end", off)
		}
		if le.Uint32(ents[off:]) == 0 {
			return out, nil
		}
		if off+xattrEntrySize > len(ents) {
			return nil, fmt.Errorf("entry at %d runs past the end", off)
		}
		var e XattrEntry
		decode(ents[off:], &e)
		nameEnd := off + xattrEntrySize + int(e.NameLen)
		if e.NameLen == 0 || nameEnd > len(ents) {
			return nil, fmt.Errorf("entry at %d: name length %d", off, e.NameLen)
		}
		x := xattr{index: e.NameIndex, name: string(ents[off+xattrEntrySize : nameEnd]),
			valueInum: e.ValueInum, valueSize: e.ValueSize, valueOff: int(e.ValueOffs), entryOff: off, hash: e.Hash}
		if e.ValueInum == 0 {
			if int64(e.ValueOffs)+int64(e.ValueSize) > int64(len(vals)) {
				return nil, fmt.Errorf("entry %q: value %d+%d outside the %d-byte area", x.name, e.ValueOffs, e.ValueSize, len(vals))
			}
			x.value = vals[e.ValueOffs : int(e.ValueOffs)+int(e.ValueSize)]
		}
		out = append(out, x)
		off = (nameEnd + 3) &^ 3
	}
}

// ibodyXattrArea returns the in-inode xattr area of in after its
// ibody header, or nil when there is none.
func ibodyXattrArea(in *inode) []byte {
	if len(in.raw) <= goodOldInodeSize {
		return nil
	}
	start := goodOldInodeSize + int(in.d.ExtraIsize)
	if start+4 > len(in.raw) || le.Uint32(in.raw[start:]) != xattrMagic {
		return nil
	}
	return in.raw[start+4:]
}

// ibodyXattrs parses the in-inode attributes of in.
func (f *FS) ibodyXattrs(in *inode) ([]xattr, error) {
	area := ibodyXattrArea(in)
	if area == nil {
		return nil, nil
	}
	xs, err := parseXattrEntries(area, area)
	if err != nil {
		return nil, corrupt(f.inodeOffset(in.ino)+int64(goodOldInodeSize+int(in.d.ExtraIsize)),
			fmt.Sprintf("in-inode xattrs of inode %d", in.ino), "%v", err)
	}
	return xs, nil
}

// parseXattrBlock validates an xattr block's header and parses it.
func parseXattrBlock(b []byte) (XattrHeader, []xattr, error) {
	var h XattrHeader
	if len(b) < xattrHeaderSize+4 {
		return h, nil, fmt.Errorf("block of %d bytes", len(b))
	}
	decode(b, &h)
	if h.Magic != xattrMagic {
		return h, nil, fmt.Errorf("magic 0x%08x", h.Magic)
	}
	if h.Blocks != 1 {
		return h, nil, fmt.Errorf("h_blocks %d", h.Blocks)
	}
	xs, err := parseXattrEntries(b[xattrHeaderSize:], b)
	return h, xs, err
}

// readXattrBlock reads, verifies and parses the xattr block blk.
func (f *FS) readXattrBlock(blk uint64) ([]byte, XattrHeader, []xattr, error) {
	what := fmt.Sprintf("xattr block %d", blk)
	off := int64(blk) * f.blockSize
	if blk < f.firstDataBlock || blk >= f.blocksCount {
		return nil, XattrHeader{}, nil, corrupt(-1, what, "outside the filesystem")
	}
	b := make([]byte, f.blockSize)
	if err := f.readBlock(blk, b); err != nil {
		return nil, XattrHeader{}, nil, err
	}
	h, xs, err := parseXattrBlock(b)
	if err != nil {
		return nil, h, nil, corrupt(off, what, "%v", err)
	}
	if f.metadataCsum {
		if want := f.xattrBlockChecksum(blk, b); h.Checksum != want {
			return nil, h, nil, badChecksum(off, what, h.Checksum, want)
		}
	}
	return b, h, xs, nil
}

// xattrs returns every attribute of in by full name, values copied.
func (f *FS) xattrs(in *inode) (map[string][]byte, error) {
	out := map[string][]byte{}
	add := func(xs []xattr) error {
		for i := range xs {
			x := &xs[i]
			name, ok := x.fullName()
			if !ok {
				continue
			}
			v, err := f.xattrValue(x)
			if err != nil {
				return err
			}
			if x.index == 2 || x.index == 3 {
				v = aclToXattr(v)
			}
			out[name] = v
		}
		return nil
	}
	xs, err := f.ibodyXattrs(in)
	if err != nil {
		return nil, err
	}
	if err := add(xs); err != nil {
		return nil, err
	}
	if blk := f.fileACL(in); blk != 0 {
		_, _, xs, err := f.readXattrBlock(blk)
		if err != nil {
			return nil, err
		}
		if err := add(xs); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// xattrValue returns a copy of x's value, reading an EA inode if needed.
func (f *FS) xattrValue(x *xattr) ([]byte, error) {
	if x.valueInum == 0 {
		return append([]byte{}, x.value...), nil
	}
	ein, err := f.readInode(x.valueInum)
	if err != nil {
		return nil, err
	}
	if !ein.flag(inodeFlagEAInode) || ein.size() != int64(x.valueSize) {
		return nil, corrupt(f.inodeOffset(x.valueInum), fmt.Sprintf("EA inode %d", x.valueInum),
			"not an EA inode of %d bytes", x.valueSize)
	}
	return f.readAll(ein)
}

// aclToXattr converts an ext4 on-disk POSIX ACL (version 1, short
// entries for USER_OBJ, GROUP_OBJ, MASK and OTHER) to the version-2
// posix_acl_xattr format the VFS and getfattr show. Malformed input is
// returned unchanged.
func aclToXattr(v []byte) []byte {
	const (
		aclUser  = 0x02
		aclGroup = 0x08
	)
	if len(v) < 4 || le.Uint32(v) != 1 {
		return v
	}
	out := make([]byte, 4, 4+2*len(v))
	le.PutUint32(out, 2)
	for p := 4; p < len(v); {
		if p+4 > len(v) {
			return v
		}
		tag, perm := le.Uint16(v[p:]), le.Uint16(v[p+2:])
		id := uint32(0xFFFFFFFF)
		if tag == aclUser || tag == aclGroup {
			if p+8 > len(v) {
				return v
			}
			id = le.Uint32(v[p+4:])
			p += 8
		} else {
			p += 4
		}
		var e [8]byte
		le.PutUint16(e[:], tag)
		le.PutUint16(e[2:], perm)
		le.PutUint32(e[4:], id)
		out = append(out, e[:]...)
	}
	return out
}

// xattrHash is ext2fs_ext_attr_hash_entry: the hash of an entry's name
// and (unless it lives in an EA inode) its value, padded to 4 bytes.
func xattrHash(name string, value []byte) uint32 {
	var h uint32
	for i := 0; i < len(name); i++ {
		h = h<<5 ^ h>>27 ^ uint32(name[i])
	}
	for i := 0; i < len(value); i += 4 {
		var w [4]byte
		copy(w[:], value[i:])
		h = h<<16 ^ h>>16 ^ le.Uint32(w[:])
	}
	return h
}

// inlineData returns the inline contents of in: the 60 bytes of i_block
// followed by the value of its system.data attribute.
func (f *FS) inlineData(in *inode) (iblock []byte, extra []byte, x *xattr, err error) {
	xs, err := f.ibodyXattrs(in)
	if err != nil {
		return nil, nil, nil, err
	}
	for i := range xs {
		if xs[i].index == 7 && xs[i].name == "data" && xs[i].valueInum == 0 {
			return in.iblock(), xs[i].value, &xs[i], nil
		}
	}
	return nil, nil, nil, corrupt(f.inodeOffset(in.ino), fmt.Sprintf("inode %d", in.ino),
		"inline data flag without a system.data attribute")
}

// rehashIbodyEntry recomputes the e_hash of in-inode entry x (whose value
// now reads value) in in.raw.
func (f *FS) rehashIbodyEntry(in *inode, x *xattr, value []byte) {
	area := ibodyXattrArea(in)
	if area == nil {
		return
	}
	// The kernel leaves e_hash 0 for in-inode entries; e2fsck accepts 0 or
	// the right hash.
	if le.Uint32(area[x.entryOff+12:]) != 0 {
		le.PutUint32(area[x.entryOff+12:], xattrHash(x.name, value))
	}
}
