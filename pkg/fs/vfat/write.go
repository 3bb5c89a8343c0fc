package vfat

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/imgprep/imgprep/pkg/fs"
)

// Options configure OpenWritable.
type Options struct {
	// Now is the clock for modification times; nil means time.Now.
	Now func() time.Time
}

// OpenWritable is Open plus writing through rw. It supports what cleaning
// a guest's EFI system partition needs: Remove, RemoveAll, Truncate,
// WriteFile over an existing file, and Utimes. Creating files or
// directories, renaming, links, and permission changes (which FAT cannot
// store) fail with an error wrapping fs.ErrInvalid, changing nothing.
//
// Every change is written through at once, in the order that leaves a
// crash harmless (fsck.fat then reports lost clusters at worst): new
// clusters are linked and filled before the directory entry points to
// them, and freed clusters are released after it no longer does. Every
// copy of the FAT is kept identical, and FAT32's FSInfo free count is
// kept exact. A removal stamps the directory that held the entry with
// the clock (its modification time and access date, in its own entry), as
// Linux's vfat does; the root directory has no times.
func OpenWritable(rw interface {
	io.ReaderAt
	io.WriterAt
}, size int64, opts Options) (*FS, error) {
	f, err := Open(rw, size)
	if err != nil {
		return nil, err
	}
	f.w = rw
	f.now = opts.Now
	if f.now == nil {
		f.now = time.Now
	}
	return f, nil
}

// Compile-time check: *FS is a writable pkg/fs filesystem.
var _ fs.WritableFS = (*FS)(nil)

var errNotSupported = fmt.Errorf("%w: not supported on vfat", fs.ErrInvalid)

func (f *FS) writable() error {
	if f.w == nil {
		return ErrReadOnly
	}
	return nil
}

func (f *FS) writeAt(b []byte, off int64) error {
	if off < 0 || off+int64(len(b)) > f.size {
		return fmt.Errorf("vfat: write of %d bytes at %d outside the device", len(b), off)
	}
	_, err := f.w.WriteAt(b, off)
	return err
}

// setFAT sets cluster c's entry to v in every copy of the FAT.
func (f *FS) setFAT(c, v uint32) error {
	var off, n int64
	switch f.fatType {
	case 12:
		off, n = int64(c)+int64(c)/2, 2
	case 16:
		off, n = int64(c)*2, 2
	default:
		off, n = int64(c)*4, 4
	}
	b := make([]byte, n)
	for i := range b {
		v, err := f.fatByte(off + int64(i))
		if err != nil {
			return err
		}
		b[i] = v
	}
	switch f.fatType {
	case 12:
		cur := binary.LittleEndian.Uint16(b)
		if c&1 == 1 {
			cur = cur&0x000F | uint16(v&0xFFF)<<4
		} else {
			cur = cur&0xF000 | uint16(v&0xFFF)
		}
		binary.LittleEndian.PutUint16(b, cur)
	case 16:
		binary.LittleEndian.PutUint16(b, uint16(v))
	default:
		cur := binary.LittleEndian.Uint32(b)
		binary.LittleEndian.PutUint32(b, cur&0xF0000000|v&0x0FFFFFFF)
	}
	for i := 0; i < f.numFATs; i++ {
		if err := f.writeAt(b, f.fatOffset+int64(i)*f.fatBytes+off); err != nil {
			return err
		}
	}
	f.mu.Lock()
	for i := int64(0); i < n; i++ {
		delete(f.fatCache, (off+i)/f.sectorSize*f.sectorSize)
	}
	f.mu.Unlock()
	return nil
}

func (f *FS) eoc() uint32 {
	switch f.fatType {
	case 12:
		return 0xFFF
	case 16:
		return 0xFFFF
	}
	return 0x0FFFFFFF
}

// allocate links n free clusters into a chain ending with an end-of-chain
// mark and fills them with data (zeros past its end). Nothing is written
// when there are not n free clusters.
func (f *FS) allocate(n int64, data []byte) ([]uint32, error) {
	var free []uint32
	for c := uint32(2); c-2 < f.clusterCount && int64(len(free)) < n; c++ {
		v, err := f.fatEntry(c)
		if err != nil {
			return nil, err
		}
		if v == 0 {
			free = append(free, c)
		}
	}
	if int64(len(free)) < n {
		return nil, fmt.Errorf("%w: %d clusters needed, %d free", fs.ErrNoSpace, n, len(free))
	}
	buf := make([]byte, f.clusterSize)
	for i, c := range free {
		clear(buf)
		if lo := int64(i) * f.clusterSize; lo < int64(len(data)) {
			copy(buf, data[lo:])
		}
		if err := f.writeAt(buf, f.clusterOffset(c)); err != nil {
			return nil, err
		}
	}
	for i, c := range free {
		next := f.eoc()
		if i+1 < len(free) {
			next = free[i+1]
		}
		if err := f.setFAT(c, next); err != nil {
			return nil, err
		}
	}
	return free, f.adjustFree(-int64(len(free)))
}

