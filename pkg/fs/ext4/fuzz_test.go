package ext4

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"sort"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
)

// Fuzz targets for every parser. Seed corpora under testdata/fuzz/ are
// taken from the committed fixtures' bytes by TestWriteFuzzSeeds
// (fuzzseed_test.go, build tag fuzzseeds).

// sparseImage is a zero-filled device of size bytes with chunks overlaid.
type sparseImage struct {
	size   int64
	chunks []sparseChunk
}

type sparseChunk struct {
	off int64
	b   []byte
}

func (s *sparseImage) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= s.size {
		return 0, errors.New("read outside the device")
	}
	n := len(p)
	if int64(n) > s.size-off {
		n = int(s.size - off)
	}
	clear(p[:n])
	for _, c := range s.chunks {
		lo, hi := max(off, c.off), min(off+int64(n), c.off+int64(len(c.b)))
		if lo < hi {
			copy(p[lo-off:hi-off], c.b[lo-c.off:hi-c.off])
		}
	}
	if n < len(p) {
		return n, errors.New("short read")
	}
	return n, nil
}

func (s *sparseImage) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > s.size {
		return 0, errors.New("write outside the device")
	}
	s.chunks = append(s.chunks, sparseChunk{off, append([]byte{}, p...)})
	return len(p), nil
}

// decodeSparse decodes FuzzOpen's input: le32 device size in KiB (at most
// 1 MiB, so that one input stays fast: a directory may legitimately fill
// the device), then records of le32 offset, le16 length, bytes.
func decodeSparse(data []byte) *sparseImage {
	if len(data) < 4 {
		return &sparseImage{size: 0}
	}
	s := &sparseImage{size: int64(binary.LittleEndian.Uint32(data)%(1<<10)) << 10}
	for p := 4; p+6 <= len(data); {
		off := int64(binary.LittleEndian.Uint32(data[p:]))
		n := int(binary.LittleEndian.Uint16(data[p+4:]))
		p += 6
		n = min(n, len(data)-p)
		if off+int64(n) <= s.size {
			s.chunks = append(s.chunks, sparseChunk{off, data[p : p+n]})
		}
		p += n
	}
	return s
}

// encodeSparse encodes the non-zero 1 KiB pieces of an image, trailing
// zeros trimmed, as decodeSparse reads them.
func encodeSparse(img []byte) []byte {
	out := binary.LittleEndian.AppendUint32(nil, uint32(len(img)>>10))
	for off := 0; off < len(img); off += 1024 {
		b := bytes.TrimRight(img[off:min(off+1024, len(img))], "\x00")
		if len(b) == 0 {
			continue
		}
		out = binary.LittleEndian.AppendUint32(out, uint32(off))
		out = binary.LittleEndian.AppendUint16(out, uint16(len(b)))
		out = append(out, b...)
	}
	return out
}

// exercise reads everything reachable in f, bounded, and must not panic.
func exercise(f *FS) {
	budget := 200
	seen := map[uint64]bool{}
	var walk func(p string, depth int)
	walk = func(p string, depth int) {
		a, err := f.Stat(p)
		if err != nil || depth > 8 || seen[a.Ino] {
			return
		}
		seen[a.Ino] = true
		ents, err := f.ReadDir(p)
		if err != nil {
			return
		}
		for _, e := range ents {
			if budget--; budget < 0 {
				return
			}
			c := p + "/" + e.Name
			if p == "/" {
				c = "/" + e.Name
			}
			f.Lstat(c)
			f.Stat(c)
			f.Xattrs(c)
			f.Readlink(c)
			if fl, err := f.Open(c); err == nil && fl.Size() < 1<<20 {
				f.ReadFile(c)
			}
			walk(c, depth+1)
		}
	}
	f.Info()
	walk("/", 0)
}

// FuzzOpen: Open, read everything, then remove and truncate on a copy;
// nothing may panic, hang or allocate what the image claims.
func FuzzOpen(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		img := decodeSparse(data)
		fsys, err := Open(img, img.size)
		if err != nil {
			return
		}
		exercise(fsys)
		w, err := OpenWritable(img, img.size, Options{})
		if err != nil {
			return
		}
		ents, _ := w.ReadDir("/")
		for _, e := range ents {
			w.Truncate("/"+e.Name, 100)
			w.RemoveAll("/" + e.Name)
		}
		w.Sync()
	})
}

// FuzzSuperblock: any 1024 bytes as a superblock.
func FuzzSuperblock(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		fsys := &FS{size: 1 << 40, sbRaw: make([]byte, superblockSize), name: "fuzz"}
		copy(fsys.sbRaw, data)
		if err := fsys.parseSuperblock(); err != nil {
			return
		}
		if fsys.blockSize < 1024 || fsys.groups == 0 || fsys.descSize < gdSize32 {
			t.Fatalf("accepted geometry: block %d groups %d desc %d", fsys.blockSize, fsys.groups, fsys.descSize)
		}
		_ = writeRefusal(&fsys.sb)
		_ = fsType(&fsys.sb)
	})
}

