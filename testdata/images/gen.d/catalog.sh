#!/usr/bin/env bash
# Catalog fixture for pkg/ops (every virt-sysprep operation, random-seed,
# cloud-init, the customizations): a Debian 12 guest with RHEL-like files
# added, on a GPT disk so that globs cross mount points.
#
#   catalog-disk.raw  GPT, 64 MiB: p1 ESP vfat (/boot/efi by PARTUUID=, with
#                     loader/random-seed), p2 ext4 root (UUID=), p3 ext4
#                     /var (UUID=). The tree holds ifcfg files with HWADDR=,
#                     HOSTNAME= and DHCP_HOSTNAME=, NetworkManager keyfiles,
#                     rpm __db files, cron and at spools with .SEQ files,
#                     logs of every kind (syslog and rotations, journal,
#                     wtmp/btmp/lastlog, apt, installer, audit, cloud-init),
#                     package caches (apt, dnf, yum), users alice (1000),
#                     bob (1001) and carol (1002) with homes, mail and
#                     histories, SSH host keys and ~/.ssh, DHCP leases,
#                     cloud-init state with a seed, random seeds,
#                     credential.secret, backup files, and hostile symlinks:
#                     /home/carol/.ssh -> /etc/ssh, /var/log/lastlog ->
#                     /etc/passwd, /var/spool/mail -> ../mail.
#
# Every ext filesystem passes e2fsck -fn; fixed UUIDs, GUIDs, hash seeds and
# times make the output byte-for-byte reproducible.
set -euo pipefail
: "${OUT:?OUT must be set (run through testdata/images/generate.sh)}"
export PATH=$PATH:/usr/sbin:/sbin
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
T=1700000000
ROOT_UUID=0c0c0c0c-0000-4000-8000-000000000001
VAR_UUID=0c0c0c0c-0000-4000-8000-000000000002
HASH_SEED=0c0c0c0c-0000-4000-8000-0000000000ff
DISK_GUID=22222222-3333-4444-8555-000000000000
ESP_PARTUUID=22222222-3333-4444-8555-000000000001
ROOT_PARTUUID=22222222-3333-4444-8555-000000000002
VAR_PARTUUID=22222222-3333-4444-8555-000000000003

mkext() { # IMG SIZE UUID LABEL TREE
  local img=$1 tree=$5
  rm -f "$img"; truncate -s "$2" "$img"
  mkfs.ext4 -q -F -U "$3" -L "$4" -E "hash_seed=$HASH_SEED,root_owner=0:0" -d "$tree" "$img"
  (cd "$tree" && find . -mindepth 1 | sed 's|^\.||' | while read -r p; do
    echo "sif \"$p\" ctime 20231114221320"; echo "sif \"$p\" ctime_extra 0"; done) >"$img.cmds"
  debugfs -w -f "$img.cmds" "$img" >/dev/null 2>&1
  rm -f "$img.cmds"
  e2fsck -fn "$img" >/dev/null 2>&1 || { echo "catalog.sh: e2fsck -fn $img failed" >&2; exit 1; }
}
put() { # PATH CONTENT [MODE]
  mkdir -p "$(dirname "$d/$1")"; printf '%s' "$2" >"$d/$1"; [ -z "${3:-}" ] || chmod "$3" "$d/$1"
}

