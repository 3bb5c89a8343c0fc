package btrfs

import (
	"bytes"
	"fmt"
)

// treeRoot is where a tree starts: the root block's logical address and
// level, and the tree's id (the owner its blocks carry).
type treeRoot struct {
	id     uint64
	bytenr uint64
	level  uint8
}

// node is a checked tree block.
type node struct {
	hdr  Header
	data []byte // the whole block
	phys int64  // where it was read (for errors)
}

// readNode reads and checks the tree block at logical address l: its
// checksum (trying every copy), bytenr, fsid, level and, when gen is not
// zero, its generation (the parent's key pointer names it).
func (v *Volume) readNode(l uint64, level uint8, gen uint64) (*node, error) {
	ns := int(v.sb.NodeSize)
	if l%uint64(v.sb.SectorSize) != 0 {
		return nil, corrupt("tree block", int64(l), -1, "not aligned to the sector size")
	}
	buf, cached := v.cache[l]
	var phys int64 = -1
	if !cached {
		buf = make([]byte, ns)
		err := v.readLogical(buf, l, "tree block", func(b []byte, p int64) error {
			phys = p
			return v.checkNode(b, l, p)
		})
		if err != nil {
			return nil, err
		}
		if len(v.cache) >= maxCachedNodes {
			clear(v.cache)
		}
		v.cache[l] = buf
	}
	n := &node{data: buf, phys: phys}
	decode(buf, &n.hdr)
	if n.hdr.Level != level {
		return nil, corrupt("tree block", int64(l), phys, "level %d, expected %d", n.hdr.Level, level)
	}
	if gen != 0 && n.hdr.Generation != gen {
		return nil, corrupt("tree block", int64(l), phys, "generation %d, its parent expects %d", n.hdr.Generation, gen)
	}
	return n, nil
}

// checkNode checks one copy of a tree block read at physical offset p.
func (v *Volume) checkNode(b []byte, l uint64, p int64) error {
	var h Header
	decode(b, &h)
	sum := v.csum.sum(b[csumSize:])
	if !bytes.Equal(sum[:v.csum.size], h.Csum[:v.csum.size]) {
		e := corrupt("tree block", int64(l), p, "%s checksum mismatch", v.csum.name).(*FormatError)
		e.Checksum = true
		return e
	}
	if h.Bytenr != l {
		return corrupt("tree block", int64(l), p, "header bytenr %d", h.Bytenr)
	}
	if h.FSID != v.fsid {
		return corrupt("tree block", int64(l), p, "belongs to another filesystem")
	}
	if h.Level >= maxLevel {
		return corrupt("tree block", int64(l), p, "level %d", h.Level)
	}
	room := len(b) - headerSize
	if h.Level == 0 {
		if uint64(h.NrItems)*itemSize > uint64(room) {
			return corrupt("tree block", int64(l), p, "%d items do not fit", h.NrItems)
		}
		for i := 0; i < int(h.NrItems); i++ {
			it := b[headerSize+i*itemSize:]
			off, sz := le.Uint32(it[keySize:]), le.Uint32(it[keySize+4:])
			if uint64(off)+uint64(sz) > uint64(room) || int(off) < int(h.NrItems)*itemSize && sz > 0 {
				return corrupt("tree block", int64(l), p, "item %d data (offset %d, size %d) out of bounds", i, off, sz)
			}
		}
	} else if h.NrItems == 0 || uint64(h.NrItems)*keyPtrSize > uint64(room) {
		return corrupt("tree block", int64(l), p, "%d key pointers", h.NrItems)
	}
	return nil
}

// key returns the key of item or pointer i of n.
func (n *node) key(i int) Key {
	if n.hdr.Level == 0 {
		return parseKey(n.data[headerSize+i*itemSize:])
	}
	return parseKey(n.data[headerSize+i*keyPtrSize:])
}

// item returns the data of leaf item i.
func (n *node) item(i int) []byte {
	it := n.data[headerSize+i*itemSize:]
	off, sz := le.Uint32(it[keySize:]), le.Uint32(it[keySize+4:])
	return n.data[headerSize+int(off) : headerSize+int(off)+int(sz)]
}

// ptr returns the child address and generation of pointer i of n.
func (n *node) ptr(i int) (uint64, uint64) {
	p := n.data[headerSize+i*keyPtrSize+keySize:]
	return le.Uint64(p), le.Uint64(p[8:])
}

// itemFunc is called for a leaf item with its key, data and the physical
// offset of the leaf; it returns false to stop the walk.
type itemFunc func(k Key, data []byte, phys int64) (bool, error)

// walk calls fn for every item of the tree with lo <= key <= hi, in key
// order. Levels strictly decrease on the way down, so it always ends.
func (v *Volume) walk(root treeRoot, lo, hi Key, fn itemFunc) error {
	n, err := v.readNode(root.bytenr, root.level, 0)
	if err != nil {
		return err
	}
	_, err = v.walkNode(n, root.bytenr, lo, hi, fn)
	return err
}

func (v *Volume) walkNode(n *node, l uint64, lo, hi Key, fn itemFunc) (bool, error) {
	cnt := int(n.hdr.NrItems)
	for i := 1; i < cnt; i++ {
		if n.key(i).less(n.key(i - 1)) {
			return false, corrupt("tree block", int64(l), n.phys, "keys out of order at slot %d", i)
		}
	}
	if n.hdr.Level == 0 {
		for i := 0; i < cnt; i++ {
			k := n.key(i)
			if k.less(lo) {
				continue
			}
			if hi.less(k) {
				return false, nil
			}
			if more, err := fn(k, n.item(i), n.phys); err != nil || !more {
				return false, err
			}
		}
		return true, nil
	}
	start := 0
	for i := 1; i < cnt && !lo.less(n.key(i)); i++ {
		start = i
	}
	for i := start; i < cnt; i++ {
		if hi.less(n.key(i)) {
			return false, nil
		}
		child, gen := n.ptr(i)
		c, err := v.readNode(child, n.hdr.Level-1, gen)
		if err != nil {
			return false, fmt.Errorf("%w (child %d of the tree block at logical %d)", err, i, l)
		}
		more, err := v.walkNode(c, child, lo, hi, fn)
		if err != nil || !more {
			return false, err
		}
	}
	return true, nil
}

// find returns the data of the item with key k, or nil when there is none.
func (v *Volume) find(root treeRoot, k Key) ([]byte, int64, error) {
	var out []byte
	var at int64 = -1
	err := v.walk(root, k, k, func(_ Key, d []byte, p int64) (bool, error) {
		out, at = d, p
		return false, nil
	})
	return out, at, err
}
