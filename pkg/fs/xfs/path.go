package xfs

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/imgprep/imgprep/pkg/fs"
)

// The inode-level interface: every path operation below is a walk of
// these steps.

// Root returns the root directory's inode number.
func (f *FS) Root() uint64 { return f.sb.RootIno }

// Lookup returns the inode number of name in directory dir.
func (f *FS) Lookup(dir uint64, name string) (uint64, error) {
	in, err := f.readInode(dir)
	if err != nil {
		return 0, err
	}
	e, err := f.lookup(in, name)
	return e.ino, err
}

// StatInode describes inode ino.
func (f *FS) StatInode(ino uint64) (fs.Attr, error) {
	in, err := f.readInode(ino)
	if err != nil {
		return fs.Attr{}, err
	}
	return f.attr(in), nil
}

// ReadDirInode lists directory ino without "." and "..".
func (f *FS) ReadDirInode(ino uint64) ([]fs.DirEntry, error) {
	in, err := f.readInode(ino)
	if err != nil {
		return nil, err
	}
	return f.readDir(in)
}

// ReadlinkInode returns the target of symlink ino.
func (f *FS) ReadlinkInode(ino uint64) (string, error) {
	in, err := f.readInode(ino)
	if err != nil {
		return "", err
	}
	return f.readlink(in)
}

// OpenInode opens regular file ino.
func (f *FS) OpenInode(ino uint64) (fs.File, error) {
	in, err := f.readInode(ino)
	if err != nil {
		return nil, err
	}
	return f.openInode(in)
}

// XattrsInode returns every extended attribute of inode ino.
func (f *FS) XattrsInode(ino uint64) (map[string][]byte, error) {
	in, err := f.readInode(ino)
	if err != nil {
		return nil, err
	}
	return f.xattrs(in)
}

func (f *FS) readDir(in *inode) ([]fs.DirEntry, error) {
	es, err := f.dirEntries(in)
	if err != nil {
		return nil, err
	}
	out := make([]fs.DirEntry, 0, len(es))
	for _, e := range es {
		if e.name == "." || e.name == ".." {
			continue
		}
		out = append(out, fs.DirEntry{Name: e.name, Ino: e.ino, Type: ftypeOf(e.ftype)})
	}
	return out, nil
}

// splitPath splits a slash-separated path into its non-empty components.
func splitPath(p string) []string {
	var out []string
	for _, c := range strings.Split(p, "/") {
		if c != "" {
			out = append(out, c)
		}
	}
	return out
}

func (f *FS) pathErr(op, p string, err error) error {
	return fmt.Errorf("%s: %s %s: %w", f.name, op, p, err)
}

// resolve walks p from the root as the kernel would with this filesystem
// mounted at "/": intermediate symlinks are followed (absolute targets
// from this root), ".." stops at the root, more than fs.MaxSymlinkHops
// symlinks fail with fs.ErrLoop. follow says whether a final symlink is
// followed too. A directory entry leading back to a directory on the way
// down is a *CorruptError, so no walk can descend forever.
func (f *FS) resolve(p string, follow bool) (*inode, error) {
	root, err := f.readInode(f.sb.RootIno)
	if err != nil {
		return nil, err
	}
	if !root.isDir() {
		return nil, f.corruptAt(root.off, "root inode", "not a directory")
	}
	cur := root
	queue := splitPath(p)
	hops := 0
	down := []uint64{root.ino}
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
		if name == ".." && cur.ino == root.ino {
			continue
		}
		e, err := f.lookup(cur, name)
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
				return nil, f.corruptAt(child.off, fmt.Sprintf("inode %d", child.ino),
					"directory cycle: entry %q of directory inode %d leads back above it", name, cur.ino)
			default:
				down = append(down, child.ino)
			}
		}
		cur = child
	}
	return cur, nil
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

// ReadDir lists the directory at p, without "." and "..".
func (f *FS) ReadDir(p string) ([]fs.DirEntry, error) {
	in, err := f.resolve(p, true)
	if err == nil {
		var es []fs.DirEntry
		if es, err = f.readDir(in); err == nil {
			return es, nil
		}
	}
	return nil, f.pathErr("readdir", p, err)
}

// Open opens the regular file at p.
func (f *FS) Open(p string) (fs.File, error) {
	in, err := f.resolve(p, true)
	if err == nil {
		var fl *file
		if fl, err = f.openInode(in); err == nil {
			return fl, nil
		}
	}
	return nil, f.pathErr("open", p, err)
}

// ReadFile reads the whole regular file at p.
func (f *FS) ReadFile(p string) ([]byte, error) {
	fl, err := f.Open(p)
	if err != nil {
		return nil, err
	}
	if fl.Size() > 1<<31 {
		return nil, f.pathErr("read", p, fmt.Errorf("%w: file of %d bytes", fs.ErrInvalid, fl.Size()))
	}
	b := make([]byte, fl.Size())
	if _, err := io.ReadFull(fl, b); err != nil {
		return nil, f.pathErr("read", p, err)
	}
	return b, nil
}

// Readlink returns the target of the symlink at p.
func (f *FS) Readlink(p string) (string, error) {
	in, err := f.resolve(p, false)
	if err == nil {
		var t string
		if t, err = f.readlink(in); err == nil {
			return t, nil
		}
	}
	return "", f.pathErr("readlink", p, err)
}

// Xattrs returns every extended attribute of the file at p, without
// following a final symlink.
func (f *FS) Xattrs(p string) (map[string][]byte, error) {
	in, err := f.resolve(p, false)
	if err == nil {
		var m map[string][]byte
		if m, err = f.xattrs(in); err == nil {
			return m, nil
		}
	}
	return nil, f.pathErr("xattrs", p, err)
}

var _ fs.FS = (*FS)(nil)
