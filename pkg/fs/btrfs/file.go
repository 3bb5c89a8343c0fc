package btrfs

import (
	"bytes"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/klauspost/compress/zstd"
)

// fileExtent is one EXTENT_DATA item of a file.
type fileExtent struct {
	pos    uint64 // file offset (the key offset)
	length uint64 // bytes of the file it covers
	typ    uint8
	comp   uint8
	item   FileExtentItem
	inline []byte // inline data as stored (maybe compressed)
	phys   int64  // where the item's leaf was read
}

// Bounds on what one extent may make this package allocate.
const (
	maxExtents      = 1 << 20
	maxCompressed   = 1 << 20 // the kernel writes at most 128 KiB
	maxUncompressed = 1 << 20 // the kernel writes at most 128 KiB
	readChunk       = 1 << 20
)

// extents reads every EXTENT_DATA item of inode ino, in file order.
func (v *Volume) extents(s *subvol, ino uint64, size uint64) ([]fileExtent, error) {
	var out []fileExtent
	what := func() string { return fmt.Sprintf("file extent of inode %d of subvolume %d", ino, s.id) }
	lo := Key{ObjectID: ino, Type: typeExtentData}
	hi := Key{ObjectID: ino, Type: typeExtentData, Offset: ^uint64(0)}
	err := v.walk(s.root, lo, hi, func(k Key, d []byte, p int64) (bool, error) {
		if len(out) >= maxExtents {
			return false, fmt.Errorf("%w: inode %d has more than %d extents", ErrUnsupported, ino, maxExtents)
		}
		e, err := parseFileExtent(k, d, p, what())
		if err != nil {
			return false, err
		}
		if n := len(out); n > 0 && out[n-1].pos+out[n-1].length > k.Offset {
			return false, corrupt(what(), -1, p, "extent at %d overlaps the one at %d", k.Offset, out[n-1].pos)
		}
		out = append(out, e)
		return true, nil
	})
	return out, err
}

// parseFileExtent parses the EXTENT_DATA item with key k and data d, read
// from the leaf at physical offset p.
func parseFileExtent(k Key, d []byte, p int64, what string) (fileExtent, error) {
	e := fileExtent{pos: k.Offset, phys: p}
	if len(d) < fileExtentInlineHeader {
		return e, corrupt(what, -1, p, "item of %d bytes", len(d))
	}
	padded := make([]byte, fileExtentItemSize)
	copy(padded, d)
	decode(padded, &e.item)
	e.typ, e.comp = e.item.Type, e.item.Compression
	if e.item.Encryption != 0 || e.item.OtherEncoding != 0 {
		return e, fmt.Errorf("%w: %s is encrypted or encoded", ErrUnsupported, what)
	}
	if e.comp > compressZstd {
		return e, fmt.Errorf("%w: %s uses compression type %d", ErrUnsupported, what, e.comp)
	}
	switch e.typ {
	case extentInline:
		e.inline = d[fileExtentInlineHeader:]
		e.length = e.item.RAMBytes
		if e.comp == compressNone && e.length > uint64(len(e.inline)) {
			return e, corrupt(what, -1, p, "inline extent of %d bytes holds %d", e.length, len(e.inline))
		}
		if e.length > maxUncompressed {
			return e, corrupt(what, -1, p, "inline extent of %d bytes", e.length)
		}
	case extentRegular, extentPrealloc:
		if len(d) < fileExtentItemSize {
			return e, corrupt(what, -1, p, "item of %d bytes", len(d))
		}
		e.length = e.item.NumBytes
		it := e.item
		if it.DiskBytenr != 0 && e.comp == compressNone && it.Offset+it.NumBytes > it.DiskNumBytes {
			return e, corrupt(what, int64(it.DiskBytenr), p, "offset %d + %d bytes past the extent's %d", it.Offset, it.NumBytes, it.DiskNumBytes)
		}
		if e.comp != compressNone && (it.DiskNumBytes > maxCompressed || it.RAMBytes > maxUncompressed || it.Offset+it.NumBytes > it.RAMBytes) {
			return e, corrupt(what, int64(it.DiskBytenr), p, "compressed extent of %d bytes (%d uncompressed, offset %d, %d used)", it.DiskNumBytes, it.RAMBytes, it.Offset, it.NumBytes)
		}
	default:
		return e, corrupt(what, -1, p, "extent type %d", e.typ)
	}
	if k.Offset+e.length < k.Offset {
		return e, corrupt(what, -1, p, "extent end overflows")
	}
	return e, nil
}

// file is an open regular file; it implements fs.File.
type file struct {
	v         *Volume
	s         *subvol
	ino       uint64
	size      int64
	exts      []fileExtent
	nodatasum bool
	off       int64
	// The last decompressed extent, by index in exts.
	cached    int
	cachedBuf []byte
}

func (f *file) Size() int64  { return f.size }
func (f *file) Close() error { return nil }