d=$work/tree
mkdir -p "$d"/{boot/efi,proc,sys,dev,run,srv,usr/bin,tmp,var/tmp,etc}
chmod 1777 "$d/tmp" "$d/var/tmp"
put usr/lib/os-release 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
ID=debian
'
ln -s ../usr/lib/os-release "$d/etc/os-release"
put etc/fstab "UUID=$ROOT_UUID / ext4 errors=remount-ro 0 1
UUID=$VAR_UUID /var ext4 defaults 0 2
PARTUUID=$ESP_PARTUUID /boot/efi vfat umask=0077 0 1
"
put etc/hostname 'template
'
put etc/hosts "$(printf '127.0.0.1\tlocalhost\n127.0.1.1\ttemplate.example.com template\n::1\tlocalhost ip6-localhost\n')
"
put etc/machine-id '4c8ab9d6b1d24a0c9e0f3b2a1c5d7e9f
' 444
put etc/login.defs '# shadow-utils
MAIL_DIR        /var/mail
UID_MIN                  1000
UID_MAX                 60000
'
passwd='root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
alice:x:1000:1000:Alice,,,:/home/alice:/bin/bash
bob:x:1001:1001:Bob,,,:/home/bob:/bin/bash
carol:x:1002:1002:Carol,,,:/home/carol:/bin/zsh
netdata:x:999:996:netdata:/var/lib/netdata:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
'
shadow='root:$y$j9T$fixturehash$root:19675:0:99999:7:::
daemon:*:19675:0:99999:7:::
alice:$y$j9T$fixturehash$alice:19675:0:99999:7:::
bob:$y$j9T$fixturehash$bob:19675:0:99999:7:::
carol:!:19675:0:99999:7:::
netdata:!:19675::::::
nobody:*:19675:0:99999:7:::
'
group='root:x:0:
daemon:x:1:
adm:x:4:alice
sudo:x:27:alice,bob
users:x:100:alice,bob,carol
alice:x:1000:
bob:x:1001:
carol:x:1002:
netdata:x:996:
nogroup:x:65534:
'
gshadow='root:*::
daemon:*::
adm:*::alice
sudo:*:alice:alice,bob
users:*::alice,bob,carol
alice:!::
bob:!::
carol:!::
netdata:!::
nogroup:*::
'
put etc/passwd "$passwd"; put etc/shadow "$shadow" 640; put etc/group "$group"; put etc/gshadow "$gshadow" 640
put etc/passwd- "$passwd"; put etc/shadow- "$shadow" 600; put etc/group- "$group"; put etc/gshadow- "$gshadow" 600
put etc/subuid- 'alice:100000:65536
'
put etc/ssh/sshd_config 'Port 22
PermitRootLogin no
'
put etc/ssh/ssh_host_ed25519_key '-----BEGIN OPENSSH PRIVATE KEY-----
fixture-ed25519
-----END OPENSSH PRIVATE KEY-----
' 600
put etc/ssh/ssh_host_ed25519_key.pub 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFixture root@template
'
put etc/ssh/ssh_host_rsa_key '-----BEGIN OPENSSH PRIVATE KEY-----
fixture-rsa
-----END OPENSSH PRIVATE KEY-----
' 600
put etc/ssh/ssh_host_rsa_key.pub 'ssh-rsa AAAAB3NzaC1yc2EFixture root@template
'
put etc/sysconfig/network-scripts/ifcfg-eth0 'DEVICE=eth0
HWADDR=52:54:00:12:34:56
BOOTPROTO=dhcp
HOSTNAME=template.example.com
DHCP_HOSTNAME=template
ONBOOT=yes
# HWADDR=52:54:00:00:00:00 stays: a comment
'
put etc/sysconfig/network-scripts/ifcfg-lo 'DEVICE=lo
IPADDR=127.0.0.1
ONBOOT=yes
'
put etc/sysconfig/network 'NETWORKING=yes
HOSTNAME=template.example.com
'
put etc/sysconfig/iptables '*filter
:INPUT ACCEPT [0:0]
COMMIT
'
put etc/sysconfig/rhn/systemid '<?xml version="1.0"?><params>fixture</params>
' 600
put etc/sysconfig/hw-uuid 'c0ffee00-0000-4000-8000-00000000beef
'
put etc/NetworkManager/NetworkManager.conf '[main]
plugins=keyfile
'
put etc/NetworkManager/system-connections/Wired.nmconnection '[connection]
id=Wired
uuid=5d8e2c4a-0000-4000-8000-000000000001
type=ethernet
' 600
put etc/NetworkManager/system-connections/cloud-init-eth0.nmconnection '[connection]
id=cloud-init eth0
' 600
put etc/netplan/50-cloud-init.yaml 'network:
  version: 2
  ethernets:
    eth0: {dhcp4: true}
