package ext4

import (
	"fmt"

	"github.com/imgprep/imgprep/pkg/fs"
)

// freePlan is everything needed to free one inode, planned and validated
// before anything is written.
type freePlan struct {
	in    *inode
	trunc *blockTrunc
	// xattr block: its new contents when only the refcount drops, or
	// xattrFree when it is freed (its block is then in trunc.runs).
	xattrBlk  uint64
	xattrBuf  []byte
	xattrFree bool
}

// planFree plans freeing in: its blocks, tree blocks and its reference to
// an external xattr block.
func (f *FS) planFree(in *inode) (*freePlan, error) {
	if in.flag(inodeFlagEAInode) || in.flag(inodeFlagVerity) {
		return nil, fmt.Errorf("%w: inode %d is an EA or verity inode", ErrUnsupportedFeature, in.ino)
	}
	t, err := f.planTruncate(in, 0)
	if err != nil {
		return nil, err
	}
	p := &freePlan{in: in, trunc: t}
	if blk := f.fileACL(in); blk != 0 {
		b, h, xs, err := f.readXattrBlock(blk)
		if err != nil {
			return nil, err
		}
		for i := range xs {
			if xs[i].valueInum != 0 {
				return nil, fmt.Errorf("%w: xattr value in EA inode %d", ErrUnsupportedFeature, xs[i].valueInum)
			}
		}
		p.xattrBlk = blk
		if h.Refcount <= 1 {
			p.xattrFree = true
			t.free(blk, 1)
			if err := f.checkRuns(t.runs); err != nil {
				return nil, err
			}
		} else {
			le.PutUint32(b[xattrBlockRefOff:], h.Refcount-1)
			if f.metadataCsum {
				le.PutUint32(b[xattrBlockCsumOff:], f.xattrBlockChecksum(blk, b))
			}
			p.xattrBuf = b
		}
	}
	return p, nil
}

// applyFree frees the inode of p: its blocks, the xattr block reference,
// and the inode itself (dtime set, links 0, size 0, bitmap bit cleared).
func (f *FS) applyFree(p *freePlan) error {
	in := p.in
	if p.xattrBuf != nil {
		if err := f.writeBlock(p.xattrBlk, p.xattrBuf); err != nil {
			return err
		}
		f.addBlocks(in, -1)
	}
	if p.xattrBlk != 0 {
		in.d.FileACLLo, in.d.FileACLHigh = 0, 0
	}
	if err := f.applyTruncate(in, p.trunc); err != nil {
		return err
	}
	now := f.now()
	in.d.LinksCount = 0
	// A dtime below s_inodes_count reads as an orphan list link to
	// e2fsck: a clock that early is clamped.
	in.d.Dtime = uint32(max(now.Unix(), int64(f.sb.InodesCount)))
	in.setCtime(now)
	if f.hasBlockMap(in) {
		in.setSize(0)
	}
	if err := f.writeInode(in); err != nil {
		return err
	}
	return f.freeInodeBit(in.ino, in.isDir())
}

// remove unlinks name from dir: a file, symlink, device node, fifo or
// socket, or an empty directory, or with all a directory and everything
// below it. With hard links only this name goes; the inode is freed with
// its last link.
func (f *FS) remove(dirIno fs.Ino, name string, all bool) error {
	dir, err := f.dirInode(dirIno)
	if err != nil {
		return err
	}
	if err := f.checkDirWritable(dir); err != nil {
		return err
	}
	e, loc, err := f.lookup(dir, name)
	if err != nil {
		return err
	}
	child, err := f.readInode(e.ino)
	if err != nil {
		return err
	}
	if child.d.LinksCount == 0 {
		return corrupt(f.inodeOffset(child.ino), fmt.Sprintf("inode %d", child.ino), "linked from %q with a link count of 0", name)
	}
	// Plan everything before changing anything; a tree is checked
	// whole (streaming) and then freed as it is walked again.
	var plans []*freePlan
	var drops []*inode // inodes that only lose a link
	var treeLinks map[uint32]int
	tree := child.isDir() && all
	switch {
	case tree:
		treeLinks, err = f.checkTree(child)
	case child.isDir():
		plans, err = f.planEmptyDir(child)
	case child.d.LinksCount > 1:
		drops = []*inode{child}
	default:
		var pl *freePlan
		pl, err = f.planFree(child)
		plans = []*freePlan{pl}
	}
	if err != nil {
		return err
	}
	if err := f.checkPlans(plans); err != nil {
		return err
	}
	// Change: the directory entry first, then the inodes, then the bitmaps.
	now := f.now()
	if err := f.removeDirent(dir, e, loc); err != nil {
		return err
	}
	if child.isDir() {
		f.decDirLinks(dir)
	}
	dir.setMtime(now)
	dir.setCtime(now)
	if err := f.writeInode(dir); err != nil {
		return err
	}
	for _, in := range drops {
		in.d.LinksCount--
		in.setCtime(now)
		if err := f.writeInode(in); err != nil {
			return err
		}
	}
	for _, pl := range plans {
		if err := f.applyFree(pl); err != nil {
			return err
		}
	}
	if tree {
		return f.freeTree(child, treeLinks)
	}
	return nil
}

// decDirLinks drops a directory's link count for a removed subdirectory,
// as the kernel's ext4_dec_count: a count of 1 (dir_nlink overflow) or 2
// stays.
func (f *FS) decDirLinks(dir *inode) {
	if dir.d.LinksCount > 2 {
		dir.d.LinksCount--
	}
}

// checkDirWritable refuses directories whose names this package cannot
// compare or edit.
func (f *FS) checkDirWritable(dir *inode) error {
	if dir.flag(inodeFlagEncrypt) || dir.flag(inodeFlagCasefold) {
		return fmt.Errorf("%w: encrypted or casefolded directory (inode %d)", ErrUnsupportedFeature, dir.ino)
	}
	return nil
}

// planEmptyDir checks that directory in is empty and plans freeing it.
func (f *FS) planEmptyDir(in *inode) ([]*freePlan, error) {
	empty := true
	err := f.forEachDirent(in, func(e *dirent, _ dirLoc) bool {
		if e.name != "." && e.name != ".." {
			empty = false
			return true
		}
		return false
	})
	if err != nil {
		return nil, err
	}
	if !empty {
		return nil, fs.ErrNotEmpty
	}
	pl, err := f.planFree(in)
	if err != nil {
		return nil, err
	}
	return []*freePlan{pl}, nil
}

// checkPlans validates all plans' block lists together, so a block
// claimed by two inodes is caught before anything is freed.
func (f *FS) checkPlans(plans []*freePlan) error {
	if len(plans) < 2 {
		return nil
	}
	var all []blockRun
	for _, p := range plans {
		all = append(all, p.trunc.runs...)
	}
	return f.checkRuns(all)
}
