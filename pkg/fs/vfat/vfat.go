package vfat

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/imgprep/imgprep/pkg/fs"
)

// Sentinel errors; test them with errors.Is.
var (
	ErrNotFAT   = errors.New("vfat: not a FAT filesystem")
	ErrCorrupt  = errors.New("vfat: corrupt filesystem")
	ErrReadOnly = fmt.Errorf("vfat: opened read-only: %w", fs.ErrReadOnly)
)

// CorruptError reports a damaged structure and its byte offset on the
// device.
type CorruptError struct {
	Offset int64
	What   string
	Err    error // ErrNotFAT or ErrCorrupt, possibly wrapped with detail
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("%s at byte %d: %v", e.What, e.Offset, e.Err)
}

// Unwrap returns the sentinel.
func (e *CorruptError) Unwrap() error { return e.Err }

func corrupt(off int64, what string, sentinel error, format string, args ...any) error {
	return &CorruptError{Offset: off, What: what, Err: fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)}
}

// FS is an open FAT filesystem. It is safe for concurrent use.
type FS struct {
	// Tree resolves paths (fs.ReadTree, fs.WriteTree) over the engine.
	fs.Tree

	r    io.ReaderAt
	size int64

	fatType      int // 12, 16 or 32
	sectorSize   int64
	clusterSize  int64
	fatOffset    int64 // byte offset of the first FAT
	fatBytes     int64 // size of one FAT in bytes
	rootOffset   int64 // FAT12/16: byte offset of the fixed root directory
	rootEntries  int64 // FAT12/16: number of root directory entries
	rootCluster  uint32
	dataOffset   int64  // byte offset of cluster 2
	clusterCount uint32 // data clusters: valid numbers are 2..clusterCount+1
	uuid, label  string
	numFATs      int
	fsInfoOffset int64 // FAT32: byte offset of the FSInfo sector, 0 if none
	volIDOffset  int64 // byte offset of BS_VolID, 0 without an extended BPB
	backupOffset int64 // FAT32: byte offset of the backup boot sector, 0 if none

	// Writing (OpenWritable).
	w   io.WriterAt
	now func() time.Time

	mu       sync.Mutex
	fatCache map[int64][]byte // FAT sector offset -> contents, bounded
}

const maxFATCache = 256

