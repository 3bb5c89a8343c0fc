package xfs

import (
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/imgprep/imgprep/pkg/fs"
)

// Options configure Open.
type Options struct {
	// Name is used in errors and refusals: "xfs on partition 2". Empty
	// means "xfs".
	Name string
	// Now is the clock for ctime and mtime; nil means time.Now.
	Now func() time.Time
}

// FS is an open xfs filesystem, read-only. It is not safe for concurrent
// use.
type FS struct {
	// Tree resolves paths (fs.ReadTree) over the inode-level engine.
	fs.Tree

	r    io.ReaderAt
	size int64
	name string
	sb   *superblock
	g    *geometry
	agfs []agf
	agis []agi
	// logDirty is set when the log's head is not its tail.
	logDirty bool
	note     string
	// refusal says why writing is refused; nil when writable.
	refusal *RefusalError
	// w is set when opened writable; dirty holds the changed structures
	// until Sync writes them.
	w     io.WriterAt
	dirty []patch
	now   func() time.Time
}

// Open reads the xfs filesystem of size bytes in r: the superblock and
// every AG header (AGF, AGI, AGFL), each checked against its CRC, and the
// log's head and tail. A dirty log does not prevent reading (Info().Note
// warns that the newest changes may be missing).
func Open(r io.ReaderAt, size int64, opts Options) (*FS, error) {
	name := opts.Name
	if name == "" {
		name = "xfs"
	}
	if size < 4096 {
		return nil, fmt.Errorf("%w: %d bytes", ErrNotXFS, size)
	}
	buf := make([]byte, 32768)
	n, err := r.ReadAt(buf[:min(int64(len(buf)), size)], 0)
	if n < 512 {
		return nil, fmt.Errorf("xfs: reading the superblock: %w", err)
	}
	sb, g, err := parseSuperblock(buf[:n], size)
	if err != nil {
		return nil, err
	}
	f := &FS{r: r, size: size, name: name, sb: sb, g: g}
	if err := f.readAGHeaders(); err != nil {
		return nil, err
	}
	if sb.LogStart != 0 {
		clean, err := f.logClean()
		if err != nil {
			return nil, err
		}
		f.logDirty = !clean
	}
	switch {
	case f.logDirty:
		f.note = "the log is dirty (head != tail): changes in it are not replayed, so the newest may be missing"
		f.refusal = &RefusalError{Name: name, Why: " has a dirty log: mount it once or run xfs_repair -L at your own risk", Err: ErrDirtyLog}
	case writeBlocker(sb) != "":
		f.refusal = &RefusalError{Name: name, Why: ": imgprep cannot write xfs with " + writeBlocker(sb), Err: ErrUnsupported}
	default:
		f.refusal = &RefusalError{Name: name, Why: ": imgprep cannot write xfs yet", Err: ErrReadOnly}
	}
	f.Tree = fs.NewTree(engine{f}, name)
	f.Check = func(string, *fs.Resolved) error { return f.refusal }
	return f, nil
}

// Refusal returns why this filesystem cannot be written: the dirty log,
// a feature named, or that imgprep does not write xfs yet; nil when it
// was opened writable.
func (f *FS) Refusal() error {
	if f.refusal == nil {
		return nil
	}
	return f.refusal
}

// Type returns "xfs".
func (f *FS) Type() string { return "xfs" }

// Info describes the filesystem.
func (f *FS) Info() fs.Info {
	return fs.Info{
		Type: "xfs", UUID: formatUUID(f.sb.UUID), Label: cString(f.sb.FName[:]),
		BlockSize: f.g.blockSize, Size: int64(f.g.dblocks) << f.g.blockLog,
		FreeBytes: int64(min(f.sb.FDBlocks, f.g.dblocks)) << f.g.blockLog,
		Writable:  f.w != nil, WhyReadOnly: f.whyRO(), Note: f.note,
	}
}

func (f *FS) whyRO() string {
	if f.refusal == nil {
		return ""
	}
	return f.refusal.Error()
}

