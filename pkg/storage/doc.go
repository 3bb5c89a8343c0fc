// Package storage is imgprep's bottom layer: the host file holding an
// image, and the advisory locks QEMU uses to keep two programs from
// writing one image at once.
//
// # Files
//
// File is the interface every layer above reads and writes through.
// OpenFile and CreateFile return an *OSFile, a host file (regular file or
// block device) that implements it. Dir is the directory-level access the
// transaction layer needs for its journal; OSDir implements it on the host.
//
// # QEMU's image locks
//
// QEMU (block/file-posix.c, "image locking", QEMU 2.10 and later) takes
// open file description locks (fcntl F_OFD_SETLK, shared/read locks only)
// on single bytes of the image file:
//
//	byte 100+i  held by whoever holds permission i
//	byte 200+i  held by whoever refuses to share permission i
//
// with i = 0 consistent-read, 1 write, 2 write-unchanged, 3 resize and,
// up to QEMU 6.1, 4 graph-mod. Two openers conflict when one holds a
// permission the other refuses to share; each side detects it by asking
// F_OFD_GETLK whether a write lock on the byte would be granted (its own
// locks never conflict with itself, being on the same open file
// description).
//
// imgprep opening for writing holds consistent-read, write and resize
// (100, 101, 103) and shares none of the first four permissions (200–203);
// it refuses to open when any other process holds any byte of 100–104 or
// 200–204. A QEMU or qemu-img started meanwhile then refuses the image
// ("Failed to get shared "write" lock"). Opening read-only holds only
// consistent-read (100) and shares everything, and is refused only when a
// holder refuses to share consistent-read (200).
//
// The locks are advisory and per open file description, so they are
// released when the OSFile is closed or the process ends, whatever the
// way it ends.
//
// There is no on-disk format in this package; byte numbers above are
// offsets in the image file, as QEMU defines them.
package storage