// FuzzGroupDescriptors: a superblock (first 1024 bytes) and a descriptor
// block (the rest) on an otherwise empty device.
func FuzzGroupDescriptors(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < superblockSize {
			return
		}
		sb := data[:superblockSize]
		var s Superblock
		decode(sb, &s)
		if s.LogBlockSize > 2 {
			return
		}
		bs := int64(1024) << s.LogBlockSize
		img := &sparseImage{size: 1 << 30, chunks: []sparseChunk{{superblockOffset, sb}}}
		gdt := int64(s.FirstDataBlock+1) * bs
		img.chunks = append(img.chunks, sparseChunk{gdt, data[superblockSize:]})
		fsys, err := Open(img, img.size)
		if err != nil {
			return
		}
		for g := uint32(0); g < fsys.groups && g < 64; g++ {
			fsys.encodeGroupDesc(g)
			fsys.loadBitmap(g, false)
			fsys.loadBitmap(g, true)
		}
	})
}

// fuzzFS opens a committed fixture into memory for the inode and extent
// targets.
func fuzzFS(f *testing.F, name string) *FS {
	b, err := os.ReadFile(fixture.Path(f, name))
	if err != nil {
		f.Fatal(err)
	}
	fsys, err := Open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		f.Fatal(err)
	}
	return fsys
}

// FuzzInode: any bytes as inode 12 of a real filesystem, then every
// reader of an inode.
func FuzzInode(f *testing.F) {
	fsys := fuzzFS(f, "ext4-nocsum.img")
	f.Fuzz(func(t *testing.T, data []byte) {
		raw := make([]byte, fsys.inodeSize)
		copy(raw, data)
		in, err := fsys.parseInode(12, raw, 0)
		if err != nil {
			return
		}
		fsys.attr(in)
		fsys.xattrs(in)
		if in.isLink() {
			fsys.readlink(in)
		}
		if in.isDir() {
			fsys.forEachDirent(in, func(*dirent, dirLoc) bool { return false })
		}
		if fl, err := fsys.newFile(in); err == nil {
			buf := make([]byte, 4096)
			fl.ReadAt(buf, 0)
			fl.ReadAt(buf, fl.Size()/2)
		}
		fsys.planTruncate(in, 1)
	})
}

// FuzzExtentNode: any bytes as an extent node, alone and as the root of
// an inode's tree on a real filesystem.
func FuzzExtentNode(f *testing.F) {
	fsys := fuzzFS(f, "ext4-fragmented.img")
	f.Fuzz(func(t *testing.T, data []byte) {
		h, idx, ext, err := parseExtentNode(data)
		if err != nil {
			return
		}
		if int(h.Entries) != len(idx)+len(ext) {
			t.Fatalf("%d entries, parsed %d", h.Entries, len(idx)+len(ext))
		}
		in := &inode{ino: 12, raw: make([]byte, fsys.inodeSize)}
		copy(in.raw[inodeBlockOff:inodeBlockOff+inodeBlockLen], data)
		in.syncBlockFromRaw()
		in.d.Flags = inodeFlagExtents
		if m, err := fsys.newExtentMapper(in); err == nil {
			m.lookup(0)
			m.lookup(1 << 20)
		}
		fsys.planTruncate(in, 3)
	})
}

// FuzzDirBlock: any bytes as a directory block. Whatever parses must stay
// parseable after any one entry is removed, with one used entry less.
func FuzzDirBlock(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, ft := range []bool{true, false} {
			ents, err := parseDirEntries(data, ft, len(data))
			if err != nil {
				continue
			}
			used := 0
			for _, e := range ents {
				if e.ino != 0 {
					used++
				}
			}
			prev := -1
			for i := range ents {
				e := ents[i]
				if e.ino != 0 {
					b := append([]byte{}, data...)
					unlinkInRegion(b, &e, prev)
					after, err := parseDirEntries(b, ft, len(b))
					if err != nil {
						t.Fatalf("block unparseable after removing entry at %d: %v", e.off, err)
					}
					n := 0
					for _, a := range after {
						if a.ino != 0 {
							n++
						}
					}
					if n != used-1 {
						t.Fatalf("removing entry at %d left %d used entries, want %d", e.off, n, used-1)
					}
				}
				prev = e.off
			}
		}
	})
}

// FuzzHtreeNode: any bytes as an htree root or interior node.
func FuzzHtreeNode(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, root := range []bool{true, false} {
			for _, csum := range []bool{true, false} {
				n, err := parseDxNode(data, root, csum)
				if err != nil {
					continue
				}
				if n.count != len(n.entries) || n.count > n.limit || n.countOff+n.limit*dxEntrySize > len(data) {
					t.Fatalf("accepted node: %+v in %d bytes", n, len(data))
				}
				if csum {
					t := n.countOff + n.limit*dxEntrySize
					dxChecksum(1, data, n.countOff, n.count, data[t:t+dxTailSize])
				}
			}
		}
	})
}

// FuzzXattr: any bytes as an xattr block and as an in-inode area.
func FuzzXattr(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, xs, err := parseXattrBlock(data); err == nil {
			names := make([]string, 0, len(xs))
			for i := range xs {
				if n, ok := xs[i].fullName(); ok {
					names = append(names, n)
				}
				if xs[i].valueInum == 0 && int(xs[i].valueSize) != len(xs[i].value) {
					t.Fatalf("value of %d bytes, size %d", len(xs[i].value), xs[i].valueSize)
				}
				xattrHash(xs[i].name, xs[i].value)
			}
			sort.Strings(names)
		}
		parseXattrEntries(data, data)
		aclToXattr(data)
	})
}
