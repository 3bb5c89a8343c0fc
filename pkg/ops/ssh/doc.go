// Package ssh holds virt-sysprep's ssh-hostkeys and ssh-userdir
// operations, with its names, defaults and globs (libguestfs
// guestfs-tools, sysprep/sysprep_operation_ssh_hostkeys.ml and
// sysprep_operation_ssh_userdir.ml).
package ssh