func (f *file) Read(p []byte) (int, error) {
	n, err := f.ReadAt(p, f.off)
	f.off += int64(n)
	return n, err
}

// ReadAt reads from the file's extents; holes, prealloc extents and the
// bytes past the last extent read as zeros.
func (f *file) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("btrfs: negative offset %d", off)
	}
	if off >= f.size {
		return 0, io.EOF
	}
	want := p
	if rem := f.size - off; int64(len(want)) > rem {
		want = want[:rem]
	}
	clear(want)
	pos := uint64(off)
	end := pos + uint64(len(want))
	i := sort.Search(len(f.exts), func(i int) bool { return f.exts[i].pos+f.exts[i].length > pos })
	for ; i < len(f.exts) && f.exts[i].pos < end; i++ {
		e := &f.exts[i]
		a, b := max(pos, e.pos), min(end, e.pos+e.length)
		if a >= b {
			continue
		}
		if err := f.readExtent(i, want[a-pos:b-pos], a-e.pos); err != nil {
			return 0, err
		}
	}
	if len(want) < len(p) {
		return len(want), io.EOF
	}
	return len(want), nil
}

// readExtent fills dst with the bytes of extent i from offset rel within
// it.
func (f *file) readExtent(i int, dst []byte, rel uint64) error {
	e := &f.exts[i]
	it := e.item
	switch {
	case e.typ == extentPrealloc, e.typ == extentRegular && it.DiskBytenr == 0:
		return nil // zeros
	case e.typ == extentInline && e.comp == compressNone:
		copy(dst, e.inline[rel:])
		return nil
	case e.comp == compressNone:
		return f.v.readData(dst, it.DiskBytenr, it.Offset+rel, f.nodatasum, f.what())
	}
	if f.cachedBuf == nil || f.cached != i {
		buf, err := f.decompress(e)
		if err != nil {
			return err
		}
		f.cached, f.cachedBuf = i, buf
	}
	start := rel
	if e.typ != extentInline {
		start += it.Offset
	}
	if start < uint64(len(f.cachedBuf)) {
		copy(dst, f.cachedBuf[start:])
	}
	return nil
}

func (f *file) what() string { return fmt.Sprintf("data of inode %d of subvolume %d", f.ino, f.s.id) }

// decompress returns the uncompressed bytes of a compressed extent (at
// most its ram_bytes; a short stream leaves the rest zero, as the kernel
// does).
func (f *file) decompress(e *fileExtent) ([]byte, error) {
	src := e.inline
	logical := int64(-1)
	if e.typ != extentInline {
		logical = int64(e.item.DiskBytenr)
		src = make([]byte, e.item.DiskNumBytes)
		if err := f.v.readData(src, e.item.DiskBytenr, 0, f.nodatasum, f.what()); err != nil {
			return nil, err
		}
	}
	ram := int(e.item.RAMBytes)
	out, err := decompress(e.comp, src, ram, int(f.v.sb.SectorSize))
	if err != nil {
		return nil, corrupt(fmt.Sprintf("%s extent of inode %d of subvolume %d", compressionName(e.comp), f.ino, f.s.id), logical, e.phys, "%v", err)
	}
	if len(out) < ram {
		out = append(out, make([]byte, ram-len(out))...)
	}
	return out, nil
}

func compressionName(c uint8) string {
	switch c {
	case compressZlib:
		return "zlib"
	case compressLZO:
		return "lzo"
	case compressZstd:
		return "zstd"
	}
	return "uncompressed"
}

// zstdMaxWindow bounds the decoder's window; btrfs compresses with a
// window of at most 128 KiB (ZSTD_BTRFS_MAX_WINDOWLOG 17).
const zstdMaxWindow = 1 << 20

// decompress decodes src with algorithm comp into at most ram bytes.
func decompress(comp uint8, src []byte, ram, sectorSize int) ([]byte, error) {
	switch comp {
	case compressZlib:
		zr, err := zlib.NewReader(bytes.NewReader(src))
		if err != nil {
			return nil, err
		}
		return readUpTo(zr, ram)
	case compressZstd:
		zr, err := zstd.NewReader(bytes.NewReader(src), zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(zstdMaxWindow),
			zstd.WithDecoderMaxMemory(uint64(maxUncompressed)*4))
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		out, err := readUpTo(zr, ram)
		if errors.Is(err, zstd.ErrMagicMismatch) && len(out) > 0 {
			// The frame ended before ram_bytes (the file's last,
			// partial sector) and the sector's zero padding follows; the
			// kernel stops at the frame's end too.
			return out, nil
		}
		return out, err
	case compressLZO:
		return btrfsLZO(src, ram, sectorSize)
	}
	return nil, fmt.Errorf("compression type %d", comp)
}

// readUpTo reads at most n bytes from r; an early end is not an error.
func readUpTo(r io.Reader, n int) ([]byte, error) {
	buf := make([]byte, n)
	got, err := io.ReadFull(r, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return buf[:got], err
	}
	return buf[:got], nil
}
