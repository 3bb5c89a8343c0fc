package btrfs

import (
	"fmt"
	"sort"
)

// rootTree returns the root tree's root.
func (v *Volume) rootTree() treeRoot {
	return treeRoot{id: rootTreeObjectID, bytenr: v.sb.Root, level: v.sb.RootLevel}
}

// subvol is an opened fs tree: a subvolume or snapshot.
type subvol struct {
	id      uint64
	root    treeRoot
	rootDir uint64 // the inode of its top directory
	item    RootItem
}

// readRoot finds the ROOT_ITEM of tree id in the root tree. ok is false
// when there is none.
func (v *Volume) readRoot(id uint64) (RootItem, bool, error) {
	var ri RootItem
	found := false
	lo := Key{ObjectID: id, Type: typeRootItem}
	hi := Key{ObjectID: id, Type: typeRootItem, Offset: ^uint64(0)}
	err := v.walk(v.rootTree(), lo, hi, func(k Key, d []byte, p int64) (bool, error) {
		if len(d) < rootItemMinSize {
			return false, corrupt(fmt.Sprintf("root item of tree %d", id), -1, p, "%d bytes", len(d))
		}
		full := make([]byte, rootItemSize)
		copy(full, d)
		decode(full, &ri)
		found = true
		return true, nil // the last (highest offset) one wins
	})
	if err != nil || !found {
		return ri, false, err
	}
	if ri.Level >= maxLevel || ri.Bytenr == 0 {
		return ri, false, corrupt(fmt.Sprintf("root item of tree %d", id), int64(ri.Bytenr), -1, "level %d", ri.Level)
	}
	return ri, true, nil
}

// openSubvol opens subvolume id (5 is the top level).
func (v *Volume) openSubvol(id uint64) (*subvol, error) {
	if s, ok := v.subvols[id]; ok {
		return s, nil
	}
	if id != fsTreeObjectID && (id < firstFreeObjectID || id > lastFreeObjectID) {
		return nil, fmt.Errorf("%w: %d is not a subvolume id", ErrNoSubvolume, id)
	}
	ri, ok, err := v.readRoot(id)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: id %d", ErrNoSubvolume, id)
	}
	dir := ri.RootDirID
	if dir == 0 {
		dir = firstFreeObjectID
	}
	s := &subvol{id: id, root: treeRoot{id: id, bytenr: ri.Bytenr, level: ri.Level}, rootDir: dir, item: ri}
	if len(v.subvols) >= maxSubvolumes {
		clear(v.subvols)
	}
	v.subvols[id] = s
	return s, nil
}

// defaultSubvol returns the default subvolume's id: the location of the
// "default" DIR_ITEM in the root tree's directory 6, or 5 without one.
func (v *Volume) defaultSubvol() (uint64, error) {
	name := []byte("default")
	d, p, err := v.find(v.rootTree(), Key{ObjectID: rootTreeDirID, Type: typeDirItem, Offset: uint64(nameHash(name))})
	if err != nil || d == nil {
		return fsTreeObjectID, err
	}
	ents, err := parseDirItems(d, p, "default subvolume dir item")
	if err != nil {
		return 0, err
	}
	for _, e := range ents {
		if e.name == "default" {
			return e.loc.ObjectID, nil
		}
	}
	return fsTreeObjectID, nil
}

// rootRef is a ROOT_REF: subvolume child is named name in directory dir
// of subvolume parent.
type rootRef struct {
	parent, child, dir uint64
	name               string
}

// rootRef returns the ROOT_REF linking child into parent, if any.
func (v *Volume) rootRef(parent, child uint64) (rootRef, bool, error) {
	d, p, err := v.find(v.rootTree(), Key{ObjectID: parent, Type: typeRootRef, Offset: child})
	if err != nil || d == nil {
		return rootRef{}, false, err
	}
	r, err := parseRootRef(d, p)
	r.parent, r.child = parent, child
	return r, err == nil, err
}

func parseRootRef(d []byte, p int64) (rootRef, error) {
	var rr RootRef
	if len(d) < rootRefSize || !decode(d, &rr) || len(d) < rootRefSize+int(rr.NameLen) {
		return rootRef{}, corrupt("root ref", -1, p, "truncated")
	}
	return rootRef{dir: rr.DirID, name: string(d[rootRefSize : rootRefSize+int(rr.NameLen)])}, nil
}

// Subvolume describes one subvolume or snapshot.
type Subvolume struct {
	ID       uint64
	ParentID uint64 // 0 for the top level or a detached subvolume
	// Path is where it lies below the top level (5), as btrfs
	// subvolume list prints it: "root", "home", "root/var/lib/machines".
	// "" for the top level, and for a subvolume whose parent chain is
	// broken.
	Path     string
	Snapshot bool // it has a parent UUID
}

