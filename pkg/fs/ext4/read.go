package ext4

import (
	"errors"
	"fmt"
	"io"

	"github.com/imgprep/imgprep/pkg/fs"
)

const rootIno = 2

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

func checkRegular(in *inode) error {
	switch {
	case in.isDir():
		return fs.ErrIsDir
	case !in.isReg():
		return fmt.Errorf("%w: not a regular file", fs.ErrInvalid)
	}
	return nil
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
