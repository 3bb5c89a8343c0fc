// Package guest finds the filesystems on a virtual disk and assembles each
// guest operating system on it the way its kernel would at boot: the root
// filesystem, then every filesystem its /etc/fstab mounts, with guest paths
// resolved component by component across those mounts.
//
// # Scan
//
// Scan reads the partition table (pkg/partition: GPT, MBR with logical
// partitions, or none) and probes every partition, or the whole disk when
// there is no table, for a filesystem signature. The signatures and the
// identity fields read next to them follow each format's specification:
//
//   - ext2/3/4: magic 0xEF53 at byte 1024+56; UUID and label in the
//     superblock (kernel Documentation/filesystems/ext4/super.rst,
//     https://www.kernel.org/doc/html/latest/filesystems/ext4/super.html).
//   - xfs: "XFSB" at byte 0; sb_uuid at 32, sb_fname at 108 (xfs_format.h,
//     https://git.kernel.org/pub/scm/fs/xfs/xfs-documentation.git).
//   - btrfs: "_BHRfS_M" at 64 KiB+64; fsid at 64 KiB+32, label at
//     64 KiB+299 (https://btrfs.readthedocs.io/en/latest/dev/On-disk-format.html).
//   - vfat: a FAT boot sector (Microsoft's "FAT: General Overview of On-Disk
//     Format"); the volume id at byte 39 (FAT12/16) or 67 (FAT32), printed
//     as "XXXX-XXXX" like blkid.
//   - Linux swap: "SWAPSPACE2" in the last 10 bytes of the first page
//     (4, 8, 16 or 64 KiB); uuid at 1024+12, label at 1024+28
//     (include/linux/swap.h, union swap_header).
//   - LVM2 physical volume: "LABELONE" at the start of one of the first
//     four sectors, type "LVM2 001" (lvm2 lib/label/label.h).
//   - LUKS: "LUKS\xba\xbe" at 0; uuid at 168, LUKS2 label at 24
//     (https://gitlab.com/cryptsetup/cryptsetup/-/wikis/Specification).
//
// The integers the prober reads are little-endian, except in the xfs
// superblock and the LUKS header, which are big-endian; each struct type in
// layout.go states its byte order and layout_test.go (probe_test.go)
// asserts its size.
// ext filesystems are opened with pkg/fs/ext4 and vfat with pkg/fs/vfat,
// for writing when asked (vfat writing covers removal, truncation and
// rewriting existing files; creating files there fails with fs.ErrInvalid);
// every other type is reported with no engine (Filesystem.FS nil) and the
// reason, and a path on it fails with ErrUnsupportedFS.
//
// Scan never opens for writing a filesystem whose partition overlaps
// another partition or reaches into the MBR or a GPT (primary or backup):
// a write there could corrupt the other filesystem or the partition table.
// Such a filesystem is opened read-only, with the reason in Why.
//
// # fstab and os-release
//
// /etc/fstab is parsed as fstab(5) and libmount describe it (whitespace
// separated fields, '#' comments, octal escapes such as \040); its sources
// are matched against the filesystems found: UUID=, LABEL=, PARTUUID=,
// PARTLABEL=, their /dev/disk/by-* forms (with udev's \x2f escapes) and
// partitions under their kernel names (/dev/sda5, /dev/vda2, /dev/xvda1,
// /dev/nvme0n1p3, /dev/mmcblk0p1; /dev/vdb2 on the second disk). os-release
// is parsed as os-release(5) says: KEY=VALUE lines with shell quoting.
//
// # Several disks
//
// Join makes one Layout of the disks of one VM, in the order the VM sees
// them, as virt-sysprep does with several -a options: a root on the first
// disk finds /var on the second through its fstab (by tag, or as /dev/vdb1
// or /dev/sdb1), and Desc names the disk ("ext4 on partition 1 of
// disk2.qcow2").
//
// # Guest paths
//
// A Guest resolves a path as path_resolution(7) describes, but inside the
// guest: from the guest root, one component at a time; an absolute symlink
// target restarts at the guest root; ".." never climbs above "/" and, at the
// root of a mounted filesystem, goes to the parent directory in the parent
// mount; the longest mounted prefix decides the filesystem; more than
// fs.MaxSymlinkHops symlinks give fs.ErrLoop. Mount points are
// canonicalized as mount(8) does (a mount on /var/run, a symlink to /run,
// lands on /run). An fstab entry whose source is not on this disk leaves
// its mount point reading as an empty directory (a tree walk passes over
// it); a path below it, or a change to it, fails with ErrUnresolvedMount.
// Removing or renaming a mount point, or a tree holding one, fails with
// ErrMountPoint and changes nothing.
//
// fstab is read as systemd reads it at boot. A bind mount (option bind or
// rbind) shows its source directory, resolved in the guest as mounted,
// at its point, so a change there lands on the source's filesystem; rbind
// brings the mounts below the source along. A noauto entry (without
// x-systemd.automount) is not mounted and is listed by Unmounted, as is a
// bind whose source is missing; other x-systemd.* options change nothing.
// Parents are mounted before children whatever the line order, and of two
// entries for one point the later line wins.
//
// Three judges check this package's behaviour in its tests: Linux itself
// (openat2 with RESOLVE_IN_ROOT, with bind mounts in a private mount
// namespace, for path resolution; a read-only loop mount of every
// filesystem written), e2fsck/debugfs for ext4, and fsck.fat/mtools for
// vfat. The resolution is pkg/fs's one Walker, with the Guest as its
// mount table: each component is looked up once, by the engine holding
// it, and every byte read or written goes through that engine: no path
// can reach a host file. The suite of pkg/fs/conformance runs on an
// assembled guest (TestConformance).
package guest