// maxSubvolumes bounds how many subvolumes Subvolumes lists.
const maxSubvolumes = 1 << 16

// Subvolumes lists every subvolume with its path, the top level first and
// the rest by id.
func (v *Volume) Subvolumes() ([]Subvolume, error) {
	refs := map[uint64]rootRef{} // by child, from ROOT_BACKREF
	var ids []uint64
	lo := Key{ObjectID: firstFreeObjectID, Type: typeRootItem}
	hi := Key{ObjectID: lastFreeObjectID, Type: typeRootBackref, Offset: ^uint64(0)}
	err := v.walk(v.rootTree(), lo, hi, func(k Key, d []byte, p int64) (bool, error) {
		switch k.Type {
		case typeRootItem:
			if len(ids) == 0 || ids[len(ids)-1] != k.ObjectID {
				if len(ids) >= maxSubvolumes {
					return false, fmt.Errorf("%w: more than %d subvolumes", ErrUnsupported, maxSubvolumes)
				}
				ids = append(ids, k.ObjectID)
			}
		case typeRootBackref:
			r, err := parseRootRef(d, p)
			if err != nil {
				return false, err
			}
			r.child, r.parent = k.ObjectID, k.Offset
			refs[k.ObjectID] = r
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	out := []Subvolume{{ID: fsTreeObjectID}}
	for _, id := range ids {
		s := Subvolume{ID: id}
		if r, ok := refs[id]; ok {
			s.ParentID = r.parent
		}
		s.Path = v.subvolPath(id, refs)
		if ri, ok, err := v.readRoot(id); err == nil && ok {
			s.Snapshot = ri.ParentUUID != [16]byte{}
		}
		out = append(out, s)
	}
	sort.SliceStable(out[1:], func(i, j int) bool { return out[1+i].ID < out[1+j].ID })
	return out, nil
}

// subvolPath builds the path of subvolume id below the top level from the
// backrefs and the directories' INODE_REFs, "" when a link is missing.
func (v *Volume) subvolPath(id uint64, refs map[uint64]rootRef) string {
	path := ""
	for depth := 0; id != fsTreeObjectID; depth++ {
		r, ok := refs[id]
		if !ok || depth > maxSubvolumes {
			return ""
		}
		parent, err := v.openSubvol(r.parent)
		if err != nil {
			return ""
		}
		dir, err := v.dirPath(parent, r.dir)
		if err != nil {
			return ""
		}
		p := r.name
		if dir != "" {
			p = dir + "/" + r.name
		}
		if path == "" {
			path = p
		} else {
			path = p + "/" + path
		}
		id = r.parent
	}
	return path
}

// RootTreeCopies returns the byte offsets on the device of every copy of
// the root tree's root block (two with DUP metadata).
func (v *Volume) RootTreeCopies() []int64 {
	p, err := v.mapLogical(v.sb.Root, int(v.sb.NodeSize), "root tree")
	if err != nil {
		return nil
	}
	return p
}

// TreeState says whether one of the filesystem's global trees is there,
// and where its root block is.
type TreeState struct {
	Name    string // "extent", "csum", "free-space", "block-group"
	Present bool
	Logical uint64 // its root block, 0 when absent
	Level   uint8
}

// Trees reads the root items of the extent, checksum, free-space and
// block-group trees and checks each root block (checksum, bytenr, level,
// generation). The extent tree and the checksum tree must exist; the
// free-space tree must when compat_ro says so.
func (v *Volume) Trees() ([]TreeState, error) {
	var out []TreeState
	for _, t := range []struct {
		id       uint64
		name     string
		required bool
	}{
		{extentTreeObjectID, "extent", true},
		{csumTreeObjectID, "csum", true},
		{freeSpaceObjectID, "free-space", v.sb.CompatROFlags&compatROFreeSpaceTree != 0},
		{blockGroupTreeID, "block-group", v.sb.CompatROFlags&compatROBlockGroupTree != 0},
	} {
		ri, ok, err := v.readRoot(t.id)
		if err != nil {
			return nil, err
		}
		if !ok {
			if t.required {
				return nil, corrupt("root tree", int64(v.sb.Root), -1, "no root item for the %s tree", t.name)
			}
			out = append(out, TreeState{Name: t.name})
			continue
		}
		if _, err := v.readNode(ri.Bytenr, ri.Level, ri.Generation); err != nil {
			return nil, fmt.Errorf("%s tree: %w", t.name, err)
		}
		out = append(out, TreeState{Name: t.name, Present: true, Logical: ri.Bytenr, Level: ri.Level})
	}
	return out, nil
}
