package btrfs

import (
	"fmt"
	"time"

	"github.com/imgprep/imgprep/pkg/fs"
)

// dirEnt is one entry packed in a DIR_ITEM, DIR_INDEX or XATTR_ITEM.
type dirEnt struct {
	loc  Key
	typ  uint8
	name string
	data []byte // an xattr's value
}

// maxNameLen is BTRFS_NAME_LEN; xattr names may be as long.
const maxNameLen = 255

// parseDirItems parses the dir items packed in one item's data.
func parseDirItems(d []byte, p int64, what string) ([]dirEnt, error) {
	var out []dirEnt
	for len(d) > 0 {
		var di DirItem
		if len(d) < dirItemSize || !decode(d, &di) {
			return nil, corrupt(what, -1, p, "truncated dir item")
		}
		n := dirItemSize + int(di.NameLen) + int(di.DataLen)
		if di.NameLen == 0 || di.NameLen > maxNameLen || len(d) < n {
			return nil, corrupt(what, -1, p, "name of %d and data of %d bytes do not fit", di.NameLen, di.DataLen)
		}
		out = append(out, dirEnt{
			loc:  di.Location,
			typ:  di.Type,
			name: string(d[dirItemSize : dirItemSize+int(di.NameLen)]),
			data: d[dirItemSize+int(di.NameLen) : n],
		})
		d = d[n:]
	}
	return out, nil
}

// inode reads inode ino of subvolume s.
func (v *Volume) inode(s *subvol, ino uint64) (InodeItem, error) {
	var it InodeItem
	d, p, err := v.find(s.root, Key{ObjectID: ino, Type: typeInodeItem})
	if err != nil {
		return it, err
	}
	if d == nil {
		return it, fmt.Errorf("%w: inode %d of subvolume %d has no inode item", fs.ErrNotExist, ino, s.id)
	}
	if len(d) < inodeItemSize || !decode(d, &it) {
		return it, corrupt(fmt.Sprintf("inode %d of subvolume %d", ino, s.id), -1, p, "inode item of %d bytes", len(d))
	}
	return it, nil
}

// lookup finds name in directory dir of subvolume s through its DIR_ITEM
// (keyed by the name's hash). ok is false when there is no such entry.
func (v *Volume) lookup(s *subvol, dir uint64, name string) (dirEnt, bool, error) {
	d, p, err := v.find(s.root, Key{ObjectID: dir, Type: typeDirItem, Offset: uint64(nameHash([]byte(name)))})
	if err != nil || d == nil {
		return dirEnt{}, false, err
	}
	ents, err := parseDirItems(d, p, fmt.Sprintf("dir item in directory %d of subvolume %d", dir, s.id))
	if err != nil {
		return dirEnt{}, false, err
	}
	for _, e := range ents {
		if e.name == name {
			return e, true, nil
		}
	}
	return dirEnt{}, false, nil
}

// eachDirIndex calls fn for each entry of directory dir of subvolume s
// in DIR_INDEX order, as the kernel's readdir does, until fn returns
// false.
func (v *Volume) eachDirIndex(s *subvol, dir uint64, fn func(dirEnt) bool) error {
	lo := Key{ObjectID: dir, Type: typeDirIndex}
	hi := Key{ObjectID: dir, Type: typeDirIndex, Offset: ^uint64(0)}
	return v.walk(s.root, lo, hi, func(k Key, d []byte, p int64) (bool, error) {
		ents, err := parseDirItems(d, p, fmt.Sprintf("dir index %d in directory %d of subvolume %d", k.Offset, dir, s.id))
		if err != nil {
			return false, err
		}
		for _, e := range ents {
			if !fn(e) {
				return false, nil
			}
		}
		return true, nil
	})
}

// maxXattrs bounds the xattrs of one inode.
const maxXattrs = 1 << 16

