// Package accounts holds virt-sysprep's user-account operation (libguestfs
// guestfs-tools, sysprep/sysprep_operation_user_account.ml); the other
// account operations, passwd-backups and pam-data, only remove paths and
// are rows of pkg/ops/pathops.
//
// user-account (off by default) removes the users whose uid lies between
// UID_MIN and UID_MAX of /etc/login.defs (login.defs(5); shadow-utils'
// defaults 1000 and 60000 when unset), narrowed by Options.Remove and
// Options.Keep (virt-sysprep's --remove-user-accounts and
// --keep-user-accounts). For each it drops the passwd(5) and shadow(5)
// lines, the group(5) and gshadow(5) lines of the group named after the
// user, and the user's name from other groups' member lists; every other
// line stays byte for byte. It then removes the user's home directory
// (only one at least two levels deep, "/home/alice" but never "/" or
// "/srv", and holding no home of a user who stays) and mail spool.
package accounts
