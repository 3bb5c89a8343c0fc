// Package xfs reads XFS V5 filesystems (with CRCs), as the RHEL family
// (RHEL, Rocky, Alma, Oracle Linux, Amazon Linux) puts on its root
// filesystem: the superblock, the AG headers (AGF, AGI, AGFL), v3 inodes
// with local, extent-list and btree (bmbt of any height) forks, attribute
// forks (shortform, leaf and node, with remote values) for SELinux labels,
// directories in every format (shortform, block, leaf, node with
// free-index blocks, and btree-mapped ones) looked up by their name hash,
// local and remote symlinks, sparse files and unwritten extents (read as
// zeros). V4 filesystems and real-time files are refused by name.
//
// Specifications: libxfs/xfs_format.h, xfs_da_format.h and
// xfs_log_format.h in xfsprogs and the kernel, and the kernel's
// Documentation/filesystems/xfs/ (xfs-self-describing-metadata and the
// "XFS Algorithms & Data Structures" book). The structs in layout.go
// mirror those headers field by field; layout_test.go asserts their sizes.
//
// Every structure is big-endian except the CRCs, which are little-endian
// crc32c of the structure with its CRC field zeroed. Every CRC is checked
// on read, with the UUID, owner and block number of the v5 headers; a
// mismatch is a *CorruptError carrying the AG, the block and the byte
// offset. Every btree, dabtree and sibling chain is bounded by level and
// by the blocks already visited, so a hostile image can neither make the
// reader loop nor allocate more than what it read.
//
// The log is checked at Open as the kernel does at mount (xlog_find_head
// and xlog_check_unmount_rec): a head that does not directly follow an
// unmount record means a dirty log. Reads go on (Info().Note warns that
// the newest changes may be missing); writing is refused with the advice
// to mount the filesystem once or run xfs_repair -L.
//
// Open gives a read-only filesystem: Refusal says why it cannot be
// written, naming a dirty log or a feature it would refuse (unknown
// ro_compat, incompat or log_incompat bits) before saying "imgprep cannot
// write xfs yet". OpenWritable makes the first changes: removing a
// non-directory from a shortform or block-format directory (hard links
// drop a link; the
// last frees the inode's data and attribute extents into the bnobt and
// cntbt, merging with free neighbours, and its inode into the inobt and
// finobt, with the AGF, AGI and superblock counters) and truncating a
// regular file to 0, when every btree involved is one leaf with room and
// no extent is shared. Anything else is refused with a *RefusalError
// before anything changes; rmapbt filesystems are refused whole.
package xfs
