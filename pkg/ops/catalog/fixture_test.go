package catalog_test

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/fs/memfs"
	"github.com/imgprep/imgprep/pkg/ops"
	"github.com/imgprep/imgprep/pkg/ops/accounts"
	"github.com/imgprep/imgprep/pkg/ops/catalog"
	"github.com/imgprep/imgprep/pkg/ops/catalogtest"
	"github.com/imgprep/imgprep/pkg/ops/cloudinit"
	"github.com/imgprep/imgprep/pkg/ops/opstest"
)

// fixtureCase is what one operation must do to the catalog fixture: the
// changes it reports ("action path", in order) and the new content of the
// files it edits, read back with debugfs. Every other path must stay
// byte-identical (opstest.CheckChanges on snapshots of the whole guest).
type fixtureCase struct {
	op      string
	cfg     catalog.Config
	changes []string
	content map[string]string
}

const ifcfg = "DEVICE=eth0\nHWADDR=52:54:00:12:34:56\nBOOTPROTO=dhcp\nHOSTNAME=template.example.com\nDHCP_HOSTNAME=template\nONBOOT=yes\n# HWADDR=52:54:00:00:00:00 stays: a comment\n"

var fixtureCases = []fixtureCase{
	{op: "abrt-data", changes: []string{"removed /var/spool/abrt/ccpp-2023-11-14-22:13:20-1234"}},
	{op: "backup-files", changes: []string{
		"removed /etc/motd~", "removed /etc/resolv.conf.bak", "removed /root/notes.bak",
		"removed /srv/www/index.html.bak", "removed /tmp/editor.swp~", "removed /var/backups/passwd.bak"}},
	{op: "bash-history", changes: []string{"removed /home/alice/.bash_history", "removed /home/bob/.bash_history", "removed /root/.bash_history"}},
	{op: "blkid-tab", changes: []string{"removed /var/run/blkid.tab.old", "removed /etc/blkid.tab"}},
	{op: "ca-certificates", changes: []string{"removed /etc/pki/tls/private/localhost.key", "removed /etc/pki/tls/certs/localhost.crt"}},
	{op: "cloud-init", changes: []string{
		"removed /var/lib/cloud/data", "removed /var/lib/cloud/instance", "removed /var/lib/cloud/instances", "removed /var/lib/cloud/sem",
		"removed /var/log/cloud-init.log", "removed /var/log/cloud-init.log.1", "removed /var/log/cloud-init-output.log"}},
	{op: "cloud-init", cfg: catalog.Config{CloudInit: cloudinitNetwork}, changes: []string{
		"removed /var/lib/cloud/data", "removed /var/lib/cloud/instance", "removed /var/lib/cloud/instances", "removed /var/lib/cloud/sem",
		"removed /var/log/cloud-init.log", "removed /var/log/cloud-init.log.1", "removed /var/log/cloud-init-output.log",
		"removed /etc/netplan/50-cloud-init.yaml", "removed /etc/NetworkManager/system-connections/cloud-init-eth0.nmconnection"}},
	{op: "crash-data", changes: []string{"removed /var/crash/vmcore.1", "removed /var/log/dump/vmcore-dmesg.txt"}},
	{op: "cron-spool", changes: []string{
		"removed /var/spool/cron/atjobs/a0000a01a2b3c4", "removed /var/spool/cron/crontabs/alice", "edited /var/spool/cron/atjobs/.SEQ",
		"removed /var/spool/at/a0000301a2b3c4", "edited /var/spool/at/.SEQ"},
		content: map[string]string{"/var/spool/cron/atjobs/.SEQ": "00000\n", "/var/spool/at/.SEQ": "00000\n"}},
	{op: "dhcp-client-state", changes: []string{"removed /var/lib/dhclient/dhclient--eth0.lease", "removed /var/lib/dhcp/dhclient.eth0.leases"}},
	{op: "dhcp-server-state", changes: []string{"removed /var/lib/dhcpd/dhcpd.leases"}},
	{op: "dovecot-data", changes: []string{"removed /var/lib/dovecot/instances"}},
	{op: "firewall-rules", changes: []string{"removed /etc/sysconfig/iptables", "removed /etc/firewalld/zones/public.xml"}},
	{op: "flag-reconfiguration", changes: []string{"created /.unconfigured"}, content: map[string]string{"/.unconfigured": ""}},
	{op: "fs-uuids", changes: []string{"new-uuid /", "new-uuid /var", "new-uuid /boot/efi", "edited /etc/fstab"}},
	{op: "ipa-client", changes: []string{"removed /etc/ipa/ca.crt", "removed /etc/ipa/default.conf", "removed /var/lib/ipa-client/sysrestore/sysrestore.index"}},
	{op: "kerberos-data", changes: []string{"removed /var/kerberos/krb5kdc/principal"}},
	{op: "kerberos-hostkeytab", changes: []string{"removed /etc/krb5.keytab"}},
	{op: "logfiles", changes: []string{
		"removed /var/log/alternatives.log", "removed /var/log/auth.log", "removed /var/log/cloud-init-output.log",
		"removed /var/log/cloud-init.log", "removed /var/log/cloud-init.log.1", "removed /var/log/dpkg.log", "removed /var/log/kern.log.1",
		"removed /var/log/audit/audit.log", "removed /var/log/btmp", "removed /var/log/btmp.1", "removed /var/log/dmesg",
		"removed /var/log/lastlog", "removed /var/log/messages", "removed /var/log/wtmp", "removed /var/log/syslog",
		"removed /var/log/syslog.1", "removed /var/log/syslog.2.gz", "removed /var/log/faillog", "removed /var/lib/logrotate.status",
		"removed /root/anaconda-ks.cfg", "removed /var/log/anaconda/anaconda.log", "removed /var/log/installer/cdebconf",
		"removed /var/log/installer/syslog", "removed /var/cache/fontconfig/cache-8", "removed /var/cache/man/index.db",
		"removed /var/log/journal/4c8ab9d6b1d24a0c9e0f3b2a1c5d7e9f", "removed /var/log/apt/eipp.log.xz",
		"removed /var/log/apt/history.log", "removed /var/log/apt/term.log"}},
	{op: "lvm-system-devices", changes: []string{"removed /etc/lvm/devices/system.devices"}},
	// The catalog fixture has no LVM2 (pkg/ops/lvmuuids has its tests).
	{op: "lvm-uuids"},
	{op: "machine-id", changes: []string{"truncated /etc/machine-id", "truncated /var/lib/dbus/machine-id"},
		content: map[string]string{"/etc/machine-id": ""}},
	{op: "mail-spool", changes: []string{"removed /var/spool/mail/alice", "removed /var/spool/mail/bob"}},
	{op: "net-hostname", changes: []string{"edited /etc/sysconfig/network-scripts/ifcfg-eth0"},
		content: map[string]string{"/etc/sysconfig/network-scripts/ifcfg-eth0": strings.NewReplacer("HOSTNAME=template.example.com\n", "", "DHCP_HOSTNAME=template\n", "").Replace(ifcfg),
			"/etc/sysconfig/network-scripts/ifcfg-lo": "DEVICE=lo\nIPADDR=127.0.0.1\nONBOOT=yes\n"}},
	{op: "net-hwaddr", changes: []string{"edited /etc/sysconfig/network-scripts/ifcfg-eth0"},
		content: map[string]string{"/etc/sysconfig/network-scripts/ifcfg-eth0": strings.Replace(ifcfg, "HWADDR=52:54:00:12:34:56\n", "", 1)}},
	{op: "net-nmconn", changes: []string{"removed /etc/NetworkManager/system-connections/Wired.nmconnection",
		"removed /etc/NetworkManager/system-connections/cloud-init-eth0.nmconnection"}},
	{op: "netdata", changes: []string{"removed /var/lib/netdata/registry/netdata.public.unique.id"}},
	{op: "pacct-log", changes: []string{"removed /var/log/account/pacct.0", "removed /var/log/account/pacct.1.gz", "truncated /var/log/account/pacct"},
		content: map[string]string{"/var/log/account/pacct": ""}},
	{op: "package-manager-cache", changes: []string{
		"removed /var/cache/apt/archives/curl_7.88.1-10_amd64.deb", "removed /var/cache/apt/archives/lock",
		"removed /var/cache/dnf/fedora-abc/repodata/repomd.xml", "removed /var/cache/yum/x86_64/7/base/packages/bash.rpm"}},
	{op: "pam-data", changes: []string{"removed /var/run/console/alice", "removed /var/run/faillock/alice"}},
	{op: "passwd-backups", changes: []string{"removed /etc/group-", "removed /etc/gshadow-", "removed /etc/passwd-", "removed /etc/shadow-", "removed /etc/subuid-"}},
	{op: "puppet-data-log", changes: []string{"removed /var/log/puppet/puppet.log", "removed /var/lib/puppet/ssl/certs/ca.pem"}},
	{op: "random-seed", changes: []string{"removed /var/lib/systemd/random-seed", "removed /var/lib/systemd/credential.secret", "removed /boot/efi/loader/random-seed"}},
	{op: "rh-subscription-manager", changes: []string{"removed /etc/pki/consumer/cert.pem", "removed /etc/pki/entitlement/1234.pem"}},
	{op: "rhn-systemid", changes: []string{"removed /etc/sysconfig/rhn/systemid"}},
	{op: "rpm-db", changes: []string{"removed /var/lib/rpm/__db.001", "removed /var/lib/rpm/__db.002"}},
	{op: "samba-db-log", changes: []string{"removed /var/log/samba/old/log.nmbd.old", "removed /var/log/samba/log.smbd",
		"removed /var/lib/samba/private/secrets.tdb", "removed /var/lib/samba/wins.dat"}},
	{op: "smolt-uuid", changes: []string{"removed /etc/sysconfig/hw-uuid"}},
	{op: "ssh-hostkeys", changes: []string{"removed /etc/ssh/ssh_host_ed25519_key", "removed /etc/ssh/ssh_host_ed25519_key.pub",
		"removed /etc/ssh/ssh_host_rsa_key", "removed /etc/ssh/ssh_host_rsa_key.pub"}},
	{op: "ssh-userdir", changes: []string{"removed /home/alice/.ssh", "removed /home/carol/.ssh", "removed /root/.ssh"}},
	{op: "sssd-db-log", changes: []string{"removed /var/log/sssd/sssd.log", "removed /var/lib/sss/db/cache_example.com.ldb"}},
	{op: "tmp-files", changes: []string{"removed /tmp/editor.swp~", "removed /tmp/session.txt", "removed /tmp/systemd-private-abc",
		"removed /tmp/.X11-unix", "removed /tmp/.hidden", "removed /var/tmp/cache.dat", "removed /var/tmp/systemd-private-abc-chronyd", "removed /var/tmp/.lock"}},
	{op: "udev-persistent-net", changes: []string{"removed /etc/udev/rules.d/70-persistent-net.rules"}},
	{op: "user-account", changes: usersGone, content: map[string]string{
		"/etc/passwd": "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n" +
			"netdata:x:999:996:netdata:/var/lib/netdata:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
		"/etc/group":   "root:x:0:\ndaemon:x:1:\nadm:x:4:\nsudo:x:27:\nusers:x:100:\nnetdata:x:996:\nnogroup:x:65534:\n",
		"/etc/gshadow": "root:*::\ndaemon:*::\nadm:*::\nsudo:*::\nusers:*::\nnetdata:!::\nnogroup:*::\n",
	}},
	{op: "user-account", cfg: catalog.Config{UserAccount: accounts.Options{Keep: []string{"alice", "carol"}}},
		changes: []string{"edited /etc/passwd", "edited /etc/shadow", "edited /etc/group", "edited /etc/gshadow",
			"removed /home/bob", "removed /var/spool/mail/bob"},
		content: map[string]string{"/etc/group": "root:x:0:\ndaemon:x:1:\nadm:x:4:alice\nsudo:x:27:alice\nusers:x:100:alice,carol\nalice:x:1000:\ncarol:x:1002:\nnetdata:x:996:\nnogroup:x:65534:\n"}},
	{op: "user-account", cfg: catalog.Config{UserAccount: accounts.Options{Remove: []string{"carol", "root", "nobody"}}},
		changes: []string{"edited /etc/passwd", "edited /etc/shadow", "edited /etc/group", "edited /etc/gshadow", "removed /home/carol"},
		content: map[string]string{"/etc/gshadow": "root:*::\ndaemon:*::\nadm:*::alice\nsudo:*:alice:alice,bob\nusers:*::alice,bob\nalice:!::\nbob:!::\nnetdata:!::\nnogroup:*::\n"}},
	{op: "utmp", changes: []string{"removed /var/run/utmp"}},
	{op: "yum-uuid", changes: []string{"removed /var/lib/yum/uuid"}},
	{op: "zsh-history", changes: []string{"removed /home/alice/.zsh_history", "removed /home/carol/.zsh_history"}},
}

