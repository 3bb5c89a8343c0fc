package ext4

import (
	"errors"
	"fmt"

	"github.com/imgprep/imgprep/pkg/fs"
)

// rename moves oname in odir to nname in ndir as rename(2): an existing
// target is replaced when it is a non-directory (and the source is one
// too) or an empty directory (and the source is a directory). A moved
// directory's ".." entry and both parents' link counts follow; moving a
// directory into its own subtree fails with fs.ErrInvalid.
func (f *FS) rename(odirIno fs.Ino, oname string, ndirIno fs.Ino, nname string) error {
	odir, err := f.dirInode(odirIno)
	if err != nil {
		return err
	}
	ndir, err := f.dirInode(ndirIno)
	if err != nil {
		return err
	}
	if err := checkName(nname); err != nil {
		return err
	}
	for _, d := range []*inode{odir, ndir} {
		if err := f.checkDirWritable(d); err != nil {
			return err
		}
	}
	if ndir.ino == odir.ino {
		ndir = odir
	}
	oe, _, err := f.lookup(odir, oname)
	if err != nil {
		return err
	}
	src, err := f.readInode(oe.ino)
	if err != nil {
		return err
	}
	te, tloc, err := f.lookup(ndir, nname)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if exists && te.ino == oe.ino {
		return nil // two names of one inode: rename(2) does nothing
	}
	moveDir := src.isDir() && ndir != odir
	if src.isDir() {
		if err := f.checkNotBelow(src.ino, ndir); err != nil {
			return err
		}
	}
	if moveDir && !src.flag(inodeFlagInlineData) {
		// Its ".." will be rewritten: make sure it is there first.
		if _, _, err := f.lookup(src, ".."); err != nil {
			return err
		}
	}
	// Plan the replaced target before changing anything.
	var target *inode
	var plan *freePlan
	if exists {
		if target, err = f.readInode(te.ino); err != nil {
			return err
		}
		switch {
		case src.isDir() && !target.isDir():
			return fs.ErrNotDir
		case !src.isDir() && target.isDir():
			return fs.ErrIsDir
		case target.isDir():
			plans, err := f.planEmptyDir(target)
			if err != nil {
				return err
			}
			plan = plans[0]
		case target.d.LinksCount <= 1:
			if plan, err = f.planFree(target); err != nil {
				return err
			}
		}
	} else {
		if err := f.checkCreateSpace(ndir, nname, false, 0); err != nil {
			return err
		}
	}
	if moveDir && !(exists && target.isDir()) {
		if err := f.checkDirLinks(ndir); err != nil {
			return err
		}
	}
	now := f.now()
	// The new name first, then the old one goes.
	ft := modeFileType(src.d.Mode)
	if exists {
		if err := f.setDirent(ndir, te, tloc, src.ino, ft); err != nil {
			return err
		}
	} else if err := f.addDirent(ndir, nname, src.ino, ft); err != nil {
		return err
	}
	// Adding may have split the old entry's slack or rebuilt the
	// directory: find it again.
	oe, oloc, err := f.lookup(odir, oname)
	if err != nil {
		return err
	}
	if err := f.removeDirent(odir, oe, oloc); err != nil {
		return err
	}
	if moveDir {
		if err := f.setDotDot(src, ndir.ino); err != nil {
			return err
		}
		f.decDirLinks(odir)
		f.incDirLinks(ndir)
	}
	src.setCtime(now)
	if err := f.writeInode(src); err != nil {
		return err
	}
	if exists {
		if target.isDir() {
			f.decDirLinks(ndir)
		}
		if plan != nil {
			if err := f.applyFree(plan); err != nil {
				return err
			}
		} else {
			target.d.LinksCount--
			target.setCtime(now)
			if err := f.writeInode(target); err != nil {
				return err
			}
		}
	}
	if err := f.touchDir(odir); err != nil {
		return err
	}
	if ndir != odir {
		return f.touchDir(ndir)
	}
	return nil
}

