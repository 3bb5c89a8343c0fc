package ext4

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/imgprep/imgprep/pkg/fs"
)

const rootIno = 2

// splitPath splits a slash-separated path into its non-empty components.
func splitPath(p string) []string {
	parts := strings.Split(p, "/")
	out := parts[:0]
	for _, c := range parts {
		if c != "" {
			out = append(out, c)
		}
	}
	return out
}

// pathErr wraps err with the filesystem's name, the operation and path.
func (f *FS) pathErr(op, p string, err error) error {
	return fmt.Errorf("%s: %s %s: %w", f.name, op, p, err)
}

// resolve walks path p from the root as the kernel would with this
// filesystem mounted at "/": intermediate symlinks are followed (absolute
// targets from this root), ".." stops at the root, more than
// fs.MaxSymlinkHops symlinks fail with fs.ErrLoop. follow says whether a
// final symlink is followed too. A directory entry leading back to a
// directory already on the way down (a directory cycle: ext directories
// have no hard links) is a *CorruptError, so that no walk of the tree can
// descend forever.
func (f *FS) resolve(p string, follow bool) (*inode, error) {
	root, err := f.readInode(rootIno)
	if err != nil {
		return nil, err
	}
	cur := root
	queue := splitPath(p)
	hops := 0
	down := []uint32{rootIno} // the directories from the root to cur
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		if name == "." {
			continue
		}
		if !cur.isDir() {
			return nil, fs.ErrNotDir
		}
		if len(name) > maxNameLen {
			return nil, fs.ErrNameTooLong
		}
		e, _, err := f.lookup(cur, name)
		if err != nil {
			return nil, err
		}
		child, err := f.readInode(e.ino)
		if err != nil {
			return nil, err
		}
		if child.isLink() && (len(queue) > 0 || follow) {
			hops++
			if hops > fs.MaxSymlinkHops {
				return nil, fs.ErrLoop
			}
			target, err := f.readlink(child)
			if err != nil {
				return nil, err
			}
			if target == "" {
				return nil, fs.ErrNotExist
			}
			if strings.HasPrefix(target, "/") {
				cur, down = root, down[:1]
			}
			queue = append(splitPath(target), queue...)
			continue
		}
		if child.isDir() {
			switch {
			case name == "..":
				down = append(down[:max(len(down)-1, 1)-1], child.ino)
			case slices.Contains(down, child.ino):
				return nil, corrupt(f.inodeOffset(child.ino), fmt.Sprintf("inode %d", child.ino),
					"directory cycle: entry %q of directory inode %d leads back to directory inode %d, above it", name, cur.ino, child.ino)
			default:
				down = append(down, child.ino)
			}
		}
		cur = child
	}
	return cur, nil
}

// resolveParent resolves every component of p but the last, which it
// returns unresolved with the directory holding it.
func (f *FS) resolveParent(p string) (*inode, string, error) {
	comps := splitPath(p)
	if len(comps) == 0 {
		return nil, "", fmt.Errorf("%w: the root directory", fs.ErrInvalid)
	}
	last := comps[len(comps)-1]
	if last == "." || last == ".." {
		return nil, "", fmt.Errorf("%w: path ends in %q", fs.ErrInvalid, last)
	}
	if len(last) > maxNameLen {
		return nil, "", fs.ErrNameTooLong
	}
	dir, err := f.resolve(strings.Join(comps[:len(comps)-1], "/"), true)
	if err != nil {
		return nil, "", err
	}
	if !dir.isDir() {
		return nil, "", fs.ErrNotDir
	}
	return dir, last, nil
}

// attr converts an inode to fs.Attr.
func (f *FS) attr(in *inode) fs.Attr {
	a := fs.Attr{
		Ino: uint64(in.ino), Mode: in.mode(), Nlink: uint32(in.d.LinksCount),
		UID: in.uid(), GID: in.gid(), Size: in.size(),
		Atime: in.atime(), Mtime: in.mtime(), Ctime: in.ctime(), Crtime: in.crtime(),
	}
	if t := fs.TypeOfMode(a.Mode); t == fs.TypeChar || t == fs.TypeBlock {
		a.Rdev = in.rdev()
	}
	return a
}

// Lstat describes the file at p without following a final symlink.
func (f *FS) Lstat(p string) (fs.Attr, error) {
	in, err := f.resolve(p, false)
	if err != nil {
		return fs.Attr{}, f.pathErr("lstat", p, err)
	}
	return f.attr(in), nil
}

