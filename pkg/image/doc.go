// Package image opens a VM disk image file in any supported format and
// presents its virtual disk as an Image: the layer between the host file
// (pkg/storage, with the transaction of pkg/txn over it) and the partition
// table (pkg/partition).
//
// Formats: raw, and qcow2 (pkg/qcow2; specification
// https://gitlab.com/qemu-project/qemu/-/blob/master/docs/interop/qcow2.rst).
//
// # Detection
//
// With Format "auto" the first bytes of the file decide: the qcow2 magic
// ("QFI\xfb", big-endian 0x514649fb at byte 0) means qcow2, anything else
// raw. A file forced to "raw" is never probed, and neither is a raw
// backing file. This is QEMU's probing, with QEMU's hazard: a raw image
// whose guest wrote the qcow2 magic into its first sector is taken for
// qcow2 by "auto", and its header then names whatever backing file the
// guest chose. Give the format ("raw") for raw images a guest can write;
// the backing-file policy below bounds what such a header can reach.
//
// # Writing
//
// Open with Write takes QEMU's image locks (refusing an image in use),
// rolls back the journal an interrupted earlier run left (txn.Recover),
// and begins a transaction: every write, the format's metadata included,
// is staged in memory until Commit, which flushes the format into the
// transaction and commits it atomically (a rollback journal, fsync).
// DryRun stages the same way over a file opened read-only, so Staged
// reports exactly what a real run would write, and never commits. Closing
// a handle without Commit discards the staged writes.
//
// # Extents
//
// Handle.Extents maps a range of the virtual disk into data and zero
// extents, so that Copy reads only data: a qcow2 image from its cluster
// tables, down its backing chain; a raw image (or raw backing file) from
// its host file's holes (lseek SEEK_DATA/SEEK_HOLE through pkg/storage),
// staged writes counting as data. Where the host filesystem cannot tell,
// everything is data.
//
// # Backing files (host safety)
//
// A qcow2 image names its backing file itself, so the name is guest- or
// attacker-controlled and may say /etc/shadow, /dev/sda, a URL or a json:
// specification. A backing file is opened only when all of these hold:
//   - the name has no protocol: no "://", and no ':' before the first '/'
//     (QEMU's path_has_protocol, which covers "nbd:", "ssh:", "http:",
//     "json:{...}", "file:..."): ErrBackingProtocol;
//   - a relative name is resolved against the directory of the image that
//     names it, and the result, symlinks resolved, lies inside that
//     directory's tree or inside one of OpenOptions.AllowBacking:
//     ErrBackingOutsideTree;
//   - it is a regular file, not a device, FIFO or directory:
//     ErrBackingNotRegular;
//   - its format is recorded in the image or given as
//     OpenOptions.BackingFormat, and is raw or qcow2; a raw backing file
//     is never probed: ErrBackingFormatUnknown;
//   - the chain is at most MaxChainDepth backing files deep
//     (ErrBackingTooDeep) and never holds the same file (device and inode)
//     twice (ErrBackingLoop).
//
// Backing files are always opened read-only, with QEMU's shared read lock
// only; nothing ever writes them.
//
// The other direction is CloneIndex: the qcow2 images of a directory
// whose backing file is a given image (its linked clones), found from
// their headers alone, so that writing a template under its clones can
// be refused (TemplateError, ErrTemplateInUse).
package image