// checkNotBelow fails with fs.ErrInvalid when dir is the directory ino or
// lies below it, following ".." up to the root.
func (f *FS) checkNotBelow(ino uint32, dir *inode) error {
	cur := dir
	seen := map[uint32]bool{}
	for {
		if cur.ino == ino {
			return fmt.Errorf("%w: moving directory inode %d into its own subtree", fs.ErrInvalid, ino)
		}
		if cur.ino == rootIno {
			return nil
		}
		if seen[cur.ino] {
			return corrupt(f.inodeOffset(dir.ino), fmt.Sprintf("inode %d", dir.ino), "'..' chain loops without reaching the root")
		}
		seen[cur.ino] = true
		e, _, err := f.lookup(cur, "..")
		if err != nil {
			return err
		}
		if cur, err = f.readInode(e.ino); err != nil {
			return err
		}
		if !cur.isDir() {
			return corrupt(f.inodeOffset(e.ino), fmt.Sprintf("inode %d", e.ino), "'..' is not a directory")
		}
	}
}

// setDirent points the existing entry e of dir (found at loc) at ino with
// file type ft, in place.
func (f *FS) setDirent(dir *inode, e *dirent, loc dirLoc, ino uint32, ft uint8) error {
	if !f.filetype {
		ft = 0
	}
	put := func(b []byte) {
		le.PutUint32(b[e.off:], ino)
		if f.filetype {
			b[e.off+7] = ft
		}
	}
	if dir.flag(inodeFlagInlineData) {
		ib, extra, x, err := f.inlineData(dir)
		if err != nil {
			return err
		}
		if loc.prev == -2 {
			return fmt.Errorf("%w: cannot retarget %q", fs.ErrInvalid, e.name)
		}
		if loc.region == 1 {
			put(extra)
			f.rehashIbodyEntry(dir, x, extra)
		} else {
			put(ib[inlineDotdotSize:])
		}
		dir.syncBlockFromRaw()
		return nil
	}
	b := make([]byte, f.blockSize)
	if _, err := f.readDirBlock(dir, loc.lblk, loc.pblk, b); err != nil {
		return err
	}
	if le.Uint32(b[e.off:]) != e.ino {
		return corrupt(int64(loc.pblk)*f.blockSize+int64(e.off), "directory entry", "changed since lookup")
	}
	put(b)
	if f.isDxNode(dir, loc.lblk, b) {
		// ".." of an htree root: the root's dx_tail checksum covers it.
		return f.writeDxRoot(dir, loc.pblk, b)
	}
	return f.writeDirBlock(dir, loc.pblk, b)
}

// writeDxRoot writes htree root block b, recomputing its dx_tail
// checksum with metadata_csum.
func (f *FS) writeDxRoot(dir *inode, pblk uint64, b []byte) error {
	if f.metadataCsum {
		n, err := parseDxNode(b, true, true)
		if err != nil {
			return corrupt(int64(pblk)*f.blockSize, fmt.Sprintf("htree root of inode %d", dir.ino), "%v", err)
		}
		end := n.countOff + n.limit*dxEntrySize
		tail := b[end : end+dxTailSize]
		le.PutUint32(tail[4:], dxChecksum(f.inodeSeed(dir.ino, dir.d.Generation), b, n.countOff, n.count, tail))
	}
	return f.writeBlock(pblk, b)
}

// setDotDot points directory dir's ".." at parent.
func (f *FS) setDotDot(dir *inode, parent uint32) error {
	if dir.flag(inodeFlagInlineData) {
		le.PutUint32(dir.raw[inodeBlockOff:], parent)
		dir.syncBlockFromRaw()
		return nil
	}
	e, loc, err := f.lookup(dir, "..")
	if err != nil {
		return err
	}
	return f.setDirent(dir, e, loc, parent, ftDir)
}
