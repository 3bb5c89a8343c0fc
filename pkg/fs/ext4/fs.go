package ext4

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"

	"github.com/imgprep/imgprep/pkg/fs"
)

// Options configure OpenWritable.
type Options struct {
	// Name is used in errors: "ext4 on partition 2". Empty means "ext4".
	Name string
	// Now is the clock for ctime/mtime/dtime; nil means time.Now.
	Now func() time.Time
}

// FS is an open ext2/3/4 filesystem. It is not safe for concurrent use.
type FS struct {
	// Tree resolves paths (fs.ReadTree, fs.WriteTree) over the engine.
	fs.Tree

	r    io.ReaderAt
	w    io.WriterAt // nil when read-only
	size int64       // device size in bytes
	name string
	now  func() time.Time

	sb    Superblock
	sbRaw []byte

	blockSize      int64
	groups         uint32
	descSize       int
	descPerBlock   uint32
	inodeSize      int
	inodesPerGroup uint32
	blocksPerGroup uint32
	blocksCount    uint64
	firstDataBlock uint64
	csumSeed       uint32
	metadataCsum   bool
	gdtCsum        bool // gdt_csum (uninit_bg) without metadata_csum
	filetype       bool
	hugeFile       bool
	dirNlink       bool

	gds      []GroupDesc
	gdDirty  map[uint32]bool // groups whose descriptor must be written
	bitmaps  map[bitmapKey]*bitmap
	sbDirty  bool
	whyRO    string
	writeErr error // the refusal, wrapping the sentinel
	// replay is the journal replay behind this view, nil if none;
	// replayErr why the journal needing it could not be replayed.
	replay    *replayed
	replayErr error
	// meta lists the fixed metadata (superblock and descriptor copies,
	// bitmaps, inode tables) sorted by start, built on first need.
	meta []blockRun
	// uuidBackups: SetUUID changed the UUID, so Sync also brings the
	// backup superblocks (and, with gdt_csum, descriptors) along.
	uuidBackups bool
	// lastDir is the directory inode the last Lookup returned, so that the
	// walker's next step, a Lookup in it, does not read it again; that
	// Lookup, or checkWrite before any change, forgets it.
	lastDir *inode
}

// Compile-time check: *FS is a writable pkg/fs filesystem.
var _ fs.WritableFS = (*FS)(nil)

// Open reads the superblock and group descriptors of the filesystem on r
// (size bytes) and returns a read-only FS. It reads lazily afterwards:
// never the whole filesystem into memory.
//
// A filesystem whose journal holds committed transactions is read through
// an in-memory replay of the journal (see OpenWritable), so that it reads
// as the kernel would see it after mounting; Info's Note says so. When
// that replay is impossible, the stale on-disk view is read, and Info's
// WhyReadOnly says why.
func Open(r io.ReaderAt, size int64) (*FS, error) {
	f, err := openReplayed(r, size, "ext4")
	if err != nil {
		return nil, err
	}
	f.whyRO = "opened read-only"
	f.writeErr = ErrReadOnly
	// Say in Info why OpenWritable would refuse, if it would.
	_ = f.checkWritable()
	return f, nil
}

