// Package backupfiles holds virt-sysprep's backup-files operation
// (libguestfs guestfs-tools, sysprep/sysprep_operation_backup_files.ml):
// editor backups (*.bak, *~) below the trees where a guest keeps its
// configuration and data, found by walking them.
package backupfiles