' 600
put etc/udev/rules.d/70-persistent-net.rules 'SUBSYSTEM=="net", ATTR{address}=="52:54:00:12:34:56", NAME="eth0"
'
put etc/udev/rules.d/99-local.rules '# kept
'
put etc/krb5.keytab 'fixture keytab
' 600
put etc/krb5.conf '[libdefaults]
default_realm = EXAMPLE.COM
'
put etc/lvm/devices/system.devices 'VERSION=1.1.1
IDTYPE=sys_wwid IDNAME=fixture DEVNAME=/dev/vda3 PVID=fixture
'
put etc/lvm/lvm.conf 'config {}
'
put etc/blkid.tab '<device DEVNO="0xfd03">/dev/vda3</device>
'
put etc/pki/consumer/cert.pem 'consumer
'
put etc/pki/entitlement/1234.pem 'entitlement
'
put etc/pki/tls/certs/ca-bundle.crt 'bundle
'
put etc/pki/tls/certs/localhost.crt 'localhost cert
'
put etc/pki/tls/private/localhost.key 'localhost key
' 600
put etc/ipa/default.conf '[global]
realm = EXAMPLE.COM
'
put etc/ipa/ca.crt 'ipa ca
'
put etc/firewalld/zones/public.xml '<zone/>
'
put etc/resolv.conf.bak 'nameserver 10.0.0.1
'
put etc/motd~ 'old motd
'
put etc/motd 'Welcome
'
put etc/cloud/cloud.cfg 'datasource_list: [NoCloud]
'
mkdir -p "$d/usr/share/zoneinfo/Europe"
put usr/share/zoneinfo/UTC 'TZif2 UTC fixture
'
put usr/share/zoneinfo/Europe/Paris 'TZif2 Paris fixture
'
ln -s /usr/share/zoneinfo/UTC "$d/etc/localtime"
put etc/timezone 'Etc/UTC
'
# root and users
put root/.bash_history 'ls
sudo -i
'
put root/.profile '# ~/.profile
'
put root/.ssh/authorized_keys 'ssh-ed25519 AAAAfixture admin@laptop
' 600
chmod 700 "$d/root/.ssh"
put root/anaconda-ks.cfg '# kickstart
'
put root/notes.bak 'root backup
'
put home/alice/.bash_history 'cat /etc/passwd
'
put home/alice/.zsh_history ': 1700000000:0;ls
'
put home/alice/.profile '# alice profile
'
put home/alice/notes.txt 'alice notes
'
put home/alice/.ssh/authorized_keys 'ssh-ed25519 AAAAalice alice@laptop
' 600
put home/alice/.ssh/id_ed25519 'alice private key
' 600
put home/bob/.bash_history 'make
'
put home/bob/docs.txt 'bob docs
'
put home/bob/draft.txt~ 'draft backup
'
mkdir -p "$d/home/carol"
ln -s /etc/ssh "$d/home/carol/.ssh"
put home/carol/.zsh_history 'ls
'
# /srv and /tmp
put srv/www/index.html '<html/>
'
put srv/www/index.html.bak '<html>old</html>
'
put tmp/session.txt 'tmp
'
put tmp/.hidden 'hidden tmp
'
mkdir -p "$d/tmp/.X11-unix" "$d/tmp/systemd-private-abc/tmp"
put tmp/systemd-private-abc/tmp/x 'x
'
put tmp/editor.swp~ 'swap
'
# /run (on the root filesystem: an image's /run is empty, but be hostile)
put run/utmp 'utmp records
'
put run/faillock/alice 'faillock
'
put run/console/alice 'console
'
put run/blkid.tab.old 'old blkid
'
# /var
ln -s /run "$d/var/run"
put var/log/syslog 'Nov 14 22:13:20 template kernel: line
'
put var/log/syslog.1 'older
'
put var/log/syslog.2.gz 'gz
'
put var/log/auth.log 'auth
'
put var/log/kern.log.1 'kern
'
put var/log/messages 'messages
'
put var/log/dmesg 'dmesg
'
put var/log/wtmp 'wtmp
' 664
put var/log/btmp 'btmp
' 660
put var/log/btmp.1 'btmp old
' 660
ln -s /etc/passwd "$d/var/log/lastlog"
put var/log/faillog 'faillog
'
put var/log/dpkg.log 'dpkg
'
put var/log/alternatives.log 'alternatives
'
put var/log/README 'not a log: kept
'
put var/log/apt/history.log 'apt history
'
put var/log/apt/term.log 'apt term
'
put var/log/apt/eipp.log.xz 'eipp
'
put var/log/installer/syslog 'd-i syslog
'
mkdir -p "$d/var/log/installer/cdebconf"
put var/log/installer/cdebconf/questions.dat 'q
'
put var/log/journal/4c8ab9d6b1d24a0c9e0f3b2a1c5d7e9f/system.journal 'LPKSHHRH fixture journal
'
put var/log/audit/audit.log 'type=DAEMON_START
'
put var/log/anaconda/anaconda.log 'anaconda
'
put var/log/cloud-init.log 'cloud-init log
'
put var/log/cloud-init.log.1 'cloud-init log 1
'
put var/log/cloud-init-output.log 'cloud-init output
'
put var/log/account/pacct 'pacct records
' 640
put var/log/account/pacct.0 'pacct 0
'
put var/log/account/pacct.1.gz 'pacct 1
'
put var/log/sssd/sssd.log 'sssd
'
put var/log/samba/log.smbd 'smbd
'
put var/log/samba/old/log.nmbd.old 'nmbd
'
put var/log/puppet/puppet.log 'puppet
'
mkdir -p "$d/var/log/private"
put var/log/dump/vmcore-dmesg.txt 'dump
'
put var/lib/logrotate.status 'logrotate state - version 2
'
put var/lib/logrotate/status 'logrotate state - version 2 (Debian path, kept)
'
put var/lib/dhcp/dhclient.eth0.leases 'lease { interface "eth0"; }
'
put var/lib/dhclient/dhclient--eth0.lease 'lease {}
'
put var/lib/dhcpd/dhcpd.leases 'server lease
'
put var/lib/rpm/__db.001 'db1
'
put var/lib/rpm/__db.002 'db2
'
put var/lib/rpm/rpmdb.sqlite 'SQLite format 3 fixture (kept)
'
put var/lib/yum/uuid 'b1c2d3e4-0000-4000-8000-000000000001
'
put var/lib/yum/history/history.sqlite 'kept
'
put var/lib/cloud/instance/boot-finished 'placeholder
'
rm -rf "$d/var/lib/cloud/instance"
put var/lib/cloud/instances/iid-template/boot-finished '1700000000
'
put var/lib/cloud/instances/iid-template/user-data.txt '#cloud-config
'
ln -s /var/lib/cloud/instances/iid-template "$d/var/lib/cloud/instance"
put var/lib/cloud/data/instance-id 'iid-template
'
put var/lib/cloud/sem/config_scripts_per_once.once 'x
'
put var/lib/cloud/seed/nocloud/user-data '#cloud-config (seed, kept)
'
put var/lib/cloud/seed/nocloud/meta-data 'instance-id: iid-template
'
put var/lib/systemd/random-seed 'seed bytes
' 600
put var/lib/systemd/credential.secret 'credential secret
' 400
mkdir -p "$d/var/lib/systemd/timers"
put var/lib/systemd/timers/stamp-apt-daily.timer ''
put var/lib/dbus/machine-id '4c8ab9d6b1d24a0c9e0f3b2a1c5d7e9f
' 444
put var/lib/dovecot/instances 'dovecot
'
put var/lib/sss/db/cache_example.com.ldb 'sss cache
'
put var/lib/samba/private/secrets.tdb 'secrets
'
put var/lib/samba/wins.dat 'wins
'
put var/lib/puppet/ssl/certs/ca.pem 'puppet ca
'
put var/lib/ipa-client/sysrestore/sysrestore.index 'idx
'
put var/lib/netdata/registry/netdata.public.unique.id '8d3b5c1e-7f2a-11ee-9c4d-0242ac120002
'
put var/kerberos/krb5kdc/kdc.conf '[kdcdefaults]
'
put var/kerberos/krb5kdc/kadm5.acl '*/admin@EXAMPLE.COM *
'
put var/kerberos/krb5kdc/principal 'principal db
'
put var/spool/cron/crontabs/alice '0 * * * * backup
' 600
put var/spool/cron/atjobs/.SEQ '0000a
' 600
put var/spool/cron/atjobs/a0000a01a2b3c4 '#!/bin/sh
' 700
mkdir -p "$d/var/spool/cron/atspool"
put var/spool/at/.SEQ '00003
' 600
put var/spool/at/a0000301a2b3c4 '#!/bin/sh
' 700
mkdir -p "$d/var/spool/at/spool"
put var/spool/abrt/ccpp-2023-11-14-22:13:20-1234/coredump 'core
'
put var/mail/alice 'From root
'
put var/mail/bob 'From root
'
ln -s ../mail "$d/var/spool/mail"
put var/crash/vmcore.1 'crash
'
put var/cache/apt/archives/curl_7.88.1-10_amd64.deb '!<arch> fixture
'
put var/cache/apt/archives/lock ''
mkdir -p "$d/var/cache/apt/archives/partial"
put var/cache/apt/pkgcache.bin 'pkgcache (kept)
'
put var/cache/dnf/fedora-abc/repodata/repomd.xml '<repomd/>
'
put var/cache/yum/x86_64/7/base/packages/bash.rpm 'rpm
'
put var/cache/man/index.db 'man index
'
put var/cache/fontconfig/cache-8 'fc
'
put var/backups/passwd.bak "$passwd"
put var/backups/dpkg.status.0 'status (kept)
'
put var/tmp/cache.dat 'var tmp
'
put var/tmp/.lock 'hidden var tmp
'
mkdir -p "$d/var/tmp/systemd-private-abc-chronyd/tmp"

