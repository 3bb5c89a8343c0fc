package btrfs

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/pkg/fs"
)

// hostileFS is a view over one leaf holding directory 256 whose entry
// "loop" leads back to itself and whose entry "big" is a file claiming a
// size far past the device.
func hostileFS(t *testing.T) *FS {
	t.Helper()
	dirIno, _ := binary.Append(nil, binary.LittleEndian, InodeItem{Mode: fs.ModeDir | 0o755, Nlink: 1})
	bigIno, _ := binary.Append(nil, binary.LittleEndian, InodeItem{Mode: fs.ModeRegular | 0o644, Nlink: 1, Size: 1 << 50})
	entry := func(name string, ino uint64, typ uint8) []byte {
		b, _ := binary.Append(nil, binary.LittleEndian, DirItem{Location: Key{ObjectID: ino, Type: typeInodeItem}, NameLen: uint16(len(name)), Type: typ})
		return append(b, name...)
	}
	keys := []Key{{256, typeInodeItem, 0}, {256, typeDirItem, uint64(nameHash([]byte("big")))}, {256, typeDirItem, uint64(nameHash([]byte("loop")))}, {257, typeInodeItem, 0}}
	datas := [][]byte{dirIno, entry("big", 257, ftRegFile), entry("loop", 256, ftDir), bigIno}
	if keys[2].less(keys[1]) {
		keys[1], keys[2] = keys[2], keys[1]
		datas[1], datas[2] = datas[2], datas[1]
	}
	leaf := seedLeaf(keys, datas)
	dev := make(fuzzDevice, 1<<20)
	copy(dev[4096:], leaf)
	fixNode(dev, 4096, 4096)
	v := fuzzVolume(dev, 4096)
	s := &subvol{id: 5, root: treeRoot{id: 5, bytenr: 4096}, rootDir: 256}
	v.subvols[5] = s
	return newFS(v, s, "hostile")
}

// TestHostileTrees: a directory entry leading back to its own directory
// is a *FormatError (no walk descends forever), and a file claiming a
// size past what the device can hold is not opened (no caller allocates
// it).
func TestHostileTrees(t *testing.T) {
	f := hostileFS(t)
	_, err := f.Stat("/loop/loop/x")
	var fe *FormatError
	if !errors.As(err, &fe) || !strings.Contains(fe.Reason, `entry "loop" leads back`) {
		t.Errorf("cycle: %v, want a *FormatError for the entry", err)
	}
	if _, err := f.ReadFile("/big"); !errors.Is(err, ErrCorrupt) {
		t.Errorf("huge file: %v, want ErrCorrupt", err)
	}
	if _, err := f.Stat("/missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
}