// Open reads the boot sector of the FAT filesystem on r (size bytes) and
// returns a read-only FS.
func Open(r io.ReaderAt, size int64) (*FS, error) {
	sector := make([]byte, 512)
	if size < 512 {
		return nil, corrupt(0, "boot sector", ErrNotFAT, "device of %d bytes", size)
	}
	if _, err := r.ReadAt(sector, 0); err != nil && !(errors.Is(err, io.EOF)) {
		return nil, fmt.Errorf("vfat: reading the boot sector: %w", err)
	}
	var bs BootSector
	if err := binary.Read(bytes.NewReader(sector), binary.LittleEndian, &bs); err != nil {
		return nil, corrupt(0, "boot sector", ErrNotFAT, "%v", err)
	}
	if sector[510] != 0x55 || sector[511] != 0xAA {
		return nil, corrupt(510, "boot sector signature", ErrNotFAT, "%#02x%02x, want 0x55AA", sector[510], sector[511])
	}
	pow2 := func(v int64) bool { return v > 0 && v&(v-1) == 0 }
	f := &FS{r: r, size: size, fatCache: map[int64][]byte{}}
	f.Tree = fs.NewTree(engine{f}, "vfat")
	f.Check = func(string, *fs.Resolved) error { return f.writable() }
	f.sectorSize = int64(bs.BytsPerSec)
	if f.sectorSize < 512 || f.sectorSize > 4096 || !pow2(f.sectorSize) {
		return nil, corrupt(11, "BPB_BytsPerSec", ErrNotFAT, "%d", bs.BytsPerSec)
	}
	if !pow2(int64(bs.SecPerClus)) {
		return nil, corrupt(13, "BPB_SecPerClus", ErrNotFAT, "%d", bs.SecPerClus)
	}
	f.clusterSize = f.sectorSize * int64(bs.SecPerClus)
	if bs.RsvdSecCnt == 0 || bs.NumFATs == 0 {
		return nil, corrupt(14, "BPB_RsvdSecCnt/NumFATs", ErrNotFAT, "%d/%d", bs.RsvdSecCnt, bs.NumFATs)
	}
	fatSz := int64(bs.FATSz16)
	var b32 BPB32
	if fatSz == 0 {
		if err := binary.Read(bytes.NewReader(sector[36:]), binary.LittleEndian, &b32); err != nil {
			return nil, corrupt(36, "BPB_FATSz32", ErrNotFAT, "%v", err)
		}
		fatSz = int64(b32.FATSz32)
	}
	totSec := int64(bs.TotSec16)
	if totSec == 0 {
		totSec = int64(bs.TotSec32)
	}
	if fatSz == 0 || totSec == 0 {
		return nil, corrupt(19, "BPB sizes", ErrNotFAT, "FAT size %d, total sectors %d", fatSz, totSec)
	}
	if totSec*f.sectorSize > size {
		return nil, corrupt(19, "BPB_TotSec", ErrCorrupt, "%d sectors of %d bytes, the device has %d bytes", totSec, f.sectorSize, size)
	}
	rootSecs := (int64(bs.RootEntCnt)*dirEntrySize + f.sectorSize - 1) / f.sectorSize
	f.fatOffset = int64(bs.RsvdSecCnt) * f.sectorSize
	f.fatBytes = fatSz * f.sectorSize
	metaSecs := int64(bs.RsvdSecCnt) + int64(bs.NumFATs)*fatSz + rootSecs
	if metaSecs >= totSec {
		return nil, corrupt(14, "BPB", ErrCorrupt, "%d metadata sectors of %d", metaSecs, totSec)
	}
	clusters := (totSec - metaSecs) / int64(bs.SecPerClus)
	f.rootOffset = f.fatOffset + int64(bs.NumFATs)*f.fatBytes
	f.rootEntries = int64(bs.RootEntCnt)
	f.numFATs = int(bs.NumFATs)
	f.dataOffset = f.rootOffset + rootSecs*f.sectorSize
	switch {
	case clusters < maxClusters12:
		f.fatType = 12
	case clusters < maxClusters16:
		f.fatType = 16
	default:
		f.fatType = 32
	}
	if clusters > 0x0FFFFFF5 {
		return nil, corrupt(19, "BPB", ErrCorrupt, "%d clusters", clusters)
	}
	f.clusterCount = uint32(clusters)
	// The FAT must hold an entry for every cluster.
	if need := (int64(f.clusterCount) + 2) * int64(f.fatType) / 8; need > f.fatBytes {
		return nil, corrupt(22, "BPB_FATSz", ErrCorrupt, "a FAT of %d bytes for %d clusters", f.fatBytes, f.clusterCount)
	}
	extOff := int64(extBPBOffset)
	if f.fatType == 32 {
		if bs.RootEntCnt != 0 || bs.FATSz16 != 0 {
			return nil, corrupt(17, "FAT32 BPB", ErrCorrupt, "BPB_RootEntCnt %d, BPB_FATSz16 %d", bs.RootEntCnt, bs.FATSz16)
		}
		f.rootCluster = b32.RootClus
		if b32.FSInfo != 0 && b32.FSInfo != 0xFFFF && int64(b32.FSInfo) < int64(bs.RsvdSecCnt) {
			f.fsInfoOffset = int64(b32.FSInfo) * f.sectorSize
		}
		if b32.BkBootSec != 0 && b32.BkBootSec != 0xFFFF && int64(b32.BkBootSec) < int64(bs.RsvdSecCnt) {
			f.backupOffset = int64(b32.BkBootSec) * f.sectorSize
		}
		if !f.validCluster(f.rootCluster) {
			return nil, corrupt(44, "BPB_RootClus", ErrCorrupt, "cluster %d", b32.RootClus)
		}
		extOff = extBPB32
	} else if f.rootEntries == 0 {
		return nil, corrupt(17, "BPB_RootEntCnt", ErrCorrupt, "0 on FAT%d", f.fatType)
	}
	var ext ExtBPB
	if err := binary.Read(bytes.NewReader(sector[extOff:]), binary.LittleEndian, &ext); err == nil && ext.BootSig == 0x29 {
		f.uuid = volumeID(ext.VolID)
		f.volIDOffset = extOff + 3
		if l := strings.TrimRight(string(ext.VolLab[:]), " \x00"); l != "NO NAME" {
			f.label = l
		}
	}
	return f, nil
}

