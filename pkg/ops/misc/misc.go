package misc

import (
	"context"
	"path"

	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/ops"
	"github.com/imgprep/imgprep/pkg/ops/internal/pathop"
)

// BlkidTab returns the blkid-tab operation; symlinks are left alone, as
// virt-sysprep leaves them.
func BlkidTab() *pathop.Op {
	var rules []pathop.Rule
	for _, p := range []string{"/var/run/blkid.tab", "/var/run/blkid.tab.old", "/etc/blkid/blkid.tab", "/etc/blkid/blkid.tab.old",
		"/etc/blkid.tab", "/etc/blkid.tab.old", "/dev/.blkid.tab", "/dev/.blkid.tab.old"} {
		rules = append(rules, pathop.Rule{Glob: p, Kind: pathop.RemoveNonDir, NotSymlinks: true})
	}
	return pathop.New(pathop.Spec{Name: "blkid-tab", Description: "Remove blkid tab in the guest", Default: true, Rules: rules})
}

// CACertificates returns the ca-certificates operation (off by default).
func CACertificates() *pathop.Op {
	keep := []string{"/etc/pki/tls/certs/ca-bundle.crt", "/etc/pki/tls/certs/ca-bundle.trust.crt"}
	var rules []pathop.Rule
	for _, g := range []string{"/etc/pki/CA/certs/*.crt", "/etc/pki/CA/crl/*.crt", "/etc/pki/CA/newcerts/*.crt",
		"/etc/pki/CA/private/*.key", "/etc/pki/tls/private/*.key", "/etc/pki/tls/certs/*.crt"} {
		rules = append(rules, pathop.Rule{Glob: g, Kind: pathop.RemoveNonDir, Except: keep})
	}
	return pathop.New(pathop.Spec{Name: "ca-certificates", Description: "Remove CA certificates in the guest", Rules: rules})
}

// DovecotData returns the dovecot-data operation.
func DovecotData() *pathop.Op {
	return pathop.New(pathop.Spec{
		Name: "dovecot-data", Description: "Remove Dovecot (mail server) data", Default: true,
		Rules: pathop.Globs(pathop.RemoveNonDir, "/var/lib/dovecot/*"),
	})
}

// IPAClient returns the ipa-client operation.
func IPAClient() *pathop.Op {
	return pathop.New(pathop.Spec{
		Name: "ipa-client", Description: "Remove the IPA files", Default: true,
		Rules: pathop.Globs(pathop.RemoveNonDir, "/etc/ipa/ca.crt", "/etc/ipa/default.conf",
			"/var/lib/ipa-client/sysrestore/*", "/var/lib/ipa-client/pki/*",
			"/etc/pki/ca-trust/source/anchors/ipa-ca.crt", "/usr/local/share/ca-certificates/ipa-ca.crt",
			"/etc/pki/ca-trust/source/ipa.p11-kit"),
	})
}

// KerberosData returns the kerberos-data operation (off by default).
func KerberosData() *pathop.Op {
	return pathop.New(pathop.Spec{
		Name: "kerberos-data", Description: "Remove Kerberos data in the guest",
		Rules: []pathop.Rule{{Glob: "/var/kerberos/krb5kdc/*", Kind: pathop.RemoveNonDir,
			Except: []string{"/var/kerberos/krb5kdc/kadm5.acl", "/var/kerberos/krb5kdc/kdc.conf"}}},
	})
}

// KerberosHostKeytab returns the kerberos-hostkeytab operation.
func KerberosHostKeytab() *pathop.Op {
	return pathop.New(pathop.Spec{
		Name: "kerberos-hostkeytab", Description: "Remove the Kerberos host keytab file in the guest", Default: true,
		Rules: pathop.Globs(pathop.RemoveNonDir, "/etc/krb5.keytab"),
	})
}

// LVMSystemDevices returns the lvm-system-devices operation.
func LVMSystemDevices() *pathop.Op {
	return pathop.New(pathop.Spec{
		Name: "lvm-system-devices", Description: "Remove LVM2 system.devices file", Default: true,
		Rules: pathop.Globs(pathop.RemoveNonDir, "/etc/lvm/devices/system.devices"),
	})
}

// MailSpool returns the mail-spool operation.
func MailSpool() *pathop.Op {
	return pathop.New(pathop.Spec{
		Name: "mail-spool", Description: "Remove email from the local mail spool directory", Default: true,
		Rules: pathop.Globs(pathop.RemoveAll, "/var/spool/mail/*", "/var/mail/*"),
	})
}

// TmpFiles returns the tmp-files operation: everything in /tmp and
// /var/tmp, dotfiles included (virt-sysprep's glob, then its ls).
func TmpFiles() *pathop.Op {
	return pathop.New(pathop.Spec{
		Name: "tmp-files", Description: "Remove temporary files", Default: true,
		Rules: pathop.Globs(pathop.RemoveAll, "/tmp/*", "/tmp/.*", "/var/tmp/*", "/var/tmp/.*"),
	})
}