find "$d" -exec touch -h -d "@$T" {} +
mv "$d/var" "$work/var"; mkdir "$d/var"
touch -h -d "@$T" "$d/var" "$d"
mkext "$work/root.img" 24M "$ROOT_UUID" root "$d"
mkext "$work/var.img" 16M "$VAR_UUID" var "$work/var"

truncate -s 16M "$work/esp.img"
mkfs.vfat --invariant -i 0C0C0C0C -n ESP -F 16 "$work/esp.img" >/dev/null
printf 'MZ fake EFI loader\n' >"$work/BOOTX64.EFI"
printf 'esp-random-seed\n' >"$work/random-seed"
touch -d "@$T" "$work/BOOTX64.EFI" "$work/random-seed"
mmd -i "$work/esp.img" ::/EFI ::/EFI/BOOT ::/loader
mcopy -m -i "$work/esp.img" "$work/BOOTX64.EFI" ::/EFI/BOOT/BOOTX64.EFI
mcopy -m -i "$work/esp.img" "$work/random-seed" ::/loader/random-seed

disk=$OUT/catalog-disk.raw
truncate -s 64M "$disk"
sgdisk -o -U "$DISK_GUID" \
  -n 1:2048:+16M -t 1:ef00 -c 1:EFI -u 1:"$ESP_PARTUUID" \
  -n 2:0:+24M -t 2:8304 -c 2:root -u 2:"$ROOT_PARTUUID" \
  -n 3:0:+16M -t 3:8300 -c 3:var -u 3:"$VAR_PARTUUID" "$disk" >/dev/null
dd if="$work/esp.img" of="$disk" bs=1M seek=1 conv=notrunc,sparse status=none
dd if="$work/root.img" of="$disk" bs=1M seek=17 conv=notrunc,sparse status=none
dd if="$work/var.img" of="$disk" bs=1M seek=41 conv=notrunc,sparse status=none
