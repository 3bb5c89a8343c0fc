package xfs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"sync"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/pkg/fs"
)

// The fuzz targets lay the fuzzer's bytes over one structure of a real
// filesystem (xfs-default.img), fix the structure's CRC so that parsing
// goes past it, and run every read over the result: nothing may panic,
// loop or allocate without bound, and any failure must be an error.

// overlay is an image with patches laid over it, read-only.
type overlay struct {
	base    []byte
	patches []patch
}

func (o *overlay) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= int64(len(o.base)) {
		return 0, os.ErrInvalid
	}
	n := copy(p, o.base[off:])
	for _, pt := range o.patches {
		lo, hi := max(off, pt.off), min(off+int64(n), pt.off+int64(len(pt.b)))
		if lo < hi {
			copy(p[lo-off:hi-off], pt.b[lo-pt.off:hi-pt.off])
		}
	}
	return n, nil
}

// fuzzBase is the pristine image and where its structures are.
type fuzzBase struct {
	img   []byte
	f     *FS
	sect  int64
	bsize int64
	inos  map[string]uint64 // path -> inode number
	// blocks: name -> byte offset of a directory, attribute or bmbt
	// block, with its CRC offset.
	blocks map[string][2]int64
}

var (
	fuzzOnce sync.Once
	fuzzImg  *fuzzBase
	fuzzErr  error
)

func loadFuzzBase(tb testing.TB) *fuzzBase {
	tb.Helper()
	fuzzOnce.Do(func() {
		p := fixture.PathIn(tb, "xfs-default.img", os.TempDir())
		b, err := os.ReadFile(p)
		os.Remove(p)
		if err != nil {
			fuzzErr = err
			return
		}
		fuzzImg, fuzzErr = indexFuzzBase(b)
	})
	if fuzzErr != nil {
		tb.Fatal(fuzzErr)
	}
	return fuzzImg
}

func indexFuzzBase(img []byte) (*fuzzBase, error) {
	f, err := Open(bytes.NewReader(img), int64(len(img)), Options{})
	if err != nil {
		return nil, err
	}
	fb := &fuzzBase{img: img, f: f, sect: int64(f.g.sectSize), bsize: int64(f.g.blockSize),
		inos: map[string]uint64{}, blocks: map[string][2]int64{}}
	for _, p := range []string{"/", "/etc/hostname", "/etc/machine-id", "/big", "/abs", "/blockdir", "/leafdir", "/nodedir", "/chr", "/small"} {
		r, err := f.W.Resolve(p, false)
		if err != nil {
			return nil, err
		}
		fb.inos[p] = uint64(r.Node.Ino)
	}
	// Directory and attribute blocks, by file block.
	fileBlock := func(p string, w int, fblk uint64) (int64, error) {
		in, err := f.readInode(fb.inos[p])
		if err != nil {
			return 0, err
		}
		ext, err := f.extents(in, w)
		if err != nil {
			return 0, err
		}
		e := (&forkMap{f: f, ext: ext}).find(fblk)
		if e == nil {
			return 0, os.ErrNotExist
		}
		return f.fsbOffset(e.start+fblk-e.off, 1, "")
	}
	leaf := uint64(dirLeafOffset) >> f.g.blockLog
	free := uint64(dirFreeOffset) >> f.g.blockLog
	for name, loc := range map[string]struct {
		path   string
		w      int
		fblk   uint64
		crcOff int64
	}{
		"block":     {"/blockdir", 0, 0, dir3CRCOff},
		"leaf-data": {"/leafdir", 0, 0, dir3CRCOff},
		"leaf1":     {"/leafdir", 0, leaf, da3CRCOff},
		"node-data": {"/nodedir", 0, 0, dir3CRCOff},
		"danode":    {"/nodedir", 0, leaf, da3CRCOff},
		"free":      {"/nodedir", 0, free, dir3CRCOff},
		"attr-leaf": {"/etc/hostname", 1, 0, da3CRCOff},
		"attr-rmt":  {"/big", 1, 1, rmtCRCOff},
	} {
		off, err := fileBlock(loc.path, loc.w, loc.fblk)
		if err != nil {
			return nil, err
		}
		fb.blocks[name] = [2]int64{off, loc.crcOff}
	}
	return fb, nil
}

