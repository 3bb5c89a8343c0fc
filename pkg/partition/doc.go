// Package partition reads a disk's partition table — GPT, MBR with
// extended/logical partitions, or none — and hands out bounded views of
// single partitions.
//
// Specifications:
//   - GPT: UEFI Specification 2.10, chapter 5 "GUID Partition Table (GPT)
//     Disk Layout", https://uefi.org/specs/UEFI/2.10/05_GUID_Partition_Table_Format.html
//   - MBR and the protective MBR: the same chapter, section 5.2 "LBA 0
//     Format"; extended boot records as Linux reads them in
//     block/partitions/msdos.c (parse_extended).
//
// Every on-disk integer is little-endian. The structures in layout.go mirror
// the specification field by field (GPTHeader is 92 bytes, GPTEntry 128,
// MBR 512, MBREntry 16); layout_test.go asserts their sizes.
//
// Parsing is done by github.com/diskfs/go-diskfs (partition/gpt for the GPT
// header and entry array, partition/mbr for each 512-byte MBR or EBR
// sector). This package validates what go-diskfs would otherwise trust —
// entry counts and sizes, the location of the entry array, partition
// bounds — before handing it the disk, so that a hostile image can neither
// make it allocate without bound nor loop; it walks the EBR chain itself
// (go-diskfs reads only the four primary entries), bounded to
// MaxPartitions logical partitions and checked for loops.
//
// Detection follows Linux and blkid: an MBR whose entries include type
// 0xEE (protective or hybrid) means GPT, looked for at LBA 1 with 512-byte
// and then 4096-byte logical sectors; the backup GPT in the disk's last
// sector is used when the primary is damaged. A valid MBR signature with
// boot indicators 0x00/0x80 means MBR (always 512-byte sectors: an MBR
// carries nothing that would tell a 4096-byte-sector disk apart). Anything
// else — including a filesystem written straight to the disk — is "none",
// and the caller treats the whole disk as one filesystem.
package partition
