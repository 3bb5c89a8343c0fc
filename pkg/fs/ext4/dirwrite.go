package ext4

import "fmt"

// removeDirent removes entry e (found at loc by forEachDirent/lookup) from
// directory dir: its rec_len joins the previous entry of the same block,
// or, first in its block, its inode number becomes 0. In an htree
// directory only the leaf changes. For an inline directory the edit is
// made in dir.raw; the caller writes dir.
func (f *FS) removeDirent(dir *inode, e *dirent, loc dirLoc) error {
	if loc.prev == -2 || e.name == "." || e.name == ".." {
		return fmt.Errorf("ext4: cannot remove %q", e.name)
	}
	if dir.flag(inodeFlagInlineData) {
		ib, extra, x, err := f.inlineData(dir)
		if err != nil {
			return err
		}
		region := ib[inlineDotdotSize:]
		if loc.region == 1 {
			region = extra
		}
		unlinkInRegion(region, e, loc.prev)
		if loc.region == 1 {
			f.rehashIbodyEntry(dir, x, extra)
		}
		dir.syncBlockFromRaw()
		return nil
	}
	b := make([]byte, f.blockSize)
	if _, err := f.readDirBlock(dir, loc.lblk, loc.pblk, b); err != nil {
		return err
	}
	// Make sure the entry is still where the lookup saw it.
	if le.Uint32(b[e.off:]) != e.ino {
		return corrupt(int64(loc.pblk)*f.blockSize+int64(e.off), "directory entry", "changed since lookup")
	}
	unlinkInRegion(b, e, loc.prev)
	return f.writeDirBlock(dir, loc.pblk, b)
}

// unlinkInRegion removes e from the entries of region b.
func unlinkInRegion(b []byte, e *dirent, prev int) {
	if prev >= 0 {
		prevLen := recLenFromDisk(le.Uint16(b[prev+4:]), len(b))
		le.PutUint16(b[prev+4:], recLenToDisk(prevLen+e.recLen))
		return
	}
	le.PutUint32(b[e.off:], 0)
}

// writeDirBlock sets the checksum tail of a directory leaf block (when it
// has one and metadata_csum is on) and writes it at pblk.
func (f *FS) writeDirBlock(dir *inode, pblk uint64, b []byte) error {
	if f.metadataCsum && hasDirTail(b) {
		n := len(b) - dirTailSize
		le.PutUint32(b[len(b)-4:], crc32c(f.inodeSeed(dir.ino, dir.d.Generation), b[:n]))
	}
	return f.writeBlock(pblk, b)
}
