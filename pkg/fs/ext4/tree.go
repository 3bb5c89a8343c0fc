package ext4

import (
	"fmt"
)

// Removing a directory tree streams it twice, so that memory does not
// grow with the number of files: a first pass reads every inode below the
// top and plans (then drops) freeing each, checking the whole tree before
// anything is written, with only the directories seen, the links of
// multiply-linked files and the blocks claimed kept; a second pass frees
// each inode as it meets it, the directories after their contents. The
// tree's own directories are freed whole: nothing in them is edited.

// claimSet is a sparse bitmap of the blocks the tree's inodes hold, so a
// block claimed by two of them is caught in the first pass. It costs 4
// KiB per 32,768-block chunk that holds a claimed block.
type claimSet map[uint64]*[claimChunk / 64]uint64

const claimChunk = 1 << 15

// add records runs, failing on a block already recorded.
func (c claimSet) add(runs []blockRun) error {
	for _, r := range runs {
		for b := r.start; b < r.start+r.count; b++ {
			w := c[b/claimChunk]
			if w == nil {
				w = new([claimChunk / 64]uint64)
				c[b/claimChunk] = w
			}
			i := b % claimChunk
			if w[i/64]&(1<<(i%64)) != 0 {
				return corrupt(-1, "block list", "block %d is referenced twice", b)
			}
			w[i/64] |= 1 << (i % 64)
		}
	}
	return nil
}

// treeCheck is the first pass's state.
type treeCheck struct {
	seenDir map[uint32]bool
	// links counts the links the tree holds to files with more than one.
	links  map[uint32]int
	claims claimSet
}

// checkTree runs the first pass over directory top: every directory is
// linked once, every inode can be freed, no block is claimed twice. It
// returns, for files with more than one link, how many the tree holds.
func (f *FS) checkTree(top *inode) (map[uint32]int, error) {
	c := &treeCheck{seenDir: map[uint32]bool{top.ino: true}, links: map[uint32]int{}, claims: claimSet{}}
	if err := f.checkDir(c, top); err != nil {
		return nil, err
	}
	if err := f.checkFree(c, top); err != nil {
		return nil, err
	}
	return c.links, nil
}

func (f *FS) checkFree(c *treeCheck, in *inode) error {
	pl, err := f.planFree(in)
	if err != nil {
		return err
	}
	return c.claims.add(pl.trunc.runs)
}

func (f *FS) checkDir(c *treeCheck, d *inode) error {
	var inner error
	err := f.forEachDirent(d, func(e *dirent, _ dirLoc) bool {
		if e.name == "." || e.name == ".." {
			return false
		}
		inner = f.checkEntry(c, e.ino)
		return inner != nil
	})
	if err != nil {
		return err
	}
	return inner
}

func (f *FS) checkEntry(c *treeCheck, ino uint32) error {
	if n, ok := c.links[ino]; ok {
		c.links[ino] = n + 1
		return nil
	}
	in, err := f.readInode(ino)
	if err != nil {
		return err
	}
	if in.isDir() {
		if c.seenDir[ino] {
			return corrupt(f.inodeOffset(ino), fmt.Sprintf("inode %d", ino), "directory linked twice")
		}
		c.seenDir[ino] = true
		if err := f.checkDir(c, in); err != nil {
			return err
		}
		return f.checkFree(c, in)
	}
	if in.d.LinksCount > 1 {
		c.links[ino] = 1
	}
	return f.checkFree(c, in)
}

// freeTree runs the second pass: it frees everything below directory top,
// then top. links is what checkTree returned: a multiply-linked file is
// freed when the tree holds all its links and otherwise loses those.
func (f *FS) freeTree(top *inode, links map[uint32]int) error {
	if err := f.freeDir(top, links); err != nil {
		return err
	}
	return f.freeInode(top)
}

func (f *FS) freeInode(in *inode) error {
	pl, err := f.planFree(in)
	if err != nil {
		return err
	}
	return f.applyFree(pl)
}

func (f *FS) freeDir(d *inode, links map[uint32]int) error {
	var inner error
	err := f.forEachDirent(d, func(e *dirent, _ dirLoc) bool {
		if e.name == "." || e.name == ".." {
			return false
		}
		inner = f.freeEntry(e.ino, links)
		return inner != nil
	})
	if err != nil {
		return err
	}
	return inner
}

func (f *FS) freeEntry(ino uint32, links map[uint32]int) error {
	n, multi := links[ino]
	if multi && n == 0 {
		return nil // already freed or dropped through another link
	}
	in, err := f.readInode(ino)
	if err != nil {
		return err
	}
	if in.isDir() {
		return f.freeTree(in, links)
	}
	if multi {
		links[ino] = 0
		if n < int(in.d.LinksCount) {
			in.d.LinksCount -= uint16(n)
			in.setCtime(f.now())
			return f.writeInode(in)
		}
	}
	return f.freeInode(in)
}