// with returns an FS over the image with b laid at off, its CRC (at
// crcOff inside b, -1 for none) fixed, or nil when Open refuses it.
func (fb *fuzzBase) with(off int64, b []byte, crcOff int) *FS {
	b = append([]byte{}, b...)
	if crcOff >= 0 && len(b) >= crcOff+4 {
		binary.LittleEndian.PutUint32(b[crcOff:], cksum(b, crcOff))
	}
	o := &overlay{base: fb.img, patches: []patch{{off, b}}}
	f, err := Open(o, int64(len(fb.img)), Options{})
	if err != nil {
		return nil
	}
	return f
}

// exercise runs every read of the engine on inode ino and on the paths
// of the tree, bounded.
func exercise(f *FS, inos ...uint64) {
	e := engine{f}
	for _, ino := range inos {
		i := fs.Ino(ino)
		e.Stat(i)
		e.Readlink(i)
		e.Xattrs(i)
		n := 0
		e.ReadDir(i, func(d fs.DirEntry) bool {
			n++
			if n < 4 {
				e.Lookup(i, d.Name)
			}
			return n < 10000
		})
		e.Lookup(i, "entry-with-a-longish-name-00042")
		e.Lookup(i, "hostname")
		if fl, err := e.OpenFile(i); err == nil && fl.Size() < 1<<24 {
			buf := make([]byte, 4096)
			for off := int64(0); off < fl.Size(); off += 65536 {
				fl.ReadAt(buf, off)
			}
		}
	}
	f.ReadDir("/")
	f.ReadFile("/etc/hostname")
	f.Xattrs("/etc/machine-id")
}

// FuzzSuperblock: any bytes as the primary superblock sector, alone and
// as the superblock of the filesystem (CRC fixed).
func FuzzSuperblock(f *testing.F) {
	fb := loadFuzzBase(f)
	f.Add(fb.img[:fb.sect])
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) >= sbCRCOff+4 {
			b := append([]byte{}, data...)
			binary.LittleEndian.PutUint32(b[sbCRCOff:], cksum(b, sbCRCOff))
			parseSuperblock(b, int64(len(fb.img)))
		}
		parseSuperblock(data, int64(len(fb.img)))
		if len(data) > int(fb.sect) {
			data = data[:fb.sect]
		}
		if fs := fb.with(0, data, sbCRCOff); fs != nil {
			exercise(fs, fs.sb.RootIno)
		}
	})
}

// FuzzAGHeaders: any bytes as AG 1's AGF, AGI and AGFL sectors (each CRC
// fixed), and as AG 0's log-holding region's first sector.
func FuzzAGHeaders(f *testing.F) {
	fb := loadFuzzBase(f)
	ag1 := int64(fb.f.g.agBlocks) * fb.bsize
	f.Add(fb.img[ag1+fb.sect : ag1+4*fb.sect])
	f.Fuzz(func(t *testing.T, data []byte) {
		b := make([]byte, 3*fb.sect)
		copy(b, fb.img[ag1+fb.sect:])
		copy(b, data)
		for i, off := range []int{agfCRCOff, agiCRCOff, agflCRCOff} {
			s := b[int64(i)*fb.sect : int64(i+1)*fb.sect]
			binary.LittleEndian.PutUint32(s[off:], cksum(s, off))
		}
		if fs := fb.with(ag1+fb.sect, b, -1); fs != nil {
			exercise(fs, fs.sb.RootIno)
		}
		// The same bytes over the log's first sectors.
		logOff, _ := fb.f.fsbOffset(fb.f.sb.LogStart, 1, "")
		if fs := fb.with(logOff, data, -1); fs != nil {
			exercise(fs, fs.sb.RootIno)
		}
	})
}