// agOf splits a filesystem block number (agno << agblklog | agbno).
func (f *FS) agOf(fsb uint64) (uint32, uint64) {
	return uint32(fsb >> f.g.agBlkLog), fsb & (1<<f.g.agBlkLog - 1)
}

// agLen is the number of blocks in AG ag (the last may be short).
func (f *FS) agLen(ag uint32) uint64 {
	if ag == f.g.agCount-1 {
		return f.g.dblocks - uint64(ag)*uint64(f.g.agBlocks)
	}
	return uint64(f.g.agBlocks)
}

// fsbOffset checks that count blocks starting at fsb lie inside one AG
// and returns their byte offset.
func (f *FS) fsbOffset(fsb, count uint64, what string) (int64, error) {
	ag, bno := f.agOf(fsb)
	if ag >= f.g.agCount || bno >= f.agLen(ag) || count > f.agLen(ag)-bno {
		return 0, &CorruptError{AG: ag, Block: bno, Offset: -1, Structure: what,
			Reason: fmt.Sprintf("block %d (+%d) outside the filesystem", fsb, count)}
	}
	return int64(uint64(ag)*uint64(f.g.agBlocks)+bno) << f.g.blockLog, nil
}

// readAt reads n bytes at off, which the caller has bounded.
func (f *FS) readAt(off int64, n int) ([]byte, error) {
	if off < 0 || int64(n) > f.size || off > f.size-int64(n) {
		return nil, &CorruptError{Offset: off, Structure: "device", Reason: fmt.Sprintf("read of %d bytes past the end", n)}
	}
	b := make([]byte, n)
	if _, err := f.r.ReadAt(b, off); err != nil && !(err == io.EOF && off+int64(n) == f.size) {
		return nil, fmt.Errorf("xfs: read at byte %d: %w", off, err)
	}
	for _, pt := range f.dirty {
		lo, hi := max(off, pt.off), min(off+int64(n), pt.off+int64(len(pt.b)))
		if lo < hi {
			copy(b[lo-off:hi-off], pt.b[lo-pt.off:hi-pt.off])
		}
	}
	return b, nil
}

// readBlocks reads count filesystem blocks at fsb.
func (f *FS) readBlocks(fsb, count uint64, what string) ([]byte, error) {
	off, err := f.fsbOffset(fsb, count, what)
	if err != nil {
		return nil, err
	}
	return f.readAt(off, int(count)<<f.g.blockLog)
}

// corruptAt builds a CorruptError for a structure at byte offset off.
func (f *FS) corruptAt(off int64, what, format string, args ...any) *CorruptError {
	blk := uint64(off) >> f.g.blockLog
	ag := uint32(blk / uint64(f.g.agBlocks))
	return &CorruptError{AG: ag, Block: blk % uint64(f.g.agBlocks), Offset: off, Structure: what, Reason: fmt.Sprintf(format, args...)}
}

// checkCRC verifies the CRC at crcOff of the structure buf read at off.
func (f *FS) checkCRC(buf []byte, crcOff int, off int64, what string) error {
	if got, want := storedCRC(buf, crcOff), cksum(buf, crcOff); got != want {
		e := f.corruptAt(off, what, "CRC 0x%08x, computed 0x%08x", got, want)
		e.Checksum = true
		return e
	}
	return nil
}

// checkUUID verifies a v5 header's UUID against the filesystem's
// metadata UUID.
func (f *FS) checkUUID(u [16]byte, off int64, what string) error {
	want := f.sb.UUID
	if f.sb.FeaturesIncompat&incompatMetaUUID != 0 {
		want = f.sb.MetaUUID
	}
	if u != want {
		return f.corruptAt(off, what, "UUID %s is not the filesystem's", formatUUID(u))
	}
	return nil
}

