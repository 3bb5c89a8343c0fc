package accounts

import "github.com/imgprep/imgprep/pkg/ops/internal/pathop"

// BackupFiles are the shadow-utils backups passwd-backups removes.
var BackupFiles = []string{"/etc/group-", "/etc/gshadow-", "/etc/passwd-", "/etc/shadow-", "/etc/subgid-", "/etc/subuid-"}

// PasswdBackups returns the passwd-backups operation.
func PasswdBackups() *pathop.Op {
	return pathop.New(pathop.Spec{
		Name: "passwd-backups", Description: "Remove /etc/passwd- and similar backup files", Default: true,
		Rules: pathop.Globs(pathop.RemoveNonDir, BackupFiles...),
	})
}

// PAMData returns the pam-data operation.
func PAMData() *pathop.Op {
	return pathop.New(pathop.Spec{
		Name: "pam-data", Description: "Remove the PAM data in the guest", Default: true,
		Rules: pathop.Globs(pathop.RemoveNonDir, "/var/run/console/*", "/var/run/faillock/*", "/var/run/sepermit/*"),
	})
}
