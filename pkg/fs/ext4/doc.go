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
// An unknown incompat feature makes Open fail (ErrUnknownFeature), as it
// makes the kernel refuse to mount: the format may mean something this
// reader does not know. Writing (OpenWritable) is refused, with nothing
// written, when it is not safe: a journal that needs recovery
// (needs_recovery, or a journal superblock with s_start != 0), an error
// state, orphan inodes (s_last_orphan or a non-empty orphan file), an
// unknown ro_compat feature, or a known feature whose invariants this
// package does not maintain (bigalloc, quota, mmp, ea_inode, encrypt,
// casefold, verity, shared_blocks, snapshots). The reason is in
// Info().WhyReadOnly of a read-only FS too.
//
// Writes go through the primitives documented in write.go. Metadata
// blocks are written through; allocation state (bitmaps, descriptors,
// superblock counts) is cached and written by Sync. A filesystem is
// consistent (e2fsck -fn clean) once Sync has returned.
package ext4
