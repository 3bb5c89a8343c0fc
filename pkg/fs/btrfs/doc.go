// Package btrfs reads btrfs filesystems in pure Go, without the kernel or
// btrfs-progs.
//
// The on-disk format is that of the Linux kernel's fs/btrfs and of
// btrfs-progs' kernel-shared/ctree.h (include/uapi/linux/btrfs_tree.h);
// the structures in format.go mirror those definitions field by field.
// Every btrfs structure is little-endian.
//
// Open reads the superblock (the primary copy, with the mirrors at 64 MiB
// and 256 GiB checked against it), the system chunks of sys_chunk_array,
// the chunk tree and the root tree. Everything else is read on demand by
// (subvolume, inode) steps: a path is resolved one directory entry at a
// time through DIR_ITEM lookups by name hash, crossing into a nested
// subvolume where an entry's location is a ROOT_ITEM, as the kernel does.
//
// Every tree block is checked before use: its checksum (crc32c, xxhash64
// or sha256 as the superblock says; blake2b is refused by name), its
// bytenr, its filesystem id, its level and its item bounds. Data extents
// are checked against the checksum tree unless the inode has NODATASUM.
// Damaged structures are reported as *FormatError, which names the
// structure and its logical and physical offsets. Every count and size
// taken from the disk is bounded before it is allocated.
//
// Writing is not implemented: Info().Writable is false and WhyReadOnly
// says "imgprep cannot write btrfs yet".
package btrfs
