// Package fsuuids is the fs-uuids operation: every filesystem the guest
// mounts gets a new random UUID (ext2/3/4 as tune2fs -U does it, a FAT
// volume ID as mlabel -n does), so that clones stop sharing them, and,
// unlike virt-sysprep's operation of the same name, the guest's own
// references to the old UUIDs follow, so that a clone still boots: fstab,
// crypttab, the boot loader's configuration (grub.cfg, /etc/default/grub,
// the BLS entries under /boot/loader/entries, grubenv, the kernel command
// line) and the resume device of the initramfs. It is off by default, as
// in virt-sysprep.
//
// The UUIDs come from the guest's ChangeFilesystemUUIDs (pkg/guest), which
// reaches the engines through the optional fs.UUIDSetter; a guest without
// it (an in-memory one) has no filesystem to rename.
package fsuuids
