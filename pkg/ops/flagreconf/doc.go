// Package flagreconf holds virt-sysprep's flag-reconfiguration operation
// (libguestfs guestfs-tools,
// sysprep/sysprep_operation_flag_reconfiguration.ml), off by default: it
// creates /.unconfigured, which makes the first boot ask for the root
// password, timezone and the like.
package flagreconf
