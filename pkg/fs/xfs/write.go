package xfs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/imgprep/imgprep/pkg/fs"
)

// patch is a changed structure at a byte offset, waiting for Sync.
type patch struct {
	off int64
	b   []byte
}

// OpenWritable opens the filesystem for the changes this package makes so
// far: removing a non-directory from a shortform directory and truncating
// a regular file to 0, freeing its extents into the free-space btrees and
// its inode into the inode btrees, when every btree involved is a single
// leaf that needs no split. Anything else fails with a *RefusalError (and
// fs.ErrReadOnly) before anything changes. A dirty log, a feature it
// would not write, rmapbt and a non-empty reference count btree refuse
// the whole filesystem.
func OpenWritable(rw interface {
	io.ReaderAt
	io.WriterAt
}, size int64, opts Options) (*FS, error) {
	f, err := Open(rw, size, opts)
	if err != nil {
		return nil, err
	}
	if !errors.Is(f.refusal.Err, ErrReadOnly) {
		return nil, f.refusal
	}
	if f.sb.FeaturesRoCompat&roCompatRmapbt != 0 {
		return nil, &RefusalError{Name: f.name, Why: ": imgprep cannot write xfs with rmapbt yet", Err: ErrUnsupported}
	}
	if f.sb.FeaturesIncompat&incompatSpinodes == 0 {
		return nil, &RefusalError{Name: f.name, Why: ": imgprep writes xfs with sparse inodes only", Err: ErrUnsupported}
	}
	f.w = rw
	f.refusal = nil
	f.now = time.Now
	if opts.Now != nil {
		f.now = opts.Now
	}
	f.Tree = fs.NewTree(wengine{engine{f}}, f.name)
	return f, nil
}

// Sync writes every changed structure.
func (f *FS) Sync() error {
	if f.w == nil {
		return f.refusal
	}
	sort.Slice(f.dirty, func(i, j int) bool { return f.dirty[i].off < f.dirty[j].off })
	for _, p := range f.dirty {
		if _, err := f.w.WriteAt(p.b, p.off); err != nil {
			return fmt.Errorf("xfs: writing %d bytes at %d: %w", len(p.b), p.off, err)
		}
	}
	f.dirty = nil
	return nil
}

// put records b as the new contents at off.
func (f *FS) put(off int64, b []byte) {
	for i, p := range f.dirty {
		if p.off == off && len(p.b) == len(b) {
			f.dirty[i].b = b
			return
		}
	}
	f.dirty = append(f.dirty, patch{off, b})
}

var errNotExistDir = fs.ErrNotExist

// notYet is the refusal of a change this package cannot make yet.
func (f *FS) notYet(what string) error {
	return &RefusalError{Name: f.name, Why: ": imgprep cannot " + what + " on xfs yet", Err: ErrUnsupported}
}

// wengine is the fs.WriteEngine: the changes it does not make are
// refused by name.
type wengine struct{ engine }

var (
	_ fs.WriteEngine = wengine{}
	_ fs.WritableFS  = (*FS)(nil)
)

func (e wengine) WriteFile(fs.Ino, string, []byte, fs.WriteOptions) error {
	return e.f.notYet("create or overwrite files")
}
func (e wengine) Mkdir(fs.Ino, string, uint32, fs.Owner) error {
	return e.f.notYet("create directories")
}
func (e wengine) Symlink(fs.Ino, string, string, fs.Owner) error {
	return e.f.notYet("create symlinks")
}
func (e wengine) Rename(fs.Ino, string, fs.Ino, string) error { return e.f.notYet("rename") }
func (e wengine) Setattr(fs.Ino, fs.AttrChange) error {
	return e.f.notYet("change modes, owners or times")
}

// RemoveAll removes a non-directory; directories are refused.
func (e wengine) RemoveAll(dir fs.Ino, name string) error { return e.Remove(dir, name) }

// atomically runs change, dropping every structure it recorded when it
// fails, so that a refused or failed change leaves nothing for Sync.
func (f *FS) atomically(change func() error) error {
	saved := append([]patch(nil), f.dirty...)
	sb := *f.sb
	if err := change(); err != nil {
		f.dirty, *f.sb = saved, sb
		return err
	}
	return nil
}

// Remove unlinks a non-directory from a shortform directory, freeing the
// inode and its blocks with its last link.
func (e wengine) Remove(dir fs.Ino, name string) error {
	return e.f.atomically(func() error { return e.remove(dir, name) })
}

