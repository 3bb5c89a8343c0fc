package ext4

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/imgprep/imgprep/pkg/fs/ext4/jbd2"
)

// replayed describes the journal replay behind an FS's view.
type replayed struct {
	transactions int
	blocks       int
	// flush lists the blocks OpenWritable writes: every replayed block,
	// the superblock's and the journal superblock's.
	flush []uint64
}

// journalDirty reports whether the journal must be replayed before the
// filesystem is current: needs_recovery set, or a log with transactions.
func (f *FS) journalDirty() (bool, error) {
	if f.sb.FeatureIncompat&incompatRecover != 0 {
		return true, nil
	}
	if f.sb.FeatureCompat&compatHasJournal == 0 || f.sb.JournalInum == 0 {
		return false, nil
	}
	j, err := f.openJournal()
	if err != nil {
		return false, err
	}
	return j.NeedsRecovery(), nil
}

// openJournal opens the internal journal (the journal inode's blocks).
func (f *FS) openJournal() (*jbd2.Journal, error) {
	in, err := f.readInode(f.sb.JournalInum)
	if err != nil {
		return nil, fmt.Errorf("journal inode: %w", err)
	}
	fl, err := f.newFile(in)
	if err != nil {
		return nil, fmt.Errorf("journal inode: %w", err)
	}
	j, err := jbd2.Open(fl, fl.size)
	if err != nil {
		return nil, err
	}
	if j.BlockSize() != int(f.blockSize) {
		return nil, fmt.Errorf("%w: journal block size %d, filesystem block size %d", jbd2.ErrCorrupt, j.BlockSize(), f.blockSize)
	}
	return j, nil
}

// replayInMemory replays the journal of f (opened on r) into an
// in-memory overlay of r, as e2fsck would replay it on disk: the blocks
// of the committed transactions, the journal superblock reset (s_start 0,
// the next sequence), and the superblock with needs_recovery cleared and
// its free counts taken from the group descriptors, as the kernel and
// e2fsck recompute them. It returns the FS opened on the overlay. When
// the journal cannot be replayed, it returns the error (a *RefusalError
// for what imgprep refuses on purpose).
func (f *FS) replayInMemory(r io.ReaderAt) (*FS, error) {
	if f.sb.FeatureCompat&compatHasJournal == 0 || f.sb.JournalInum == 0 {
		if f.sb.FeatureCompat&compatHasJournal != 0 {
			return nil, refusal("needs recovery of an external journal, which imgprep does not replay", ErrNeedsRecovery)
		}
		// needs_recovery without a journal: e2fsck clears the flag
		// after asking; imgprep leaves that to e2fsck.
		return nil, refusal("has needs_recovery set but no journal", ErrNeedsRecovery)
	}
	j, err := f.openJournal()
	if err != nil {
		return nil, journalRefusal("its journal is unreadable", err)
	}
	if f.sb.FeatureIncompat&incompatRecover == 0 {
		// The kernel would discard these transactions, e2fsck would
		// ask before replaying them: not imgprep's call.
		return nil, refusal("needs journal recovery, but needs_recovery is clear: the kernel would discard the journal's transactions, e2fsck would replay them (run e2fsck)", ErrNeedsRecovery)
	}
	if f.sb.FeatureIncompat&incompatJournalDev != 0 {
		return nil, refusal("is an external journal device", ErrUnsupportedFeature)
	}
	rp, err := j.Recover()
	if err != nil {
		return nil, journalRefusal("the replay failed", err)
	}
	o := &overlay{base: r, bs: f.blockSize, rp: rp, extra: map[uint64][]byte{}, blocks: f.blocksCount}

	// The journal superblock, reset.
	jblk, err := f.journalFirstBlock()
	if err != nil || jblk == 0 || jblk >= f.blocksCount {
		return nil, corrupt(f.inodeOffset(f.sb.JournalInum), "journal inode", "first block %d", jblk)
	}
	jb := make([]byte, f.blockSize)
	if err := o.readBlock(jblk, jb); err != nil {
		return nil, err
	}
	copy(jb, j.ResetSuperblock(rp.NextSequence))
	o.extra[jblk] = jb

	// The superblock, as the replay left it, then as e2fsck leaves it.
	g, err := open(o, f.size, f.name)
	if err != nil {
		return nil, fmt.Errorf("after the journal replay: %w", err)
	}
	g.sb.FeatureIncompat &^= incompatRecover
	g.sb.State |= f.sb.State & stateError // e2fsck keeps an error state found before the replay
	if g.sb.FeatureROCompat&roCompatBigalloc == 0 {
		var freeB uint64
		var freeI uint32
		for i := range g.groups {
			freeB += uint64(g.gdFreeBlocks(i))
			freeI += g.gdFreeInodes(i)
		}
		g.setFreeBlocks(freeB)
		g.sb.FreeInodesCount = freeI
	}
	encode(g.sbRaw, &g.sb)
	if g.metadataCsum {
		g.sb.Checksum = sbChecksum(g.sbRaw)
		le.PutUint32(g.sbRaw[sbChecksumOffset:], g.sb.Checksum)
	}
	sbBlk := uint64(superblockOffset / f.blockSize)
	sbb := make([]byte, f.blockSize)
	if err := o.readBlock(sbBlk, sbb); err != nil {
		return nil, err
	}
	copy(sbb[superblockOffset%f.blockSize:], g.sbRaw)
	o.extra[sbBlk] = sbb

	h, err := open(o, f.size, f.name)
	if err != nil {
		return nil, fmt.Errorf("after the journal replay: %w", err)
	}
	h.replay = &replayed{transactions: rp.Transactions(), blocks: len(rp.Blocks()), flush: o.all()}
	return h, nil
}