// OpenWritable is Open plus writing through rw (usually the same object as
// the reader). It refuses, with nothing written, when writing is unsafe:
// the error wraps ErrNeedsRecovery, ErrErrorState, ErrNotClean, ErrOrphansPresent,
// ErrUnknownFeature or ErrUnsupportedFeature and reads like "refusing to
// write: ext4 on partition 2 needs journal recovery" (a *RefusalError).
//
// A journal holding committed transactions (needs_recovery) is replayed
// first, as e2fsck replays it: the three passes of package jbd2, the
// replayed blocks written through rw, then needs_recovery cleared, the
// journal superblock reset (s_start 0, the next sequence) and the free
// counts taken from the group descriptors. The replay is checked in
// memory first: when the replayed filesystem must still be refused
// (orphans, an error state, a journal feature imgprep does not replay),
// nothing is written. rw is meant to be the imgprep transaction, so that
// a crash during the replay is rolled back like any other change.
func OpenWritable(rw interface {
	io.ReaderAt
	io.WriterAt
}, size int64, opts Options) (*FS, error) {
	name := opts.Name
	if name == "" {
		name = "ext4"
	}
	f, err := openReplayed(rw, size, name)
	if err != nil {
		if errors.Is(err, ErrUnknownFeature) || errors.Is(err, ErrUnsupportedFeature) {
			return nil, fmt.Errorf("refusing to write: %w", err)
		}
		return nil, err
	}
	if opts.Now != nil {
		f.now = opts.Now
	}
	if err := f.checkWritable(); err != nil {
		return nil, err
	}
	if f.replay != nil {
		if err := f.flushReplay(rw); err != nil {
			return nil, err
		}
		f.r = rw
	}
	f.w = rw
	f.whyRO = ""
	f.writeErr = nil
	return f, nil
}

// openReplayed is open, then, when the journal needs recovery, the FS
// opened on its in-memory replay; when that fails, the stale FS with the
// reason in replayErr.
func openReplayed(r io.ReaderAt, size int64, name string) (*FS, error) {
	f, err := open(r, size, name)
	if err != nil {
		return nil, err
	}
	dirty, err := f.journalDirty()
	if err != nil {
		f.replayErr = refusal("has an unreadable journal: "+err.Error(), ErrNeedsRecovery, err)
		return f, nil
	}
	if !dirty {
		return f, nil
	}
	g, err := f.replayInMemory(r)
	if err != nil {
		var re *RefusalError
		if !errors.As(err, &re) {
			re = refusal("needs journal recovery: "+err.Error(), ErrNeedsRecovery, err)
		}
		f.replayErr = re
		return f, nil
	}
	return g, nil
}

func open(r io.ReaderAt, size int64, name string) (*FS, error) {
	f := &FS{r: r, size: size, name: name, now: time.Now,
		gdDirty: map[uint32]bool{}, bitmaps: map[bitmapKey]*bitmap{}}
	f.Tree = fs.NewTree(engine{f}, name)
	f.Check = func(string, *fs.Resolved) error { return f.checkWrite() }
	if size < superblockOffset+superblockSize {
		return nil, fmt.Errorf("%s: %w: device of %d bytes is too small", name, ErrNotExt, size)
	}
	f.sbRaw = make([]byte, superblockSize)
	if _, err := r.ReadAt(f.sbRaw, superblockOffset); err != nil {
		return nil, fmt.Errorf("%s: reading superblock: %w", name, err)
	}
	if err := f.parseSuperblock(); err != nil {
		return nil, f.named(err)
	}
	if err := f.loadGroupDescs(); err != nil {
		return nil, f.named(err)
	}
	return f, nil
}

// named prefixes err with the filesystem's name, unless that name is the
// bare package default and err already carries the package prefix (a
// *CorruptError), so messages never read "ext4: ext4: ...".
func (f *FS) named(err error) error {
	var ce *CorruptError
	if f.name == "ext4" && errors.As(err, &ce) {
		return err
	}
	return fmt.Errorf("%s: %w", f.name, err)
}