var usersGone = []string{"edited /etc/passwd", "edited /etc/shadow", "edited /etc/group", "edited /etc/gshadow",
	"removed /home/alice", "removed /var/spool/mail/alice", "removed /home/bob", "removed /var/spool/mail/bob", "removed /home/carol"}

func find(t testing.TB, cfg catalog.Config, name string) ops.Operation {
	t.Helper()
	for _, op := range catalog.All(cfg) {
		if op.Name() == name {
			return op
		}
	}
	t.Fatalf("no operation %s", name)
	return nil
}

// pristine is the catalog fixture before any change: a template to copy,
// a snapshot of its guest and an in-memory copy to resolve removed paths.
type pristine struct {
	tpl    *catalogtest.Template
	before opstest.Snapshot
	ref    *memfs.FS
}

func newPristine(t *testing.T) *pristine {
	t.Helper()
	tpl := catalogtest.NewTemplate(t)
	g := tpl.Open(t).Guest
	return &pristine{tpl: tpl, before: opstest.Take(t, g), ref: catalogtest.Memfs(t, g, "ref")}
}

// apply runs list on a fresh copy of the catalog fixture, checks the
// reports against snapshots of the whole guest (a path two operations
// both edit is checked once), syncs, and has e2fsck and fsck.fat judge
// the result. It returns the changes as "action path".
func (p *pristine) apply(t *testing.T, list []ops.Operation) ([]string, *catalogtest.Disk) {
	t.Helper()
	d := p.tpl.Open(t)
	g := d.Guest
	var all, once []ops.Change
	seen := map[string]bool{}
	for _, op := range list {
		ch, err := op.Apply(context.Background(), g)
		if err != nil {
			t.Fatalf("%s: %v", op.Name(), err)
		}
		all = append(all, ch...)
		for _, c := range ch {
			if !seen[c.Path] {
				seen[c.Path] = true
				once = append(once, c)
			}
		}
	}
	opstest.CheckChanges(t, once, opstest.Diff(p.before, opstest.Take(t, g)), p.ref, g)
	d.SyncAndCheck(t, all)
	var got []string
	for _, c := range all {
		got = append(got, string(c.Action)+" "+c.Path)
	}
	return got, d
}