// xattrs returns every XATTR_ITEM of inode ino.
func (v *Volume) xattrs(s *subvol, ino uint64) (map[string][]byte, error) {
	out := map[string][]byte{}
	lo := Key{ObjectID: ino, Type: typeXattrItem}
	hi := Key{ObjectID: ino, Type: typeXattrItem, Offset: ^uint64(0)}
	err := v.walk(s.root, lo, hi, func(k Key, d []byte, p int64) (bool, error) {
		ents, err := parseDirItems(d, p, fmt.Sprintf("xattr item of inode %d of subvolume %d", ino, s.id))
		if err != nil {
			return false, err
		}
		if len(out)+len(ents) > maxXattrs {
			return false, fmt.Errorf("%w: inode %d has more than %d xattrs", ErrUnsupported, ino, maxXattrs)
		}
		for _, e := range ents {
			out[e.name] = append([]byte(nil), e.data...)
		}
		return true, nil
	})
	return out, err
}

// dirPath returns the path of directory ino below the top of subvolume s
// ("" for the top), following the first INODE_REF of each directory.
func (v *Volume) dirPath(s *subvol, ino uint64) (string, error) {
	path := ""
	for depth := 0; ino != s.rootDir; depth++ {
		if depth > 4096 {
			return "", corrupt(fmt.Sprintf("directory %d of subvolume %d", ino, s.id), -1, -1, "INODE_REF chain too long")
		}
		var parent uint64
		var name string
		lo := Key{ObjectID: ino, Type: typeInodeRef}
		hi := Key{ObjectID: ino, Type: typeInodeRef, Offset: ^uint64(0)}
		err := v.walk(s.root, lo, hi, func(k Key, d []byte, p int64) (bool, error) {
			var r InodeRef
			if len(d) < inodeRefSize || !decode(d, &r) || len(d) < inodeRefSize+int(r.NameLen) {
				return false, corrupt(fmt.Sprintf("inode ref of inode %d of subvolume %d", ino, s.id), -1, p, "truncated")
			}
			parent, name = k.Offset, string(d[inodeRefSize:inodeRefSize+int(r.NameLen)])
			return false, nil
		})
		if err != nil {
			return "", err
		}
		if name == "" || parent == ino {
			return "", corrupt(fmt.Sprintf("directory %d of subvolume %d", ino, s.id), -1, -1, "no inode ref")
		}
		if path == "" {
			path = name
		} else {
			path = name + "/" + path
		}
		ino = parent
	}
	return path, nil
}

// attr converts an inode item to fs.Attr.
func attr(ino uint64, it InodeItem) fs.Attr {
	ts := func(t Timespec) time.Time {
		if t.Sec > 1<<62 || t.Nsec >= 1e9 {
			return time.Time{}
		}
		return time.Unix(int64(t.Sec), int64(t.Nsec)).UTC()
	}
	size := int64(it.Size)
	if size < 0 {
		size = 0
	}
	return fs.Attr{
		Ino: ino, Mode: it.Mode, Nlink: it.Nlink, UID: it.UID, GID: it.GID,
		Size: size, Rdev: encodeDev(it.Rdev),
		Atime: ts(it.Atime), Mtime: ts(it.Mtime), Ctime: ts(it.Ctime), Crtime: ts(it.Otime),
	}
}

// fileType converts a BTRFS_FT_* value.
func fileType(t uint8) fs.FileType {
	switch t {
	case ftRegFile:
		return fs.TypeRegular
	case ftDir:
		return fs.TypeDir
	case ftChrdev:
		return fs.TypeChar
	case ftBlkdev:
		return fs.TypeBlock
	case ftFIFO:
		return fs.TypeFIFO
	case ftSock:
		return fs.TypeSocket
	case ftSymlink:
		return fs.TypeSymlink
	}
	return fs.TypeUnknown
}

// encodeDev converts the kernel's internal dev_t, which btrfs stores
// (major << 20 | minor), to new_encode_dev's form.
func encodeDev(d uint64) uint32 {
	major, minor := uint32(d>>20)&0xfff, uint32(d)&0xfffff
	return minor&0xff | major<<8 | (minor&^0xff)<<12
}
