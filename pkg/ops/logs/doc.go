// Package logs holds the operations that remove logs and histories:
// virt-sysprep's logfiles, pacct-log, utmp, bash-history, zsh-history,
// crash-data, abrt-data, puppet-data-log, samba-db-log and sssd-db-log,
// under virt-sysprep's names and defaults and with its globs (libguestfs
// guestfs-tools, sysprep/sysprep_operation_*.ml,
// https://github.com/libguestfs/guestfs-tools/tree/master/sysprep).
//
// virt-sysprep gates a few of these on the distribution it inspects
// (pacct-log picks /var/account or /var/log/account); imgprep does not
// inspect distributions and lets the paths decide: a path the guest lacks
// is simply left alone.
package logs