// readAGHeaders reads and checks AGF, AGI and AGFL of every AG.
func (f *FS) readAGHeaders() error {
	if f.g.agCount > 1<<20 {
		return &CorruptError{Offset: 0, Structure: "superblock", Reason: fmt.Sprintf("%d AGs", f.g.agCount)}
	}
	f.agfs = make([]agf, f.g.agCount)
	f.agis = make([]agi, f.g.agCount)
	ss := int64(f.g.sectSize)
	for ag := uint32(0); ag < f.g.agCount; ag++ {
		base := int64(ag) * int64(f.g.agBlocks) << f.g.blockLog
		hdr, err := f.readAt(base, int(4*ss))
		if err != nil {
			return err
		}
		fb, ib, lb := hdr[ss:2*ss], hdr[2*ss:3*ss], hdr[3*ss:4*ss]
		if err := f.parseAGF(fb, base+ss, ag, &f.agfs[ag]); err != nil {
			return err
		}
		if err := f.parseAGI(ib, base+2*ss, ag, &f.agis[ag]); err != nil {
			return err
		}
		if err := f.parseAGFL(lb, base+3*ss, ag, &f.agfs[ag]); err != nil {
			return err
		}
	}
	return nil
}

func (f *FS) parseAGF(b []byte, off int64, ag uint32, a *agf) error {
	if _, err := binary.Decode(b, binary.BigEndian, a); err != nil || string(a.MagicNum[:]) != "XAGF" {
		return f.corruptAt(off, "AGF", "bad magic")
	}
	if err := f.checkCRC(b, agfCRCOff, off, "AGF"); err != nil {
		return err
	}
	if err := f.checkUUID(a.UUID, off, "AGF"); err != nil {
		return err
	}
	if a.SeqNo != ag || uint64(a.Length) != f.agLen(ag) || a.FreeBlks > a.Length || a.Longest > a.Length {
		return f.corruptAt(off, "AGF", "AG %d, length %d, %d free", a.SeqNo, a.Length, a.FreeBlks)
	}
	for i, r := range a.Roots {
		if i == 2 && f.sb.FeaturesRoCompat&roCompatRmapbt == 0 {
			continue
		}
		if r == 0 || r >= a.Length || a.Levels[i] == 0 || a.Levels[i] > 10 {
			return f.corruptAt(off, "AGF", "btree %d root %d level %d", i, r, a.Levels[i])
		}
	}
	return nil
}

func (f *FS) parseAGI(b []byte, off int64, ag uint32, a *agi) error {
	if _, err := binary.Decode(b, binary.BigEndian, a); err != nil || string(a.MagicNum[:]) != "XAGI" {
		return f.corruptAt(off, "AGI", "bad magic")
	}
	if err := f.checkCRC(b, agiCRCOff, off, "AGI"); err != nil {
		return err
	}
	if err := f.checkUUID(a.UUID, off, "AGI"); err != nil {
		return err
	}
	if a.SeqNo != ag || uint64(a.Length) != f.agLen(ag) || a.FreeCount > a.Count || a.Root == 0 || a.Root >= a.Length || a.Level == 0 || a.Level > 10 {
		return f.corruptAt(off, "AGI", "AG %d, length %d, inobt root %d level %d", a.SeqNo, a.Length, a.Root, a.Level)
	}
	return nil
}

func (f *FS) parseAGFL(b []byte, off int64, ag uint32, a *agf) error {
	var h agflHeader
	if _, err := binary.Decode(b, binary.BigEndian, &h); err != nil || string(h.MagicNum[:]) != "XAFL" {
		return f.corruptAt(off, "AGFL", "bad magic")
	}
	if err := f.checkCRC(b, agflCRCOff, off, "AGFL"); err != nil {
		return err
	}
	if err := f.checkUUID(h.UUID, off, "AGFL"); err != nil {
		return err
	}
	size := uint32((len(b) - 36) / 4)
	if h.SeqNo != ag || a.FLCount > size || (a.FLCount > 0 && (a.FLFirst >= size || a.FLLast >= size)) {
		return f.corruptAt(off, "AGFL", "AG %d, %d entries from %d to %d of %d", h.SeqNo, a.FLCount, a.FLFirst, a.FLLast, size)
	}
	for i, j := uint32(0), a.FLFirst; i < a.FLCount; i, j = i+1, (j+1)%size {
		if bno := binary.BigEndian.Uint32(b[36+4*j:]); bno >= a.Length {
			return f.corruptAt(off, "AGFL", "entry %d: block %d outside the AG", j, bno)
		}
	}
	return nil
}