// journalRefusal is the refusal of a journal imgprep cannot replay: one
// of a feature it does not replay, or a journal that is corrupt (what
// failed: "the replay failed").
func journalRefusal(what string, err error) *RefusalError {
	var ue *jbd2.UnsupportedError
	if errors.As(err, &ue) {
		return refusal("needs journal recovery, which imgprep does not do for "+ue.What, ErrNeedsRecovery, err)
	}
	return refusal("needs journal recovery and "+what+": "+err.Error(), ErrNeedsRecovery, err)
}

// journalFirstBlock returns the block holding the journal superblock.
func (f *FS) journalFirstBlock() (uint64, error) {
	in, err := f.readInode(f.sb.JournalInum)
	if err != nil {
		return 0, fmt.Errorf("journal inode: %w", err)
	}
	m, err := f.mapper(in)
	if err != nil {
		return 0, fmt.Errorf("journal inode: %w", err)
	}
	b, _, err := m.lookup(0)
	if err != nil {
		return 0, fmt.Errorf("journal inode: %w", err)
	}
	return b, nil
}

// flushReplay writes the replayed view's blocks to w (OpenWritable's
// device, inside the caller's transaction).
func (f *FS) flushReplay(w io.WriterAt) error {
	buf := make([]byte, f.blockSize)
	for _, b := range f.replay.flush {
		if _, err := f.r.ReadAt(buf, int64(b)*f.blockSize); err != nil {
			return fmt.Errorf("%s: journal replay: reading block %d: %w", f.name, b, err)
		}
		if _, err := w.WriteAt(buf, int64(b)*f.blockSize); err != nil {
			return fmt.Errorf("%s: journal replay: writing block %d: %w", f.name, b, err)
		}
	}
	return nil
}

// replayNote says what was done to the journal, for Info.
func (f *FS) replayNote() string {
	if f.replay == nil {
		return ""
	}
	where := "replayed"
	if f.w == nil {
		where = "replayed in memory"
	}
	return fmt.Sprintf("journal %s (%d transactions, %d blocks)", where, f.replay.transactions, f.replay.blocks)
}

// overlay is base with the replayed blocks laid over it.
type overlay struct {
	base   io.ReaderAt
	bs     int64
	blocks uint64 // the filesystem's block count: replayed blocks past it are ignored
	rp     *jbd2.Replay
	extra  map[uint64][]byte // blocks rewritten after the replay (superblocks)
}

func (o *overlay) readBlock(b uint64, p []byte) error {
	_, err := o.ReadAt(p, int64(b)*o.bs)
	return err
}

// all returns every block the overlay changes, sorted, within the
// filesystem.
func (o *overlay) all() []uint64 {
	var out []uint64
	for _, b := range o.rp.Blocks() {
		if b < o.blocks {
			if _, ok := o.extra[b]; !ok {
				out = append(out, b)
			}
		}
	}
	for b := range o.extra {
		out = append(out, b)
	}
	slices.Sort(out)
	return out
}

// ReadAt reads base, then lays the replayed and rewritten blocks over
// the range.
func (o *overlay) ReadAt(p []byte, off int64) (int, error) {
	n, err := o.base.ReadAt(p, off)
	if off < 0 || n == 0 {
		return n, err
	}
	var blk []byte
	end := off + int64(n)
	for b := uint64(off / o.bs); int64(b)*o.bs < end; b++ {
		bo := int64(b) * o.bs
		src, ok := o.extra[b]
		if !ok && b < o.blocks && o.rp.Has(b) {
			if blk == nil {
				blk = make([]byte, o.bs)
			}
			if _, rerr := o.rp.ReadBlock(b, blk); rerr != nil {
				return 0, rerr
			}
			src, ok = blk, true
		}
		if !ok {
			continue
		}
		lo, hi := max(bo, off), min(bo+o.bs, end)
		copy(p[lo-off:hi-off], src[lo-bo:hi-bo])
	}
	return n, err
}