// FuzzInode: any bytes as an inode (core and both forks; CRC fixed, its
// number kept) of a shortform directory, a file with a remote xattr, a
// symlink, a device and a block-format directory.
func FuzzInode(f *testing.F) {
	fb := loadFuzzBase(f)
	isz := int64(fb.f.g.inodeSize)
	for _, p := range []string{"/", "/big", "/abs", "/etc/machine-id", "/blockdir"} {
		off, _ := fb.f.inodeOffset(fb.inos[p])
		f.Add(fb.img[off : off+isz])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, p := range []string{"/", "/big", "/abs", "/chr", "/blockdir"} {
			ino := fb.inos[p]
			off, _ := fb.f.inodeOffset(ino)
			b := make([]byte, isz)
			copy(b, fb.img[off:off+isz])
			copy(b, data)
			binary.BigEndian.PutUint64(b[152:], ino)
			if fs := fb.with(off, b, dinodeCRCOff); fs != nil {
				exercise(fs, ino)
			}
		}
	})
}

// FuzzBmbtBlock: any bytes as the one leaf (or node) block below a btree
// data fork: /big's inode is turned into a btree-format fork whose root
// points at a free block holding the fuzzer's bytes (CRC fixed).
func FuzzBmbtBlock(f *testing.F) {
	fb := loadFuzzBase(f)
	ino := fb.inos["/big"]
	ioff, in, free, seed := bmbtSetup(fb)
	f.Add(seed)
	f.Fuzz(func(t *testing.T, data []byte) {
		b := make([]byte, fb.bsize)
		copy(b, data)
		binary.LittleEndian.PutUint32(b[lblockCRCOff:], cksum(b, lblockCRCOff))
		o := &overlay{base: fb.img, patches: []patch{{ioff, in}, {free * fb.bsize, b}}}
		fs, err := Open(o, int64(len(fb.img)), Options{})
		if err != nil {
			t.Fatal(err)
		}
		exercise(fs, ino)
	})
}

