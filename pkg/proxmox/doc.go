// Package proxmox finds the disks of a Proxmox VE virtual machine from its
// configuration, as `qm` does, without asking Proxmox: it reads
// /etc/pve/qemu-server/VMID.conf (qm.conf(5): "key: value" lines, the
// current configuration before the first [snapshot] section) and
// /etc/pve/storage.cfg (pvesm(1): "TYPE: ID" blocks of indented
// "key value" lines), both under a root directory that tests override.
//
// A disk (scsiN, virtioN, sataN, ideN; not media=cdrom, efidiskN,
// tpmstateN or unusedN) is "STORAGE:VOLUME[,options]" and resolves by its
// storage's type:
//
//   - dir, nfs, cifs, cephfs, glusterfs: PATH/images/VMID/NAME, the
//     format from the name (qcow2, raw, vmdk);
//   - lvm, lvmthin: /dev/VGNAME/NAME (raw);
//   - zfspool: /dev/zvol/POOL/NAME (raw);
//   - rbd: an error, since the volume is not a host file until mapped
//     (rbd map).
//
// Linked clones name their base ("base-100-disk-0/vm-101-disk-0"): the
// clone's own volume is the last part. A VM whose configuration carries a
// lock (backup, migrate, snapshot, ...) or whose qemu pid file
// (/run/qemu-server/VMID.pid) names a live process is refused.
package proxmox