// ATSeq is what cron-spool resets at's .SEQ files to.
const ATSeq = "00000\n"

// CronSpool is the cron-spool operation.
type CronSpool struct{}

var _ ops.Operation = CronSpool{}

// Name implements ops.Operation.
func (CronSpool) Name() string { return "cron-spool" }

// Description implements ops.Operation.
func (CronSpool) Description() string { return "Remove user at-jobs and cron-jobs" }

// Default implements ops.Operation.
func (CronSpool) Default() bool { return true }

// Apply implements ops.Operation.
func (c CronSpool) Apply(ctx context.Context, g ops.Guest) ([]ops.Change, error) {
	s := pathop.NewSession(ctx, g, c.Name())
	if err := s.Err(); err != nil {
		return nil, err
	}
	isSeq := func(name string) bool { return name == ".SEQ" }
	steps := []func() error{
		func() error { return s.RemoveFilesBelow("/var/spool/cron", isSeq) },
		func() error { return resetSeq(s, "/var/spool/cron/atjobs/.SEQ") },
		func() error { return s.ApplyRule(pathop.Rule{Glob: "/var/spool/atjobs/*", Kind: pathop.RemoveNonDir}) },
		func() error { return resetSeq(s, "/var/spool/atjobs/.SEQ") },
		func() error { return s.ApplyRule(pathop.Rule{Glob: "/var/spool/atspool/*", Kind: pathop.RemoveNonDir}) },
		func() error { return s.RemoveFilesBelow("/var/spool/at", isSeq) },
		func() error { return resetSeq(s, "/var/spool/at/.SEQ") },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return s.Result(nil)
}

func resetSeq(s *pathop.Session, p string) error {
	return s.Rewrite(p, func([]byte) ([]byte, string) { return []byte(ATSeq), "reset to 00000" })
}

// FlagReconfiguration is the flag-reconfiguration operation (off by
// default): it creates /.unconfigured, which makes the first boot ask for
// the root password, timezone and the like. A tree without /etc is no
// guest root and gets nothing.
type FlagReconfiguration struct{}

var _ ops.Operation = FlagReconfiguration{}

// Unconfigured is the flag file.
const Unconfigured = "/.unconfigured"

// Name implements ops.Operation.
func (FlagReconfiguration) Name() string { return "flag-reconfiguration" }

// Description implements ops.Operation.
func (FlagReconfiguration) Description() string { return "Flag the system for reconfiguration" }

// Default implements ops.Operation.
func (FlagReconfiguration) Default() bool { return false }

// Apply implements ops.Operation.
func (f FlagReconfiguration) Apply(ctx context.Context, g ops.Guest) ([]ops.Change, error) {
	s := pathop.NewSession(ctx, g, f.Name())
	if err := s.Err(); err != nil {
		return nil, err
	}
	if a, err := g.Stat("/etc"); err != nil || a.Type() != fs.TypeDir {
		return nil, nil
	}
	if _, ok, err := s.Lstat(Unconfigured); err != nil || ok {
		return nil, err
	}
	if err := g.WriteFile(Unconfigured, nil, fs.WriteOptions{Perm: 0o644}); err != nil {
		return nil, s.Errorf("creating %s: %w", Unconfigured, err)
	}
	return s.Result(s.Record(Unconfigured, ops.Created, ""))
}

// BackupDirs are the trees backup-files searches, and BackupGlobs the
// names it removes there.
var (
	BackupDirs  = []string{"/etc", "/root", "/srv", "/tmp", "/var"}
	BackupGlobs = []string{"*.bak", "*~"}
)

// BackupFiles is the backup-files operation: regular files named *.bak
// or *~ anywhere below BackupDirs (dotfiles included; a symlinked top
// directory and symlinks below are not followed; mount points are
// crossed).
type BackupFiles struct{}

var _ ops.Operation = BackupFiles{}

// Name implements ops.Operation.
func (BackupFiles) Name() string { return "backup-files" }

// Description implements ops.Operation.
func (BackupFiles) Description() string { return "Remove editor backup files from the guest" }

// Default implements ops.Operation.
func (BackupFiles) Default() bool { return true }

// Apply implements ops.Operation.
func (b BackupFiles) Apply(ctx context.Context, g ops.Guest) ([]ops.Change, error) {
	s := pathop.NewSession(ctx, g, b.Name())
	if err := s.Err(); err != nil {
		return nil, err
	}
	for _, dir := range BackupDirs {
		a, ok, err := s.Lstat(dir)
		if err != nil {
			return nil, err
		}
		if !ok || a.Type() != fs.TypeDir {
			continue
		}
		err = s.Walk(dir, func(p string, t fs.FileType) error {
			if t != fs.TypeRegular || !isBackup(path.Base(p)) {
				return nil
			}
			return s.Remove(p, true)
		})
		if err != nil {
			return nil, err
		}
	}
	return s.Result(nil)
}

func isBackup(name string) bool {
	for _, g := range BackupGlobs {
		if ok, _ := path.Match(g, name); ok {
			return true
		}
	}
	return false
}