func (f *FS) validCluster(c uint32) bool { return c >= 2 && c-2 < f.clusterCount }

// fatEntry returns the FAT entry of cluster c.
func (f *FS) fatEntry(c uint32) (uint32, error) {
	var off int64
	switch f.fatType {
	case 12:
		off = int64(c) + int64(c)/2
	case 16:
		off = int64(c) * 2
	default:
		off = int64(c) * 4
	}
	b := make([]byte, 0, 4)
	for i := int64(0); i < int64(f.fatType+7)/8; i++ {
		v, err := f.fatByte(off + i)
		if err != nil {
			return 0, err
		}
		b = append(b, v)
	}
	switch f.fatType {
	case 12:
		v := uint32(b[0]) | uint32(b[1])<<8
		if c&1 == 1 {
			return v >> 4, nil
		}
		return v & 0xFFF, nil
	case 16:
		return uint32(b[0]) | uint32(b[1])<<8, nil
	}
	return binary.LittleEndian.Uint32(b) & 0x0FFFFFFF, nil
}

// fatByte reads one byte of the first FAT through a bounded sector cache.
func (f *FS) fatByte(off int64) (byte, error) {
	if off < 0 || off >= f.fatBytes {
		return 0, corrupt(f.fatOffset+off, "FAT", ErrCorrupt, "entry outside the FAT")
	}
	sec := off / f.sectorSize * f.sectorSize
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.fatCache[sec]
	if !ok {
		b = make([]byte, f.sectorSize)
		if _, err := f.r.ReadAt(b, f.fatOffset+sec); err != nil && !errors.Is(err, io.EOF) {
			return 0, fmt.Errorf("vfat: reading the FAT at byte %d: %w", f.fatOffset+sec, err)
		}
		if len(f.fatCache) >= maxFATCache {
			clear(f.fatCache)
		}
		f.fatCache[sec] = b
	}
	return b[off-sec], nil
}

// isEOC reports an end-of-chain mark.
func (f *FS) isEOC(v uint32) bool {
	switch f.fatType {
	case 12:
		return v >= 0xFF8
	case 16:
		return v >= 0xFFF8
	}
	return v >= 0x0FFFFFF8
}

// chain returns the clusters of the chain starting at first, at most
// limit of them (limit < 0: the whole chain). A cluster met twice means
// the chain loops.
func (f *FS) chain(first uint32, limit int64) ([]uint32, error) {
	var out []uint32
	seen := map[uint32]bool{}
	c := first
	for {
		if !f.validCluster(c) {
			return nil, corrupt(f.fatOffset, "cluster chain", ErrCorrupt, "cluster %d in the chain from %d", c, first)
		}
		if seen[c] {
			return nil, corrupt(f.fatOffset, "cluster chain", ErrCorrupt, "the chain from %d loops at %d", first, c)
		}
		seen[c] = true
		out = append(out, c)
		if limit >= 0 && int64(len(out)) >= limit {
			return out, nil
		}
		next, err := f.fatEntry(c)
		if err != nil {
			return nil, err
		}
		if f.isEOC(next) {
			return out, nil
		}
		c = next
	}
}

func (f *FS) clusterOffset(c uint32) int64 {
	return f.dataOffset + int64(c-2)*f.clusterSize
}

// Type implements fs.FS.
func (f *FS) Type() string { return "vfat" }

// FATType returns 12, 16 or 32.
func (f *FS) FATType() int { return f.fatType }

// Info implements fs.FS.
func (f *FS) Info() fs.Info {
	f.mu.Lock()
	id := f.uuid // SetRandomUUID changes it
	f.mu.Unlock()
	info := fs.Info{Type: "vfat", UUID: id, Label: f.label, BlockSize: int(f.clusterSize),
		Size: f.size, Writable: f.w != nil}
	if f.w == nil {
		info.WhyReadOnly = "opened read-only"
	}
	return info
}