// release frees clusters.
func (f *FS) release(cl []uint32) error {
	for _, c := range cl {
		if err := f.setFAT(c, 0); err != nil {
			return err
		}
	}
	return f.adjustFree(int64(len(cl)))
}

// adjustFree keeps FAT32's FSInfo free count exact (when it is known).
func (f *FS) adjustFree(delta int64) error {
	if f.fatType != 32 || f.fsInfoOffset == 0 || delta == 0 {
		return nil
	}
	b := make([]byte, 512)
	if _, err := f.r.ReadAt(b, f.fsInfoOffset); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if binary.LittleEndian.Uint32(b[0:]) != 0x41615252 || binary.LittleEndian.Uint32(b[484:]) != 0x61417272 {
		return nil
	}
	cur := binary.LittleEndian.Uint32(b[488:])
	if cur == 0xFFFFFFFF {
		return nil
	}
	v := int64(cur) + delta
	if v < 0 || v > int64(f.clusterCount) {
		v = 0xFFFFFFFF // inconsistent already: mark it unknown
	}
	binary.LittleEndian.PutUint32(b[488:], uint32(v))
	return f.writeAt(b[488:492], f.fsInfoOffset+488)
}

// updateEntry rewrites the short entry of n with fn applied.
func (f *FS) updateEntry(n *node, fn func(e []byte)) error {
	e := make([]byte, dirEntrySize)
	if _, err := f.r.ReadAt(e, n.off); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	fn(e)
	return f.writeAt(e, n.off)
}

func (f *FS) stamp(e []byte, t time.Time) {
	d, tm := fatDate(t)
	binary.LittleEndian.PutUint16(e[22:], tm)
	binary.LittleEndian.PutUint16(e[24:], d)
	binary.LittleEndian.PutUint16(e[18:], d)
}

// fatDate encodes t (UTC) as a FAT date and time, clamped to 1980–2107.
func fatDate(t time.Time) (date, tm uint16) {
	t = t.UTC()
	if t.Year() < 1980 {
		return 0x21, 0 // 1980-01-01
	}
	if t.Year() > 2107 {
		t = time.Date(2107, 12, 31, 23, 59, 58, 0, time.UTC)
	}
	date = uint16(t.Year()-1980)<<9 | uint16(t.Month())<<5 | uint16(t.Day())
	tm = uint16(t.Hour())<<11 | uint16(t.Minute())<<5 | uint16(t.Second()/2)
	return date, tm
}

func setFirstCluster(e []byte, c uint32) {
	binary.LittleEndian.PutUint16(e[20:], uint16(c>>16))
	binary.LittleEndian.PutUint16(e[26:], uint16(c))
}

// fileChain returns the clusters a file or directory occupies.
func (f *FS) fileChain(n *node) ([]uint32, error) {
	if n.cluster == 0 {
		return nil, nil
	}
	return f.chain(n.cluster, -1)
}

// removeEntry removes name from directory dir: a file or an empty
// directory, or with all a directory and everything below it.
func (f *FS) removeEntry(dir fs.Ino, name string, all bool) error {
	d, n, err := f.child(dir, name)
	if err != nil {
		return err
	}
	if all {
		return f.removeFrom(d, n, func(n *node) error { return f.removeTree(n, 0, map[uint32]bool{}) })
	}
	if n.isDir() {
		ents, err := f.list(n)
		if err != nil {
			return err
		}
		if len(ents) > 0 {
			return fs.ErrNotEmpty
		}
	}
	return f.removeFrom(d, n, f.remove)
}

// removeFrom removes n from the directory parent with rm, then stamps the
// parent as Linux's fat_remove_entries does: the directory's mtime and
// atime become the clock's, written to its own entry (the root has none).
func (f *FS) removeFrom(parent, n *node, rm func(*node) error) error {
	if err := rm(n); err != nil {
		return err
	}
	if parent == nil || parent.off == 1 {
		return nil
	}
	now := f.now()
	return f.updateEntry(parent, func(e []byte) { f.stamp(e, now) })
}

// remove marks n's entries deleted, then frees its clusters.
func (f *FS) remove(n *node) error {
	cl, err := f.fileChain(n)
	if err != nil {
		return err
	}
	for _, off := range n.ents {
		if err := f.writeAt([]byte{0xE5}, off); err != nil {
			return err
		}
	}
	return f.release(cl)
}

