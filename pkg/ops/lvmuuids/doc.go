// Package lvmuuids is the lvm-uuids operation: every LVM2 volume group of
// the guest's disks, and each of its physical volumes, gets a new random
// UUID, as virt-sysprep's operation of the same name does with vgchange -u
// and pvchange -u, so that clones stop sharing them. The metadata is
// rewritten with seqno+1 into every metadata area with its checksums and
// the PV labels' CRCs (lvm.VG.ChangeUUIDs), inside the run's transaction,
// so lvm2's tools read the result. It is on by default, as in
// virt-sysprep.
//
// The guest's own mentions of the old UUIDs follow: lvm.conf filters
// naming /dev/disk/by-id/lvm-pv-uuid-…, the devices files' PVID= entries,
// crypttab and fstab entries naming a PV or an LV by its device-mapper
// UUID (dm-uuid-LVM-<VG UUID><LV UUID>), grub's lvmid/<VG UUID>/<LV UUID>,
// and lvm2's own metadata backups and archives. A volume group with a
// physical volume on a disk not given, or on a partition imgprep must not
// write, is refused before anything is written.
package lvmuuids
