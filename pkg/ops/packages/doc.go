// Package packages holds virt-sysprep's package-manager operations:
// package-manager-cache, rpm-db, yum-uuid, rhn-systemid,
// rh-subscription-manager and smolt-uuid, with its names, defaults and
// paths (libguestfs guestfs-tools, sysprep/sysprep_operation_*.ml).
//
// virt-sysprep picks the cache of the package manager it inspects;
// imgprep does not inspect and cleans every one present (apt, dnf, yum,
// zypper), keeping their directories as virt-sysprep does.
package packages