// Stat describes the file at p, following a final symlink.
func (f *FS) Stat(p string) (fs.Attr, error) {
	in, err := f.resolve(p, true)
	if err != nil {
		return fs.Attr{}, f.pathErr("stat", p, err)
	}
	return f.attr(in), nil
}

// ReadDir lists the directory at p, without "." and "..", in on-disk
// order.
func (f *FS) ReadDir(p string) ([]fs.DirEntry, error) {
	in, err := f.resolve(p, true)
	if err != nil {
		return nil, f.pathErr("readdir", p, err)
	}
	if !in.isDir() {
		return nil, f.pathErr("readdir", p, fs.ErrNotDir)
	}
	var out []fs.DirEntry
	var ferr error
	err = f.forEachDirent(in, func(e *dirent, _ dirLoc) bool {
		if e.name == "." || e.name == ".." {
			return false
		}
		de := fs.DirEntry{Name: e.name, Ino: uint64(e.ino), Type: ftToType(e.ftype)}
		if !f.filetype || de.Type == fs.TypeUnknown {
			child, err := f.readInode(e.ino)
			if err != nil {
				ferr = err
				return true
			}
			de.Type = fs.TypeOfMode(child.mode())
		}
		out = append(out, de)
		return false
	})
	if err == nil {
		err = ferr
	}
	if err != nil {
		return nil, f.pathErr("readdir", p, err)
	}
	return out, nil
}

// Open opens the regular file at p for reading.
func (f *FS) Open(p string) (fs.File, error) {
	in, err := f.resolve(p, true)
	if err == nil {
		err = checkRegular(in)
	}
	if err != nil {
		return nil, f.pathErr("open", p, err)
	}
	fl, err := f.newFile(in)
	if err != nil {
		return nil, f.pathErr("open", p, err)
	}
	return fl, nil
}

func checkRegular(in *inode) error {
	switch {
	case in.isDir():
		return fs.ErrIsDir
	case !in.isReg():
		return fmt.Errorf("%w: not a regular file", fs.ErrInvalid)
	}
	return nil
}

// ReadFile reads the whole regular file at p. A file claiming more bytes
// than the filesystem holds is refused rather than allocated.
func (f *FS) ReadFile(p string) ([]byte, error) {
	in, err := f.resolve(p, true)
	if err == nil {
		err = checkRegular(in)
	}
	var b []byte
	if err == nil {
		b, err = f.readAll(in)
	}
	if err != nil {
		return nil, f.pathErr("read", p, err)
	}
	return b, nil
}

// readAll reads the whole contents of a regular file, symlink or EA inode.
func (f *FS) readAll(in *inode) ([]byte, error) {
	if in.size() > int64(f.blocksCount)*f.blockSize {
		return nil, fmt.Errorf("%w: size %d is larger than the filesystem", fs.ErrInvalid, in.size())
	}
	fl, err := f.newFile(in)
	if err != nil {
		return nil, err
	}
	b := make([]byte, in.size())
	if _, err := fl.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return b, nil
}

// Readlink returns the target of the symlink at p.
func (f *FS) Readlink(p string) (string, error) {
	in, err := f.resolve(p, false)
	if err == nil && !in.isLink() {
		err = fs.ErrNotSymlink
	}
	var t string
	if err == nil {
		t, err = f.readlink(in)
	}
	if err != nil {
		return "", f.pathErr("readlink", p, err)
	}
	return t, nil
}

// readlink reads a symlink's target: in i_block (fast), inline data, or
// blocks.
func (f *FS) readlink(in *inode) (string, error) {
	size := in.size()
	if size < 0 || size > f.blockSize || size > 4096 {
		return "", corrupt(f.inodeOffset(in.ino), fmt.Sprintf("inode %d", in.ino), "symlink of %d bytes", size)
	}
	// A symlink shorter than i_block keeps its target there (e2fsprogs'
	// ext2fs_is_fast_symlink), unless it is stored as inline data.
	if size < inodeBlockLen && !in.flag(inodeFlagInlineData) {
		return string(in.iblock()[:size]), nil
	}
	b, err := f.readAll(in)
	return string(b), err
}

// Xattrs returns every extended attribute of the file at p, not following
// a final symlink. POSIX ACLs are returned in the VFS (version 2) format.
func (f *FS) Xattrs(p string) (map[string][]byte, error) {
	in, err := f.resolve(p, false)
	var m map[string][]byte
	if err == nil {
		m, err = f.xattrs(in)
	}
	if err != nil {
		return nil, f.pathErr("xattrs", p, err)
	}
	return m, nil
}