// checkContent reads path back with debugfs from the filesystem holding it.
func checkContent(t *testing.T, d *catalogtest.Disk, p, want string) {
	t.Helper()
	dev, rel := oracle.Device(d.Path, fsOffset(t, d, 2)), p
	if strings.HasPrefix(p, "/var/") {
		dev, rel = oracle.Device(d.Path, fsOffset(t, d, 3)), strings.TrimPrefix(p, "/var")
	}
	got, ok := oracle.DebugfsCat(t, dev, rel)
	if !ok || string(got) != want {
		t.Errorf("%s: debugfs reads %q (found %t), want %q", p, got, ok, want)
	}
}

func fsOffset(t *testing.T, d *catalogtest.Disk, part int) int64 {
	t.Helper()
	for _, f := range d.Layout.Filesystems {
		if f.Partition == part {
			return f.Offset
		}
	}
	t.Fatalf("no partition %d", part)
	return 0
}

func TestEachOperationOnTheCatalogFixture(t *testing.T) {
	oracle.Require(t, "e2fsck")
	pr := newPristine(t)
	tested := map[string]bool{}
	for _, tc := range fixtureCases {
		tested[tc.op] = true
		name := tc.op
		if !reflect.DeepEqual(tc.cfg, catalog.Config{}) {
			name += " with options"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, d := pr.apply(t, []ops.Operation{find(t, tc.cfg, tc.op)})
			if !reflect.DeepEqual(got, tc.changes) {
				t.Errorf("changes:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tc.changes, "\n  "))
			}
			for p, want := range tc.content {
				checkContent(t, d, p, want)
			}
		})
	}
	for _, op := range catalog.All(catalog.Config{}) {
		if !tested[op.Name()] {
			t.Errorf("operation %s has no case on the catalog fixture", op.Name())
		}
	}
}

