// Package ext4 reads and writes ext2, ext3 and ext4 filesystems in pure Go,
// without the kernel, libext2fs or root.
//
// The on-disk format is specified by the Linux kernel's
// Documentation/filesystems/ext4/ (https://www.kernel.org/doc/html/latest/filesystems/ext4/)
// and by e2fsprogs' lib/ext2fs/ext2_fs.h
// (https://git.kernel.org/pub/scm/fs/ext2/e2fsprogs.git/tree/lib/ext2fs/ext2_fs.h).
// The structures in disklayout.go mirror those definitions field by field.
//
// Byte order: every ext2/3/4 structure is little-endian, except the jbd2
// journal superblock, which is big-endian (kernel include/linux/jbd2.h).
//
// Reading is lazy: Open reads the superblock and the group descriptors and
// afterwards only the inodes, directory blocks and data blocks it is asked
// for. Every count, size and block number taken from the disk is checked
// against the filesystem size before it is used or allocated, and a damaged
// structure is reported as a *CorruptError carrying its byte offset.
//
// Writing (OpenWritable) is refused, with nothing written, when it is not
// safe: a journal that needs recovery, an error state, orphan inodes, or a
// feature this package does not handle. See write.go for the primitives
// every change goes through.
package ext4