// parseSuperblock decodes and validates f.sbRaw and derives the geometry.
func (f *FS) parseSuperblock() error {
	decode(f.sbRaw, &f.sb)
	sb := &f.sb
	if sb.Magic != superMagic {
		return fmt.Errorf("%w: superblock magic 0x%04x", ErrNotExt, sb.Magic)
	}
	// As the kernel: an unknown incompat feature changes the format in a
	// way this reader cannot know, so the filesystem is not even read.
	// Unknown ro_compat bits only prevent writing (writeRefusal).
	if u := sb.FeatureIncompat &^ knownIncompat; u != 0 {
		return fmt.Errorf("%w: incompat %s (cannot be read)", ErrUnknownFeature, featureList(1, u))
	}
	if b := sb.FeatureIncompat & unreadableIncompat; b != 0 {
		return fmt.Errorf("%w: %s", ErrUnsupportedFeature, featureList(1, b))
	}
	f.metadataCsum = sb.FeatureROCompat&roCompatMetadataCsum != 0
	f.gdtCsum = !f.metadataCsum && sb.FeatureROCompat&roCompatGDTCsum != 0
	if f.metadataCsum {
		if sb.ChecksumType != 1 {
			return corrupt(superblockOffset, "superblock", "unknown checksum type %d", sb.ChecksumType)
		}
		if got, want := sb.Checksum, sbChecksum(f.sbRaw); got != want {
			return badChecksum(superblockOffset, "superblock", got, want)
		}
	}
	if sb.LogBlockSize > 6 {
		return corrupt(superblockOffset, "superblock", "block size 2^(10+%d)", sb.LogBlockSize)
	}
	f.blockSize = 1024 << sb.LogBlockSize
	f.blocksCount = uint64(sb.BlocksCountLo)
	if sb.FeatureIncompat&incompat64bit != 0 {
		f.blocksCount |= uint64(sb.BlocksCountHi) << 32
		f.descSize = int(sb.DescSize)
		if f.descSize < gdSize64 || f.descSize > 1024 || f.descSize&(f.descSize-1) != 0 {
			return corrupt(superblockOffset, "superblock", "group descriptor size %d", sb.DescSize)
		}
	} else {
		f.descSize = gdSize32
	}
	f.firstDataBlock = uint64(sb.FirstDataBlock)
	bigalloc := sb.FeatureROCompat&roCompatBigalloc != 0
	if want := uint64(0); f.blockSize == 1024 && !bigalloc { // bigalloc starts at 0
		want = 1
		if f.firstDataBlock != want {
			return corrupt(superblockOffset, "superblock", "first data block %d with 1 KiB blocks", f.firstDataBlock)
		}
	} else if f.firstDataBlock != want {
		return corrupt(superblockOffset, "superblock", "first data block %d with %d-byte blocks", f.firstDataBlock, f.blockSize)
	}
	if f.blocksCount <= f.firstDataBlock {
		return corrupt(superblockOffset, "superblock", "block count %d", f.blocksCount)
	}
	if f.blocksCount > uint64(f.size)/uint64(f.blockSize) {
		return corrupt(superblockOffset, "superblock", "%d blocks of %d bytes do not fit the %d-byte device",
			f.blocksCount, f.blockSize, f.size)
	}
	bits := uint32(f.blockSize * 8)
	f.blocksPerGroup = sb.BlocksPerGroup
	if f.blocksPerGroup == 0 || f.blocksPerGroup > bits || f.blocksPerGroup%8 != 0 {
		if sb.FeatureROCompat&roCompatBigalloc == 0 || f.blocksPerGroup == 0 {
			return corrupt(superblockOffset, "superblock", "%d blocks per group", f.blocksPerGroup)
		}
	}
	if sb.FeatureROCompat&roCompatBigalloc == 0 && sb.ClustersPerGroup != 0 && sb.ClustersPerGroup != sb.BlocksPerGroup {
		return corrupt(superblockOffset, "superblock", "%d clusters per group without bigalloc", sb.ClustersPerGroup)
	}
	f.inodesPerGroup = sb.InodesPerGroup
	if f.inodesPerGroup == 0 || f.inodesPerGroup > bits || f.inodesPerGroup%8 != 0 {
		return corrupt(superblockOffset, "superblock", "%d inodes per group", f.inodesPerGroup)
	}
	g := (f.blocksCount - f.firstDataBlock + uint64(f.blocksPerGroup) - 1) / uint64(f.blocksPerGroup)
	if g == 0 || g > 1<<32-1 || uint64(sb.InodesCount) != g*uint64(f.inodesPerGroup) {
		return corrupt(superblockOffset, "superblock", "%d inodes in %d groups of %d", sb.InodesCount, g, f.inodesPerGroup)
	}
	f.groups = uint32(g)
	f.inodeSize = goodOldInodeSize
	if sb.RevLevel >= 1 {
		f.inodeSize = int(sb.InodeSize)
		if f.inodeSize < goodOldInodeSize || int64(f.inodeSize) > f.blockSize || f.inodeSize&(f.inodeSize-1) != 0 {
			return corrupt(superblockOffset, "superblock", "inode size %d", sb.InodeSize)
		}
	}
	f.descPerBlock = uint32(f.blockSize) / uint32(f.descSize)
	f.filetype = sb.FeatureIncompat&incompatFiletype != 0
	f.hugeFile = sb.FeatureROCompat&roCompatHugeFile != 0
	f.dirNlink = sb.FeatureROCompat&roCompatDirNlink != 0
	if sb.FeatureIncompat&incompatCsumSeed != 0 {
		f.csumSeed = sb.ChecksumSeed
	} else {
		f.csumSeed = crc32c(^uint32(0), sb.UUID[:])
	}
	return nil
}