// TestDefaultSetOnTheCatalogFixture runs every default operation, in
// catalog order, on one copy: each path is reported once, by the first
// operation to reach it.
func TestDefaultSetOnTheCatalogFixture(t *testing.T) {
	oracle.Require(t, "e2fsck")
	defaults := catalog.Defaults(catalog.All(catalog.Config{}))
	var want []string
	var gone []string
	for _, op := range defaults {
		for _, tc := range fixtureCases {
			if tc.op != op.Name() || !reflect.DeepEqual(tc.cfg, catalog.Config{}) {
				continue
			}
			for _, c := range tc.changes {
				p := c[strings.IndexByte(c, ' ')+1:]
				if below(p, gone) {
					continue
				}
				want = append(want, c)
				if strings.HasPrefix(c, "removed ") {
					gone = append(gone, p)
				}
			}
		}
	}
	got, d := newPristine(t).apply(t, defaults)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("changes:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	checkContent(t, d, "/etc/ssh/sshd_config", "Port 22\nPermitRootLogin no\n")
	checkContent(t, d, "/var/lib/cloud/seed/nocloud/user-data", "#cloud-config (seed, kept)\n")
	checkContent(t, d, "/var/spool/cron/atjobs/.SEQ", "00000\n")
}

func below(p string, roots []string) bool {
	for _, r := range roots {
		if p == r || strings.HasPrefix(p, r+"/") {
			return true
		}
	}
	return false
}

var cloudinitNetwork = cloudinit.Options{Network: true}
