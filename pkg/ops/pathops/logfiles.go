package pathops

// logfileGlobs are virt-sysprep's logfiles globs; every match is removed
// with what is below it.
var logfileGlobs = []string{
	// log files
	"/var/log/*.log*",
	"/var/log/audit/*",
	"/var/log/btmp*",
	"/var/log/cron*",
	"/var/log/dmesg*",
	"/var/log/lastlog*",
	"/var/log/maillog*",
	"/var/log/mail/*",
	"/var/log/messages*",
	"/var/log/secure*",
	"/var/log/spooler*",
	"/var/log/tallylog*",
	"/var/log/wtmp*",
	"/var/log/apache2/*_log",
	"/var/log/apache2/*_log-*",
	"/var/log/ntp",
	"/var/log/tuned/tuned.log",
	"/var/log/debug*",
	"/var/log/syslog*",
	"/var/log/faillog*",
	"/var/log/firewalld*",
	"/var/log/grubby*",
	"/var/log/xferlog*",
	// logfiles configured by /etc/logrotate.d/*
	"/var/log/BackupPC/LOG",
	"/var/log/ceph/*.log",
	"/var/log/chrony/*.log",
	"/var/log/cups/*_log*",
	"/var/log/glusterfs/*glusterd.vol.log",
	"/var/log/glusterfs/glusterfs.log",
	"/var/log/httpd/*log",
	"/var/log/jetty/jetty-console.log",
	"/var/log/libvirt/libxl/*.log",
	"/var/log/libvirt/libvirtd.log",
	"/var/log/libvirt/lxc/*.log",
	"/var/log/libvirt/qemu/*.log",
	"/var/log/libvirt/uml/*.log",
	"/var/named/data/named.run",
	"/var/log/ppp/connect-errors",
	"/var/log/setroubleshoot/*.log",
	"/var/log/squid/*.log",
	// the status file of logrotate
	"/var/lib/logrotate.status",
	// installation files (anaconda, yum)
	"/root/install.log",
	"/root/install.log.syslog",
	"/root/anaconda-ks.cfg",
	"/root/anaconda-post.log",
	"/root/initial-setup-ks.cfg",
	"/root/original-ks.cfg",
	"/var/log/anaconda.syslog",
	"/var/log/anaconda/*",
	// debian-installer files
	"/var/log/installer/*",
	// GDM and session preferences
	"/var/cache/gdm/*",
	"/var/lib/AccountService/users/*",
	// fingerprint service files
	"/var/lib/fprint/*",
	// fontconfig caches
	"/var/cache/fontconfig/*",
	// man pages cache
	"/var/cache/man/*",
	// sysstat, gdm, lightdm, ntp
	"/var/log/sa/*",
	"/var/log/gdm/*",
	"/var/log/lightdm/*",
	"/var/log/ntpstats/*",
	// Pegasus certificates and other files
	"/etc/Pegasus/*.cnf",
	"/etc/Pegasus/*.crt",
	"/etc/Pegasus/*.csr",
	"/etc/Pegasus/*.pem",
	"/etc/Pegasus/*.srl",
	// Red Hat subscription manager log files
	"/var/log/rhsm/*",
	// systemd's journals
	"/var/log/journal/*",
	// Debian: apt and aptitude
	"/var/log/aptitude*",
	"/var/log/apt/*",
	// exim, ConsoleKit
	"/var/log/exim4/*",
	"/var/log/ConsoleKit/*",
}
