package xfs

import (
	"fmt"
	"io"

	"github.com/imgprep/imgprep/pkg/fs"
)

// file is an open regular file.
type file struct {
	m    *forkMap
	size int64
	pos  int64
}

func (fl *file) Size() int64  { return fl.size }
func (fl *file) Close() error { return nil }

func (fl *file) Read(p []byte) (int, error) {
	n, err := fl.ReadAt(p, fl.pos)
	fl.pos += int64(n)
	return n, err
}

// ReadAt reads from the file's blocks; holes and unwritten extents read
// as zeros.
func (fl *file) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fs.ErrInvalid
	}
	if off >= fl.size {
		return 0, io.EOF
	}
	want := p
	if int64(len(p)) > fl.size-off {
		want = p[:fl.size-off]
	}
	bs := int64(fl.m.f.g.blockSize)
	n := 0
	for n < len(want) {
		pos := off + int64(n)
		fb := uint64(pos / bs)
		skip := int(pos % bs)
		blocks := min((int64(skip)+int64(len(want)-n)+bs-1)/bs, 256)
		b, _, err := fl.m.readBlocks(fb, int(blocks), "file data")
		if err != nil {
			return n, err
		}
		n += copy(want[n:], b[skip:])
	}
	if len(want) < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// openInode opens regular file in for reading.
func (f *FS) openInode(in *inode) (*file, error) {
	if in.isDir() {
		return nil, fs.ErrIsDir
	}
	if !in.isReg() {
		return nil, fmt.Errorf("%w: not a regular file", fs.ErrInvalid)
	}
	if in.d.Flags&diflagRealtime != 0 {
		return nil, fmt.Errorf("%w: inode %d is a real-time file (its data is on the real-time device)", ErrUnsupported, in.ino)
	}
	ext, err := f.extents(in, 0)
	if err != nil {
		return nil, err
	}
	if in.size() > int64(f.g.dblocks)<<f.g.blockLog<<8 {
		return nil, f.corruptAt(in.off, fmt.Sprintf("inode %d", in.ino), "size %d", in.size())
	}
	return &file{m: &forkMap{f: f, ext: ext}, size: in.size()}, nil
}

// maxSymlinkLen is XFS_SYMLINK_MAXLEN.
const maxSymlinkLen = 1024

// readlink returns the target of symlink in: local (in the inode) or
// remote (in blocks, each with an XSLM header).
func (f *FS) readlink(in *inode) (string, error) {
	if !in.isLink() {
		return "", fs.ErrNotSymlink
	}
	what := fmt.Sprintf("inode %d", in.ino)
	size := in.size()
	if size == 0 || size > maxSymlinkLen {
		return "", f.corruptAt(in.off, what, "symlink of %d bytes", size)
	}
	if in.d.Format == fmtLocal {
		return string(in.data[:size]), nil
	}
	ext, err := f.extents(in, 0)
	if err != nil {
		return "", err
	}
	// Each extent is one buffer with one header (xfs_readlink_bmap).
	out := make([]byte, 0, size)
	for i, e := range ext {
		if int64(len(out)) >= size {
			break
		}
		if e.unwritten || e.count > 4 || i > 3 {
			return "", f.corruptAt(in.off, what, "remote symlink extent %d of %d blocks", i, e.count)
		}
		b, err := f.readBlocks(e.start, e.count, "symlink block")
		if err != nil {
			return "", err
		}
		off, _ := f.fsbOffset(e.start, e.count, "")
		want := min(int64(len(b)-rmtHeaderSize), size-int64(len(out)))
		if err := f.checkRmt(b, off, "XSLM", "symlink block", in.ino, uint32(len(out)), uint32(want)); err != nil {
			return "", err
		}
		out = append(out, b[rmtHeaderSize:rmtHeaderSize+want]...)
	}
	if int64(len(out)) != size {
		return "", f.corruptAt(in.off, what, "remote symlink holds %d of %d bytes", len(out), size)
	}
	return string(out), nil
}
