// Package vfat reads FAT12, FAT16 and FAT32 filesystems (with VFAT long
// file names), as the EFI system partition of a guest holds them, and
// makes the changes cleaning one needs (OpenWritable): removing files and
// trees, truncating, rewriting existing files and setting times. Creating
// entries, renaming, links and permissions fail with fs.ErrInvalid; an FS
// from Open fails every change with fs.ErrReadOnly.
//
// Specifications: Microsoft's "FAT: General Overview of On-Disk Format"
// (fatgen103, 2000), which defines the boot sector and BPB, the FAT type
// by cluster count, the FAT entries, the 32-byte directory entry and the
// long-name entries with their checksum; and the Linux kernel's
// fs/fat (https://www.kernel.org/doc/html/latest/filesystems/vfat.html)
// for the behaviour a guest sees: case-insensitive lookups, the NTRes
// lower-case flags of short names, no symlinks, no xattrs.
//
// Byte order: every FAT structure is little-endian. The structs in
// layout.go mirror the specification field by field, and layout_test.go
// asserts their sizes.
//
// Open checks the BPB against the device size, reads the FAT lazily one
// sector at a time, and bounds every cluster chain by the cluster count,
// so a hostile image can neither make it allocate what it claims nor loop.
// A damaged structure is reported as a *CorruptError with its byte offset.
package vfat
