// Package ext4test holds the helpers shared by the ext4 engine's oracle
// tests: a snapshot of a whole filesystem tree as debugfs (e2fsprogs) sees
// it, the same snapshot taken through imgprep's own fs.ReadTree, and a
// field-by-field diff of two snapshots that tests assert against ("exactly
// these paths changed, everything else is byte-identical").
//
// Snapshot batches its debugfs requests (one debugfs -f run per directory
// depth, then one for every inode's stat, contents and xattrs), addressing
// inodes by number ("<12>") so that no path needs quoting.
//
// The ext4 on-disk format is described in the kernel's
// Documentation/filesystems/ext4/ and e2fsprogs' lib/ext2fs/ext2_fs.h;
// debugfs's request language in debugfs(8).
package ext4test
