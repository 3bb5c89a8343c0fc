// Package cronspool holds virt-sysprep's cron-spool operation (libguestfs
// guestfs-tools, sysprep/sysprep_operation_cron_spool.ml): it removes the
// users' cron and at jobs and resets at(1)'s job sequence files (.SEQ) to
// "00000\n", the "%05lx\n" counter at writes, in place, as virt-sysprep
// does.
package cronspool