// removeTree removes n and everything below it. A directory met twice
// (its clusters shared with another, or a cycle) is corruption: the walk
// visits each directory once, so it ends on any image.
func (f *FS) removeTree(n *node, depth int, seen map[uint32]bool) error {
	if n.isDir() {
		if depth > 64 {
			return corrupt(n.off, "directory", ErrCorrupt, "nested more than 64 deep")
		}
		if seen[n.cluster] {
			return corrupt(n.off, "directory", ErrCorrupt, "cluster %d belongs to two directories", n.cluster)
		}
		seen[n.cluster] = true
		ents, err := f.list(n)
		if err != nil {
			return err
		}
		for _, e := range ents {
			if err := f.removeTree(e, depth+1, seen); err != nil {
				return err
			}
		}
	}
	return f.remove(n)
}

// truncate sets the size of file n.
func (f *FS) truncate(n *node, size int64) error {
	if n.isDir() {
		return fs.ErrIsDir
	}
	if size < 0 || size > 0xFFFFFFFF {
		return fs.ErrInvalid
	}
	old, err := f.fileChain(n)
	if err != nil {
		return err
	}
	need := (size + f.clusterSize - 1) / f.clusterSize
	if need > int64(len(old)) {
		// Growing: the same as writing the old content and zeros.
		data, err := f.readAll(n)
		if err != nil {
			return err
		}
		return f.replace(n, append(data, make([]byte, size-int64(len(data)))...), old, f.now())
	}
	err = f.updateEntry(n, func(e []byte) {
		binary.LittleEndian.PutUint32(e[28:], uint32(size))
		if need == 0 {
			setFirstCluster(e, 0)
		}
		f.stamp(e, f.now())
	})
	if err != nil {
		return err
	}
	if need > 0 && need < int64(len(old)) {
		if err := f.setFAT(old[need-1], f.eoc()); err != nil {
			return err
		}
	}
	return f.release(old[need:])
}

// writeFile replaces the content of the existing file name in dir: the
// new content goes to newly allocated clusters, the entry is switched to
// them, and the old clusters are freed. opts.Times.Mtime, when set, is the
// new modification time.
func (f *FS) writeFile(dir fs.Ino, name string, data []byte, opts fs.WriteOptions) error {
	_, n, err := f.child(dir, name)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("creating a file: %w", errNotSupported)
	}
	if err != nil {
		return err
	}
	if n.isDir() {
		return fs.ErrIsDir
	}
	if int64(len(data)) > 0xFFFFFFFF {
		return fs.ErrNoSpace
	}
	old, err := f.fileChain(n)
	if err != nil {
		return err
	}
	mt := opts.Times.Mtime
	if mt.IsZero() {
		mt = f.now()
	}
	return f.replace(n, data, old, mt)
}

func (f *FS) replace(n *node, data []byte, old []uint32, mt time.Time) error {
	need := (int64(len(data)) + f.clusterSize - 1) / f.clusterSize
	var cl []uint32
	if need > 0 {
		var err error
		if cl, err = f.allocate(need, data); err != nil {
			return err
		}
	}
	err := f.updateEntry(n, func(e []byte) {
		first := uint32(0)
		if len(cl) > 0 {
			first = cl[0]
		}
		setFirstCluster(e, first)
		binary.LittleEndian.PutUint32(e[28:], uint32(len(data)))
		f.stamp(e, mt)
	})
	if err != nil {
		return err
	}
	return f.release(old)
}

// setattr sets the times of n: FAT keeps a modification time (2 s
// resolution) and an access date. It stores no owners or permissions.
func (f *FS) setattr(n *node, c fs.AttrChange) error {
	if c.Set&(fs.SetPerm|fs.SetOwner) != 0 {
		return fmt.Errorf("owners and permissions: %w", errNotSupported)
	}
	if n.off == 1 {
		return fmt.Errorf("the root directory has no times: %w", errNotSupported)
	}
	t := c.Times
	return f.updateEntry(n, func(e []byte) {
		if !t.Mtime.IsZero() {
			d, tm := fatDate(t.Mtime)
			binary.LittleEndian.PutUint16(e[22:], tm)
			binary.LittleEndian.PutUint16(e[24:], d)
		}
		if !t.Atime.IsZero() {
			d, _ := fatDate(t.Atime)
			binary.LittleEndian.PutUint16(e[18:], d)
		}
	})
}

// Sync implements fs.WritableFS: every change is already written through.
func (f *FS) Sync() error { return nil }
