package ext4

import (
	"fmt"
	"io"

	"github.com/imgprep/imgprep/pkg/fs"
)

// file reads a regular file's contents.
type file struct {
	f      *FS
	in     *inode
	m      blockMapper // nil for inline data
	inline []byte
	size   int64
	pos    int64
}

var _ fs.File = (*file)(nil)

func (f *FS) newFile(in *inode) (*file, error) {
	fl := &file{f: f, in: in, size: in.size()}
	if fl.size < 0 {
		return nil, corrupt(f.inodeOffset(in.ino), fmt.Sprintf("inode %d", in.ino), "negative size")
	}
	if in.flag(inodeFlagInlineData) {
		ib, extra, _, err := f.inlineData(in)
		if err != nil {
			return nil, err
		}
		if fl.size > int64(len(ib)+len(extra)) {
			return nil, corrupt(f.inodeOffset(in.ino), fmt.Sprintf("inode %d", in.ino),
				"inline size %d beyond the %d bytes stored", fl.size, len(ib)+len(extra))
		}
		fl.inline = append(append([]byte{}, ib...), extra...)[:fl.size]
		return fl, nil
	}
	m, err := f.mapper(in)
	if err != nil {
		return nil, err
	}
	fl.m = m
	return fl, nil
}

func (fl *file) Size() int64  { return fl.size }
func (fl *file) Close() error { return nil }

func (fl *file) Read(p []byte) (int, error) {
	n, err := fl.ReadAt(p, fl.pos)
	fl.pos += int64(n)
	return n, err
}

// ReadAt reads len(p) bytes at off; holes and unwritten extents read as
// zeros. Physically contiguous blocks are read with one call.
func (fl *file) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("%w: negative offset", fs.ErrInvalid)
	}
	if off >= fl.size {
		return 0, io.EOF
	}
	want := len(p)
	if int64(want) > fl.size-off {
		p = p[:fl.size-off]
	}
	if fl.inline != nil || fl.m == nil {
		n := copy(p, fl.inline[off:])
		return n, eofIf(n < want)
	}
	bs := fl.f.blockSize
	done := 0
	for done < len(p) {
		pos := off + int64(done)
		lblk := pos / bs
		if lblk >= 1<<32 {
			clear(p[done:])
			done = len(p)
			break
		}
		inBlk := pos % bs
		pblk, run, err := fl.m.lookup(uint32(lblk))
		if err != nil {
			return done, err
		}
		run = max(run, 1)
		avail := int64(run)*bs - inBlk
		n := int64(len(p) - done)
		if n > avail {
			n = avail
		}
		if pblk == 0 {
			clear(p[done : done+int(n)])
		} else {
			if pblk+run > fl.f.blocksCount {
				return done, corrupt(-1, fmt.Sprintf("block map of inode %d", fl.in.ino), "block %d beyond the filesystem", pblk)
			}
			if _, err := fl.f.r.ReadAt(p[done:done+int(n)], int64(pblk)*bs+inBlk); err != nil {
				return done, fmt.Errorf("%s: reading inode %d: %w", fl.f.name, fl.in.ino, err)
			}
		}
		done += int(n)
	}
	return done, eofIf(done < want)
}

func eofIf(short bool) error {
	if short {
		return io.EOF
	}
	return nil
}