// FuzzDirBlock: any bytes as each kind of directory block (block format,
// leaf-format data and leaf1, node-format data, dabtree node and free
// index) and attribute block (leaf, remote value), CRC fixed; the first
// byte picks which.
func FuzzDirBlock(f *testing.F) {
	fb := loadFuzzBase(f)
	names := []string{"block", "leaf-data", "leaf1", "node-data", "danode", "free", "attr-leaf", "attr-rmt"}
	owners := []string{"/blockdir", "/leafdir", "/leafdir", "/nodedir", "/nodedir", "/nodedir", "/etc/hostname", "/big"}
	for i, n := range names {
		loc := fb.blocks[n]
		f.Add(append([]byte{byte(i)}, fb.img[loc[0]:loc[0]+fb.bsize]...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		k := int(data[0]) % len(names)
		loc := fb.blocks[names[k]]
		b := make([]byte, fb.bsize)
		copy(b, fb.img[loc[0]:])
		copy(b, data[1:])
		if fs := fb.with(loc[0], b, int(loc[1])); fs != nil {
			exercise(fs, fb.inos[owners[k]])
		}
	})
}

// bmbtSetup turns /big's inode into a btree-format data fork whose root
// points at free, a block near the end of AG 0 that nothing uses, and
// returns the inode's offset and bytes, the block number and a valid
// leaf for it holding /big's one extent.
func bmbtSetup(fb *fuzzBase) (ioff int64, in []byte, free int64, seed []byte) {
	ino := fb.inos["/big"]
	ioff, _ = fb.f.inodeOffset(ino)
	isz := int64(fb.f.g.inodeSize)
	free = int64(fb.f.g.dblocks - 8) // near the end, unused
	in = append([]byte{}, fb.img[ioff:ioff+isz]...)
	in[5] = fmtBtree
	lit := in[dinodeSize : dinodeSize+int(in[82])*8]
	clear(lit)
	binary.BigEndian.PutUint16(lit, 1)     // level
	binary.BigEndian.PutUint16(lit[2:], 1) // numrecs
	maxrecs := (len(lit) - 4) / 16
	binary.BigEndian.PutUint64(lit[4+8*maxrecs:], uint64(free)) // AG 0: fsb == agbno
	binary.LittleEndian.PutUint32(in[dinodeCRCOff:], cksum(in, dinodeCRCOff))
	// A valid leaf: /big's extents as one record.
	seed = make([]byte, fb.bsize)
	copy(seed, "BMA3")
	binary.BigEndian.PutUint16(seed[6:], 1)
	binary.BigEndian.PutUint64(seed[8:], ^uint64(0))
	binary.BigEndian.PutUint64(seed[16:], ^uint64(0))
	binary.BigEndian.PutUint64(seed[24:], uint64(free*fb.bsize/512))
	copy(seed[40:], fb.f.sb.UUID[:])
	binary.BigEndian.PutUint64(seed[56:], ino)
	copy(seed[lblockSize:], fb.img[ioff+dinodeSize:ioff+dinodeSize+16])
	return ioff, in, free, seed
}

// TestFuzzHarnessReachesTheData: the fuzz harness's overlays are real: the
// bmbt setup reads /big's bytes through its one leaf, and an unchanged
// directory block laid back with its CRC fixed reads the same entries.
func TestFuzzHarnessReachesTheData(t *testing.T) {
	fb := loadFuzzBase(t)
	want, err := fb.f.ReadFile("/big")
	if err != nil {
		t.Fatal(err)
	}
	ioff, in, free, seed := bmbtSetup(fb)
	o := &overlay{base: fb.img, patches: []patch{{ioff, in}, {free * fb.bsize, seed}}}
	binary.LittleEndian.PutUint32(seed[lblockCRCOff:], cksum(seed, lblockCRCOff))
	f, err := Open(o, int64(len(fb.img)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ext, err := f.extents(mustInode(t, f, fb.inos["/big"]), 0)
	if err != nil || len(ext) != 1 {
		t.Fatalf("btree fork: %v %v", ext, err)
	}
	if got, err := f.ReadFile("/big"); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("/big through the bmbt: %d bytes, %v", len(got), err)
	}
	loc := fb.blocks["danode"]
	g := fb.with(loc[0], fb.img[loc[0]:loc[0]+fb.bsize], int(loc[1]))
	if _, err := g.Lstat("/nodedir/entry-with-a-longish-name-04321"); err != nil {
		t.Fatal(err)
	}
	bad := append([]byte{}, fb.img[loc[0]:loc[0]+fb.bsize]...)
	bad[100] ^= 1
	_, err = fb.with(loc[0], bad, -1).Lstat("/nodedir/entry-with-a-longish-name-04321")
	var ce *CorruptError
	if !errors.As(err, &ce) || !ce.Checksum || ce.AG != 0 || ce.Offset != loc[0] || ce.Block != uint64(loc[0]/fb.bsize) {
		t.Fatalf("a flipped bit in the dabtree node: %v, want a CRC error at AG 0 block %d", err, loc[0]/fb.bsize)
	}
}

func mustInode(t *testing.T, f *FS, ino uint64) *inode {
	t.Helper()
	in, err := f.readInode(ino)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// WriteAt records a write as one more patch.
func (o *overlay) WriteAt(p []byte, off int64) (int, error) {
	o.patches = append(o.patches, patch{off, append([]byte{}, p...)})
	return len(p), nil
}

// FuzzAGBtreeBlock: any bytes as the root leaf of each per-AG btree the
// writer changes (bnobt, cntbt, inobt, finobt, refcountbt; the first
// byte picks which; CRC fixed), then a removal and a truncation: the
// writer either makes its change or returns an error.
func FuzzAGBtreeBlock(f *testing.F) {
	fb := loadFuzzBase(f)
	var a agf
	binary.Decode(fb.img[fb.sect:], binary.BigEndian, &a)
	var i agi
	binary.Decode(fb.img[2*fb.sect:], binary.BigEndian, &i)
	roots := []uint32{a.Roots[0], a.Roots[1], i.Root, i.FreeRoot, a.RefcountRoot}
	for k, r := range roots {
		f.Add(append([]byte{byte(k)}, fb.img[int64(r)*fb.bsize:int64(r+1)*fb.bsize]...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		off := int64(roots[int(data[0])%len(roots)]) * fb.bsize
		b := make([]byte, fb.bsize)
		copy(b, fb.img[off:])
		copy(b, data[1:])
		binary.LittleEndian.PutUint32(b[sblockCRCOff:], cksum(b, sblockCRCOff))
		o := &overlay{base: fb.img, patches: []patch{{off, b}}}
		w, err := OpenWritable(o, int64(len(fb.img)), Options{})
		if err != nil {
			t.Fatal(err)
		}
		w.Remove("/one")
		w.Remove("/big")
		w.Truncate("/block", 0)
		w.Sync()
	})
}
