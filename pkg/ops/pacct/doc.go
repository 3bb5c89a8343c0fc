// Package pacct holds virt-sysprep's pacct-log operation (libguestfs
// guestfs-tools, sysprep/sysprep_operation_pacct_log.ml).
//
// virt-sysprep picks /var/account or /var/log/account from the
// distribution it inspects; imgprep does not inspect distributions and
// lets the paths decide: a directory the guest lacks is simply left
// alone.
package pacct
