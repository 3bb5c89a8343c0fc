package ext4

import "fmt"

// Inline directories (inline_data feature): i_block holds the parent's
// inode number (4 bytes) and then directory entries filling the remaining
// 56 bytes; the system.data attribute's value holds more entries. "." is
// implicit.

const inlineDotdotSize = 4

// forEachInlineDirent is forEachDirent for an inline directory. It
// reports "." and ".." as entries; their loc.prev is -2 (not removable).
func (f *FS) forEachInlineDirent(in *inode, fn func(e *dirent, loc dirLoc) bool) error {
	ib, extra, _, err := f.inlineData(in)
	if err != nil {
		return err
	}
	parent := le.Uint32(ib)
	if fn(&dirent{ino: in.ino, name: ".", nameLen: 1, ftype: ftDir}, dirLoc{prev: -2}) {
		return nil
	}
	if fn(&dirent{ino: parent, name: "..", nameLen: 2, ftype: ftDir}, dirLoc{prev: -2}) {
		return nil
	}
	for region, b := range [][]byte{ib[inlineDotdotSize:], extra} {
		if len(b) == 0 {
			continue
		}
		ents, err := parseDirEntries(b, f.filetype, int(f.blockSize))
		if err != nil {
			return corrupt(f.inodeOffset(in.ino), fmt.Sprintf("inline directory inode %d", in.ino), "%v", err)
		}
		prev := -1
		for i := range ents {
			e := &ents[i]
			if e.ino != 0 && fn(e, dirLoc{region: region, prev: prev}) {
				return nil
			}
			prev = e.off
		}
	}
	return nil
}