// checkWritable returns the refusal error when writing is unsafe and
// records why in Info.
func (f *FS) checkWritable() error {
	err := f.replayErr
	if err == nil {
		err = writeRefusal(&f.sb)
	}
	if err == nil {
		err = f.checkJournal()
	}
	if err == nil {
		err = f.checkOrphanFile()
	}
	if err == nil {
		return nil
	}
	var re *RefusalError
	if !errors.As(err, &re) {
		re = refusal(refusalReason(err), err)
	}
	if f.replay != nil && errors.Is(err, ErrOrphansPresent) {
		re.Reason += " (after the journal replay)"
	}
	re.Name = f.name
	f.whyRO = re.Reason
	f.writeErr = re
	return re
}

func refusalReason(err error) string {
	switch {
	case errors.Is(err, ErrNeedsRecovery):
		return "needs journal recovery"
	case errors.Is(err, ErrErrorState):
		return "is marked as having errors"
	case errors.Is(err, ErrNotClean):
		return "was not cleanly unmounted (it is mounted, or needs fsck)"
	case errors.Is(err, ErrOrphansPresent):
		return "has orphan inodes"
	}
	return "has " + err.Error()
}

// checkJournal refuses a journal whose superblock says it holds
// transactions (s_start != 0).
func (f *FS) checkJournal() error {
	if f.sb.FeatureCompat&compatHasJournal == 0 || f.sb.JournalInum == 0 {
		return nil
	}
	in, err := f.readInode(f.sb.JournalInum)
	if err != nil {
		return fmt.Errorf("journal inode: %w", err)
	}
	m, err := f.mapper(in)
	if err != nil {
		return fmt.Errorf("journal inode: %w", err)
	}
	pblk, _, err := m.lookup(0)
	if err != nil {
		return fmt.Errorf("journal inode: %w", err)
	}
	if pblk == 0 {
		return corrupt(f.inodeOffset(f.sb.JournalInum), "journal inode", "first block is a hole")
	}
	b := make([]byte, 32)
	if _, err := f.r.ReadAt(b, int64(pblk)*f.blockSize); err != nil {
		return fmt.Errorf("journal superblock: %w", err)
	}
	var js JournalSuperblockHead
	decodeBE(b, &js)
	if js.Magic != jbd2Magic {
		return corrupt(int64(pblk)*f.blockSize, "journal superblock", "magic 0x%08x", js.Magic)
	}
	if js.Start != 0 {
		return ErrNeedsRecovery
	}
	return nil
}

