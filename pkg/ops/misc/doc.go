// Package misc holds virt-sysprep's operations that fit no other family:
// backup-files, blkid-tab, ca-certificates, cron-spool, dovecot-data,
// flag-reconfiguration, ipa-client, kerberos-data, kerberos-hostkeytab,
// lvm-system-devices, mail-spool and tmp-files, under virt-sysprep's names
// and defaults and with its paths (libguestfs guestfs-tools,
// sysprep/sysprep_operation_*.ml).
//
// cron-spool resets at(1)'s job sequence files (.SEQ) to "00000\n", the
// "%05lx\n" counter at writes, in place, as virt-sysprep does.
package misc
