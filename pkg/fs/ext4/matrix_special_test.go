package ext4_test

import (
	"fmt"
	"testing"

	"github.com/imgprep/imgprep/internal/ext4test"
	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/fs/ext4"
)

// bigEntry names entry i of ext4-htree.img's /big.
func bigEntry(i int) string {
	const digits = "0123456789"
	n := []byte("0000")
	for k := 3; k >= 0; k-- {
		n[k] = digits[i%10]
		i /= 10
	}
	return "/big/entry-with-a-fairly-long-name-" + string(n)
}

// specialOps are the operations that need one fixture's structure.
func specialOps() map[string][]writeOp {
	frag := gen(300 * 1024)
	return map[string][]writeOp{
		"ext4-htree.img": {
			removeAllOp("RemoveAll/the 5000-entry htree directory", "/big"),
			removeOp("Remove/an entry of an htree directory changes only its leaf block", bigEntry(2500)),
			removeOp("Remove/many entries across the leaves of an htree directory",
				bigEntry(0), bigEntry(1), bigEntry(999), bigEntry(1000), bigEntry(2501), bigEntry(4999)),
			createOp("WriteFile/creates a file in an htree directory (insert into the right leaf)", "/big/new-entry", gen(100)),
			renameOp("Rename/within an htree directory", bigEntry(1), "/big/renamed-entry"),
			renameOp("Rename/out of an htree directory", bigEntry(500), "/etc/moved"),
			createManyOp("WriteFile/1000 new files split htree leaves", "/big", "new-entry-with-another-long-name-", 1000),
		},
		"ext4-fragmented.img": {
			truncateOp("Truncate/in the middle of an extent of a depth-1 extent tree", "/frag", 150001,
				func() []byte { return frag[:150001] }),
			truncateOp("Truncate/to 0 frees the extent index block", "/frag", 0, func() []byte { return nil }),
			truncateOp("Truncate/a sparse file with ~40 extents", "/striped", 20*1024+100, func() []byte {
				b := make([]byte, 20*1024+100)
				copy(b, gen(4096))
				for blk := 2; blk*1024 < len(b); blk += 2 {
					copy(b[blk*1024:], gen(1024))
				}
				return b
			}),
			removeOp("Remove/a file with a depth-1 extent tree frees its leaves' index block", "/frag"),
			overwriteOp("WriteFile/overwriting a fragmented file", "/frag", gen(1000)),
			removeAllOp("RemoveAll/a directory of 150 files", "/fill"),
			{name: "WriteFile/into 2-block holes: the new file's extent tree grows past the inode",
				do: func(f *ext4.FS) error {
					for i := 0; i < 300; i += 4 {
						if err := f.Remove(fmt.Sprintf("/fill/f%03d", i)); err != nil {
							return err
						}
					}
					return f.WriteFile("/frag2", gen(600*1024), fs.WriteOptions{Perm: 0o644})
				},
				expect: func(b ext4test.Tree) ext4test.Expect {
					var victims []string
					for i := 0; i < 300; i += 4 {
						victims = append(victims, fmt.Sprintf("/fill/f%03d", i))
					}
					e := expectRemoved(b, victims...)
					e.Added = []string{"/frag2"}
					parentTouched(&e, "/frag2")
					return e
				},
				verify: func(t *testing.T, img string, _, a ext4test.Tree) {
					checkContent(t, img, a, "/frag2", gen(600*1024))
				}},
		},
		"ext3-1k.img": {
			truncateOp("Truncate/the sparse file reaching triple-indirect blocks to 1000 bytes", "/data/triple", 1000,
				func() []byte { return make([]byte, 1000) }),
			{name: "Truncate/inside the triple-indirect range keeps the tree and the data block",
				do: func(f *ext4.FS) error { return f.Truncate("/data/triple", 70<<20+4) },
				expect: func(b ext4test.Tree) ext4test.Expect {
					// Too large to read in the snapshot: its block map
					// stands for its contents, and must not change.
					return expectInode(b, "/data/triple", fSize, fMtime)
				},
				verify: func(t *testing.T, img string, b, a ext4test.Tree) {
					if got := a["/data/triple"]; got.BlockMap == "" || got.BlockMap != b["/data/triple"].BlockMap {
						t.Errorf("block map after truncation %q, before %q", got.BlockMap, b["/data/triple"].BlockMap)
					}
				}},
			removeOp("Remove/a sparse file with triple-, double- and single-indirect blocks", "/data/triple"),
			truncateOp("Truncate/to a smaller size in the double-indirect range", "/data/mib", 300001,
				func() []byte { return gen(1 << 20)[:300001] }),
			overwriteOp("WriteFile/overwriting allocates indirect blocks again", "/data/xattr-block", gen(300*1024)),
			removeAllOp("RemoveAll/a directory tree with a hard link leaving it", "/dir"),
		},
		"ext4-inline.img": {
			removeOp("Remove/a file with inline data", "/tiny/small"),
			removeOp("Remove/a file whose inline data spills into system.data", "/tiny/hundred"),
			removeAllOp("RemoveAll/directories with inline data", "/tiny"),
			overwriteOp("WriteFile/overwriting inline data with 5000 bytes moves it to blocks", "/tiny/small", gen(5000)),
			overwriteOp("WriteFile/overwriting inline data with less inline data", "/tiny/hundred", gen(10)),
			createOp("WriteFile/creates a file in an inline directory", "/tiny/d1/new", gen(10)),
			truncateOp("Truncate/inline data", "/tiny/hundred", 10, func() []byte { return gen(10) }),
		},
		"ext4-links-xattr.img": {
			removeOp("Remove/one of three names", "/a/three"),
			removeOp("Remove/all three names frees the inode and its in-inode xattrs", "/a/three", "/b/three-b", "/c/three-c"),
			removeOp("Remove/a file with an xattr block", "/a/block-xattr"),
			removeOp("Remove/a file with xattrs in the inode and in a block", "/a/many-xattrs"),
			removeOp("Remove/a symlink with a security.selinux xattr", "/a/fast"),
			removeOp("Remove/a slow symlink", "/b/slow"),
			overwriteOp("WriteFile/overwriting keeps xattrs in the inode and in the block", "/a/block-xattr", gen(3000)),
			overwriteOp("WriteFile/overwriting a file with three names", "/c/three-c", []byte("new\n")),
			renameOp("Rename/replacing one of three names", "/a/many-xattrs", "/b/three-b"),
			attrOp("Chmod/on a directory with xattrs", "/b",
				func(f *ext4.FS) error { return f.Chmod("/b", 0o700) }, fMode),
			{name: "RemoveAll/everything below the root but lost+found",
				do: func(f *ext4.FS) error {
					for _, p := range []string{"/a", "/b", "/c", "/etc"} {
						if err := f.RemoveAll(p); err != nil {
							return err
						}
					}
					return nil
				},
				expect: func(b ext4test.Tree) ext4test.Expect { return expectRemoved(b, "/a", "/b", "/c", "/etc") }},
			failOp("Link/to a directory fails with ErrIsDir", fs.ErrIsDir,
				func(f *ext4.FS) error { return f.Link("/a", "/a-link") }),
		},
	}
}