// checkOrphanFile refuses a non-empty orphan file (orphan_file feature).
func (f *FS) checkOrphanFile() error {
	if f.sb.FeatureCompat&compatOrphanFile == 0 || f.sb.OrphanFileInum == 0 {
		return nil
	}
	in, err := f.readInode(f.sb.OrphanFileInum)
	if err != nil {
		return fmt.Errorf("orphan file: %w", err)
	}
	m, err := f.mapper(in)
	if err != nil {
		return fmt.Errorf("orphan file: %w", err)
	}
	nblocks := uint64(in.size()) / uint64(f.blockSize)
	buf := make([]byte, f.blockSize)
	for l := uint64(0); l < nblocks; l++ {
		pblk, _, err := m.lookup(uint32(l))
		if err != nil {
			return fmt.Errorf("orphan file: %w", err)
		}
		if pblk == 0 {
			continue
		}
		if err := f.readBlock(pblk, buf); err != nil {
			return err
		}
		for i := 0; i+4 <= len(buf)-8; i += 4 {
			if le.Uint32(buf[i:]) != 0 {
				return ErrOrphansPresent
			}
		}
	}
	return nil
}

// Type names the filesystem type as mount(8) would.
func (f *FS) Type() string { return fsType(&f.sb) }

// Info describes the filesystem.
func (f *FS) Info() fs.Info {
	inf := fs.Info{
		Type:        f.Type(),
		Label:       cString(f.sb.VolumeName[:]),
		BlockSize:   int(f.blockSize),
		Size:        int64(f.blocksCount) * f.blockSize,
		FreeBytes:   int64(f.freeBlocks()) * f.blockSize,
		Writable:    f.w != nil,
		WhyReadOnly: f.whyRO,
		Note:        f.replayNote(),
	}
	if f.sb.UUID != [16]byte{} {
		inf.UUID = uuid.UUID(f.sb.UUID).String()
	}
	return inf
}

func (f *FS) freeBlocks() uint64 {
	n := uint64(f.sb.FreeBlocksCountLo)
	if f.sb.FeatureIncompat&incompat64bit != 0 {
		n |= uint64(f.sb.FreeBlocksCountHi) << 32
	}
	return n
}

func (f *FS) setFreeBlocks(n uint64) {
	f.sb.FreeBlocksCountLo = uint32(n)
	if f.sb.FeatureIncompat&incompat64bit != 0 {
		f.sb.FreeBlocksCountHi = uint32(n >> 32)
	}
	f.sbDirty = true
}

func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// readBlock reads block blk into buf (len(buf) <= block size), checking
// that the block lies inside the filesystem.
func (f *FS) readBlock(blk uint64, buf []byte) error {
	if blk >= f.blocksCount {
		return corrupt(-1, "block pointer", "block %d beyond the %d blocks of the filesystem", blk, f.blocksCount)
	}
	if _, err := f.r.ReadAt(buf, int64(blk)*f.blockSize); err != nil {
		return fmt.Errorf("%s: reading block %d: %w", f.name, blk, err)
	}
	return nil
}

// writeBlock writes buf at the start of block blk.
func (f *FS) writeBlock(blk uint64, buf []byte) error {
	return f.writeAt(buf, int64(blk)*f.blockSize)
}

func (f *FS) writeAt(buf []byte, off int64) error {
	if f.w == nil {
		return f.roError()
	}
	if off < 0 || off+int64(len(buf)) > int64(f.blocksCount)*f.blockSize {
		return corrupt(off, "write", "outside the filesystem")
	}
	if _, err := f.w.WriteAt(buf, off); err != nil {
		return fmt.Errorf("%s: writing at byte %d: %w", f.name, off, err)
	}
	return nil
}

// roError is the error of a write method on a read-only FS.
func (f *FS) roError() error {
	return &RefusalError{Name: f.name, Reason: f.whyRO, Err: []error{fs.ErrReadOnly, f.writeErr}}
}