func (e wengine) remove(dir fs.Ino, name string) error {
	f := e.f
	din, err := f.readInode(uint64(dir))
	if err != nil {
		return err
	}
	if !din.isDir() {
		return fs.ErrNotDir
	}
	var childIno uint64
	var commit func()
	if din.d.Format == fmtLocal {
		if din.data[1] != 0 {
			return f.notYet("remove entries from a directory with 64-bit inode numbers")
		}
		ents, err := f.parseShortform(din)
		if err != nil {
			return err
		}
		idx := -1
		for i, d := range ents {
			if d.name == name {
				idx = i
			}
		}
		if idx < 2 {
			return fs.ErrNotExist
		}
		childIno = ents[idx].ino
		commit = func() { f.shortformRemove(din, ents, idx) }
	} else {
		d, err := f.openDir(din)
		if err != nil {
			return err
		}
		if d.format != dirBlock {
			return f.notYet("remove entries from leaf or node directories")
		}
		if childIno, commit, err = f.blockRemove(d, name); err != nil {
			return err
		}
	}
	child, err := f.readInode(childIno)
	if err != nil {
		return err
	}
	if child.isDir() {
		return f.notYet("remove directories")
	}
	now := f.now()
	if child.d.NLink > 1 {
		binary.BigEndian.PutUint32(child.raw[16:], child.d.NLink-1)
		f.stamp(child, now, false)
		f.putInode(child)
	} else if err := f.freeInode(child); err != nil {
		return err
	}
	commit()
	f.stamp(din, now, true)
	f.putInode(din)
	return nil
}

// Truncate sets a regular file's size to 0, freeing its blocks; other
// sizes are refused.
func (e wengine) Truncate(ino fs.Ino, size int64) error {
	return e.f.atomically(func() error { return e.truncate(ino, size) })
}

func (e wengine) truncate(ino fs.Ino, size int64) error {
	f := e.f
	in, err := f.readInode(uint64(ino))
	if err != nil {
		return err
	}
	if !in.isReg() {
		return fmt.Errorf("%w: not a regular file", fs.ErrInvalid)
	}
	if size == in.size() {
		return nil
	}
	if size != 0 {
		return f.notYet("truncate to a size other than 0")
	}
	n, err := f.freeFork(in, 0)
	if err != nil {
		return err
	}
	raw := in.raw
	binary.BigEndian.PutUint64(raw[56:], 0)              // di_size
	binary.BigEndian.PutUint64(raw[64:], in.d.NBlocks-n) // di_nblocks
	binary.BigEndian.PutUint32(raw[76:], 0)              // di_nextents
	raw[5] = fmtExtents
	f.stamp(in, f.now(), true)
	f.putInode(in)
	return nil
}

// stamp sets ctime (and mtime) to now and bumps the change count.
func (f *FS) stamp(in *inode, now time.Time, mtime bool) {
	var v uint64
	if in.d.Flags2&diflag2Bigtime != 0 {
		v = uint64(now.Unix()+1<<31)*1e9 + uint64(now.Nanosecond())
	} else {
		v = uint64(uint32(now.Unix()))<<32 | uint64(now.Nanosecond())
	}
	binary.BigEndian.PutUint64(in.raw[48:], v)
	if mtime {
		binary.BigEndian.PutUint64(in.raw[40:], v)
	}
	binary.BigEndian.PutUint64(in.raw[104:], in.d.ChangeCount+1)
}

// putInode records in.raw with its CRC.
func (f *FS) putInode(in *inode) {
	binary.LittleEndian.PutUint32(in.raw[dinodeCRCOff:], cksum(in.raw, dinodeCRCOff))
	f.put(in.off, in.raw)
}

// shortformRemove rewrites directory din's shortform data without entry
// idx of ents (ents[0] and [1] are "." and "..").
func (f *FS) shortformRemove(din *inode, ents []dirent, idx int) {
	old := din.data[:din.size()]
	isz := 4
	if old[1] != 0 {
		isz = 8
	}
	ft := 0
	if f.g.ftype {
		ft = 1
	}
	// Walk the entries to find the byte range of entry idx.
	p := 2 + isz
	for i := 2; i < idx; i++ {
		p += 3 + int(old[p]) + ft + isz
	}
	l := 3 + int(old[p]) + ft + isz
	nb := append(append([]byte{}, old[:p]...), old[p+l:]...)
	nb[0]--
	clear(din.data)
	copy(din.data, nb)
	binary.BigEndian.PutUint64(din.raw[56:], uint64(len(nb)))
}
