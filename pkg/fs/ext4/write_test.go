package ext4

import (
	"testing"
	"time"

	"github.com/imgprep/imgprep/internal/oracle"
)

// TestAllocFreeInUninitGroups: allocating a block and an inode in every
// group — most of them BLOCK_UNINIT/INODE_UNINIT on a fresh filesystem,
// so their bitmaps must be computed (superblock and descriptor backups,
// flex_bg metadata, padding) — and freeing them again leaves e2fsck clean
// and the free counts where they were.
func TestAllocFreeInUninitGroups(t *testing.T) {
	oracle.Require(t, "e2fsck")
	for _, cfg := range []mkfsConfig{
		{name: "ext4-1k-8groups", fsType: "ext4", blockSize: 1024, sizeMiB: 64},
		{name: "ext4-1k-nocsum", fsType: "ext4", blockSize: 1024, features: "^metadata_csum,uninit_bg", sizeMiB: 64},
		{name: "ext4-1k-no-flex", fsType: "ext4", blockSize: 1024, features: "^flex_bg", sizeMiB: 64},
		{name: "ext4-1k-meta-bg", fsType: "ext4", blockSize: 1024, features: "meta_bg,^resize_inode", sizeMiB: 64},
		{name: "ext2-1k", fsType: "ext2", blockSize: 1024, sizeMiB: 64},
	} {
		t.Run(cfg.name, func(t *testing.T) {
			img := mkfs(t, cfg, "")
			f, _ := openRW(t, img)
			uninit := 0
			for g := uint32(0); g < f.groups; g++ {
				if f.gds[g].Flags&bgBlockUninit != 0 {
					uninit++
				}
			}
			if cfg.fsType == "ext4" && uninit == 0 {
				t.Fatalf("no BLOCK_UNINIT group in %d groups: the test would prove nothing", f.groups)
			}
			freeBlocks, freeInodes := f.freeBlocks(), f.sb.FreeInodesCount
			var runs []blockRun
			for g := uint32(0); g < f.groups; g++ {
				start, n, err := f.allocBlocks(f.groupFirstBlock(g), 3)
				if err != nil {
					t.Fatal(err)
				}
				if got, _ := f.blockGroup(start); got != g {
					t.Errorf("allocation near group %d landed in group %d", g, got)
				}
				runs = append(runs, blockRun{start, n})
				ino, err := f.allocInode(g*f.inodesPerGroup+1, g%2 == 0)
				if err != nil {
					t.Fatal(err)
				}
				in := f.newInode(ino, 0o100644)
				in.d.Dtime = uint32(time.Now().Unix())
				if err := f.writeInode(in); err != nil {
					t.Fatal(err)
				}
				if err := f.freeInodeBit(ino, g%2 == 0); err != nil {
					t.Fatal(err)
				}
			}
			if err := f.freeRuns(runs); err != nil {
				t.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			if f.freeBlocks() != freeBlocks || f.sb.FreeInodesCount != freeInodes {
				t.Errorf("free blocks %d→%d, inodes %d→%d", freeBlocks, f.freeBlocks(), freeInodes, f.sb.FreeInodesCount)
			}
			oracle.E2fsckClean(t, img)
		})
	}
}

// TestFreeRunsRefusesBadLists: a block outside the filesystem, a free
// block, or a block listed twice is refused and nothing changes.
func TestFreeRunsRefusesBadLists(t *testing.T) {
	img := mkfs(t, testConfigs()[1], "")
	f, _ := openRW(t, img)
	start, _, err := f.allocBlocks(0, 2)
	if err != nil {
		t.Fatal(err)
	}
	before := f.freeBlocks()
	for _, tc := range []struct {
		name string
		runs []blockRun
	}{
		{"a block past the end is outside the filesystem", []blockRun{{f.blocksCount, 1}}},
		{"block 0 is not a data block", []blockRun{{0, 1}}},
		{"a free block cannot be freed", []blockRun{{start, 3}}},
		{"a block listed twice is refused", []blockRun{{start, 1}, {start, 2}}},
		{"an inode table block is metadata, not a file's", []blockRun{{f.gdInodeTable(0) + 1, 1}}},
		{"a block bitmap is metadata, not a file's", []blockRun{{f.gdBlockBitmap(1), 1}}},
		{"a descriptor block is metadata, not a file's", []blockRun{{f.gdtBlock(0), 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := f.freeRuns(tc.runs); err == nil {
				t.Fatal("freeRuns accepted the list")
			}
			if f.freeBlocks() != before {
				t.Fatal("a refused freeRuns changed the free count")
			}
		})
	}
}

// TestSixtyFourKiBBlocks: with 64 KiB blocks a rec_len of 65536 is stored
// as 65535 (ext4_rec_len_to_disk); reading, RemoveAll of an htree
// directory and Truncate still leave e2fsck clean.
func TestSixtyFourKiBBlocks(t *testing.T) {
	oracle.Require(t, "e2fsck")
	src := sourceTree(t, 300)
	img := mkfs(t, mkfsConfig{name: "ext4-64k", fsType: "ext4", blockSize: 65536, sizeMiB: 64}, src)
	assertSameTree(t, openRO(t, img), src)
	f, _ := openRW(t, img)
	for _, p := range []string{"/many", "/deep", "/etc/ssh/f1", "/empty"} {
		if err := f.RemoveAll(p); err != nil {
			t.Fatalf("RemoveAll(%s): %v", p, err)
		}
	}
	if err := f.Truncate("/etc/ssh/f300000", 70000); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	oracle.E2fsckClean(t, img)
}
