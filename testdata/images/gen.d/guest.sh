#!/usr/bin/env bash
# Guest disk fixtures for pkg/guest (and every layer above it): whole VM
# disks holding a Debian 12 guest with all the identity files imgprep's
# operations touch, plus hostile guests whose symlinks try to escape.
# Built without loop devices or mounts: each filesystem is made as a file
# (mkfs.ext4 -d TREE, mkfs.vfat + mtools, mkfs.xfs) and copied into the disk
# at its partition's offset with dd conv=notrunc.
#
#   disk-gpt.raw, disk-gpt.qcow2  GPT: p1 ESP (vfat "ESP", /boot/efi by
#                                 PARTUUID=), p2 ext4 root (UUID=), p3 ext4
#                                 /var (UUID=); fstab also names proc, an
#                                 nfs share and an absent /srv disk.
#   disk-mbr.raw, disk-mbr.qcow2  MBR: p1 ext2 /boot (UUID=), p2 extended,
#                                 p5 logical ext4 root (/dev/sda5), p6
#                                 logical ext4 /var (LABEL=var); swap line.
#   disk-none.raw, disk-none.qcow2  partitionless ext4 (LABEL=root), all on /.
#   disk-gpt-4k.raw               GPT with 4096-byte logical sectors: p1 root
#                                 (/dev/disk/by-partuuid/), p2 /var
#                                 (PARTLABEL=var).
#   disk-vfat12.raw, disk-vfat16.raw, disk-vfat32.raw  partitionless FAT12
#                                 (2 MiB), FAT16 (64 MiB, as an ESP: mkfs.vfat
#                                 -F 16's default 2 KiB clusters) and FAT32
#                                 (34 MiB, 512-byte clusters) with long names,
#                                 nested and multi-cluster directories and a
#                                 fragmented file (mtools).
#   guest-clouddlink.raw          /var/lib/netdata/cloud.d -> /etc
#   guest-netdatadotdot.raw       /var/lib/netdata -> ../../../../..
#   guest-symloop.raw             /var/lib/netdata/registry -> a -> b -> registry
#   guest-runfile.raw             /run -> /etc/run-file (a regular file)
#   guest-xfsroot.raw             an empty xfs filesystem (no guest on it)
#   guest-varxfs.raw              GPT: p1 ext4 root, p2 xfs /var (UUID=)
#
# Every ext filesystem passes e2fsck -fn. Fixed UUIDs, GUIDs, hash seeds
# and times make the output byte-for-byte reproducible.
set -euo pipefail
: "${OUT:?OUT must be set (run through testdata/images/generate.sh)}"
export PATH=$PATH:/usr/sbin:/sbin
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
T=1700000000
MID=4c8ab9d6b1d24a0c9e0f3b2a1c5d7e9f

# Fixed identities.
ROOT_UUID=0a1b2c3d-0000-4000-8000-000000000001
VAR_UUID=0a1b2c3d-0000-4000-8000-000000000002
BOOT_UUID=0a1b2c3d-0000-4000-8000-000000000003
HASH_SEED=0a1b2c3d-0000-4000-8000-0000000000ff
DISK_GUID=11111111-2222-4333-8444-000000000000
ESP_PARTUUID=11111111-2222-4333-8444-000000000001
ROOT_PARTUUID=11111111-2222-4333-8444-000000000002
VAR_PARTUUID=11111111-2222-4333-8444-000000000003
ESP_VOLID=7A3B1C2D
XFS_UUID=5e1f0000-0000-4000-8000-00000000a001
ABSENT_UUID=0bad0bad-0000-4000-8000-000000000000

# mkext FSTYPE IMG SIZE UUID LABEL TREE: a deterministic ext filesystem.
mkext() {
  local type=$1 img=$2 size=$3 uuid=$4 label=$5 tree=$6
  rm -f "$img"; truncate -s "$size" "$img"
  "mkfs.$type" -q -F -U "$uuid" -L "$label" \
    -E "hash_seed=$HASH_SEED,root_owner=0:0" -d "$tree" "$img"
  # mkfs -d copies the host's ctime, which touch cannot set: fix it.
  (cd "$tree" && find . -mindepth 1 | sed 's|^\.||' | while read -r p; do
    echo "sif $p ctime 20231114221320"; echo "sif $p ctime_extra 0"; done) >"$img.cmds"
  debugfs -w -f "$img.cmds" "$img" >/dev/null 2>&1
  rm -f "$img.cmds"
  e2fsck -fn "$img" >/dev/null 2>&1 || { echo "guest.sh: e2fsck -fn $img failed" >&2; exit 1; }
}

# selinux IMG PATH: the xattr a Fedora/RHEL guest would carry.
selinux() {
  debugfs -w -R "ea_set $2 security.selinux system_u:object_r:machineid_t:s0" "$1" >/dev/null 2>&1
  e2fsck -fn "$1" >/dev/null 2>&1 || { echo "guest.sh: e2fsck -fn $1 failed" >&2; exit 1; }
}

# stamp DIR: fixed mtimes on a source tree (symlinks included).
stamp() { find "$1" -exec touch -h -d "@$T" {} +; }

# ostree DIR FSTAB: a Debian 12 guest with every identity file.
ostree() {
  local d=$1
  mkdir -p "$d"/{etc/ssh,etc/netdata,etc/default,boot,proc,sys,dev,tmp,run,root,home/user,srv,mnt/nfs,usr/lib,usr/bin}
  mkdir -p "$d"/var/{lib/dbus,lib/netdata/registry,lib/netdata/cloud.d,cache/netdata,log,tmp,lib/systemd}
  cat >"$d/usr/lib/os-release" <<'EOF'
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
EOF
  ln -s ../usr/lib/os-release "$d/etc/os-release"
  echo template >"$d/etc/hostname"
  printf '127.0.0.1\tlocalhost\n127.0.1.1\ttemplate\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$d/etc/hosts"
  printf '%s\n' "$MID" >"$d/etc/machine-id"
  printf '%s\n' "$MID" >"$d/var/lib/dbus/machine-id"
  cat >"$d/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
user:x:1000:1000:user:/home/user:/bin/bash
netdata:x:999:996:netdata:/var/lib/netdata:/usr/sbin/nologin
EOF
  cat >"$d/etc/group" <<'EOF'
root:x:0:
daemon:x:1:
user:x:1000:
netdata:x:996:
EOF
  printf 'GRUB_DEFAULT=0\nGRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX=""\n' >"$d/etc/default/grub"
  cat >"$d/etc/ssh/ssh_host_ed25519_key" <<'EOF'
-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACBTVFRLMsEAJ0/QcAgkyF/Ox5uXYOR73RSmJuCuKFNcCgAAAJBh2QfLYdkH
ywAAAAtzc2gtZWQyNTUxOQAAACBTVFRLMsEAJ0/QcAgkyF/Ox5uXYOR73RSmJuCuKFNcCg
AAAEDWsUG+nXvAIm34WiCSH7HBjlKlgVxAQeKyVlueItDzTlNUVEsywQAnT9BwCCTIX87H
m5dg5HvdFKYm4K4oU1wKAAAADXJvb3RAdGVtcGxhdGU=
-----END OPENSSH PRIVATE KEY-----
EOF
  echo 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFNUVEsywQAnT9BwCCTIX87Hm5dg5HvdFKYm4K4oU1wK root@template' >"$d/etc/ssh/ssh_host_ed25519_key.pub"
  cat >"$d/etc/ssh/ssh_host_rsa_key" <<'EOF'
-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAlwAAAAdzc2gtcn
NhAAAAAwEAAQAAAIEAvRbBs3/de8oLgyyOMAEjHrIcBTDIyc1CNu/DAQO86FKXAcd30DPF
KSFMc9l0B6JBT9EYrJrEF72zkSsS9CWFnQB/vxWXR1dW8Oo6teicwqE35+gVOBHBMIVzjG
+ArLuT03DPZYvJ06OR+DJfTkSyJ5Lq6IicjtTp5Z1+mo+qlKMAAAIIfPjG1nz4xtYAAAAH
c3NoLXJzYQAAAIEAvRbBs3/de8oLgyyOMAEjHrIcBTDIyc1CNu/DAQO86FKXAcd30DPFKS
FMc9l0B6JBT9EYrJrEF72zkSsS9CWFnQB/vxWXR1dW8Oo6teicwqE35+gVOBHBMIVzjG+A
rLuT03DPZYvJ06OR+DJfTkSyJ5Lq6IicjtTp5Z1+mo+qlKMAAAADAQABAAAAgGUy/7pUzb
IJ4X1z5Cl3AlfUVUDF6kBu9Wg3i/NID9t7EEyod8xbWML5ilRaZkoLoc7ZBs6iCh72rVsd
ZYh7aHVAD0/tCqDuzGbnHXQ0QoQjt+Lk01sgF3HrVhGnOECS2zofTspT9HXnlun+E4EvUt
rf32dvaDK1z9Xs4BT9flNBAAAAQH/ii8ay5KX6r5ROgmr8ns6ZMLl9v9ABmfLfDd9TT6r2
4c2VtqgJgi44ywjTl9hVo7DPa1IS8c5SneNRZalQluMAAABBAPtLbrcd9ifP1QbewzAle0
NEkq6CSPu4c/vb19QNEHNGbfagpbtEur/eZL+58AXMb58+ht3VE2lMvZ4vw8e7GwMAAABB
AMChJOcsaVdPbCXGNO+b91Xr/GrFtgHkm6xbK6zcDF3v3Um2g5hjN8qjpWUw4T434MK0aG
P6TT3kJRC60syNneEAAAANcm9vdEB0ZW1wbGF0ZQECAwQFBg==
-----END OPENSSH PRIVATE KEY-----
EOF
  echo 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC9FsGzf917yguDLI4wASMeshwFMMjJzUI278MBA7zoUpcBx3fQM8UpIUxz2XQHokFP0RismsQXvbORKxL0JYWdAH+/FZdHV1bw6jq16JzCoTfn6BU4EcEwhXOMb4Csu5PTcM9li8nTo5H4Ml9ORLInkuroiJyO1OnlnX6aj6qUow== root@template' >"$d/etc/ssh/ssh_host_rsa_key.pub"
  chmod 600 "$d"/etc/ssh/ssh_host_*_key
  printf 'Port 22\nPermitRootLogin no\n' >"$d/etc/ssh/sshd_config"
  cat >"$d/etc/netdata/claim.conf" <<'EOF'
[global]
    url = https://app.netdata.cloud
    token = fixture-claim-token-0123456789abcdef
    rooms = 11111111-aaaa-4bbb-8ccc-000000000001
EOF
  local nd=$d/var/lib/netdata
  echo 8d3b5c1e-7f2a-11ee-9c4d-0242ac120002 >"$nd/registry/netdata.public.unique.id"
  local status='{"agent":{"id":"8d3b5c1e-7f2a-11ee-9c4d-0242ac120002","since":1700000000}}'
  for where in var/lib/netdata var/cache/netdata tmp run; do
    printf '%s\n' "$status" >"$d/$where/status-netdata.json"
  done
  ln -s /run "$d/var/run"
  printf '[global]\n  enabled = yes\n  cloud base url = https://app.netdata.cloud\n' >"$nd/cloud.d/cloud.conf"
  echo 3f1e6b2a-9c7d-4e8f-a1b2-c3d4e5f60718 >"$nd/cloud.d/claimed_id"
  printf -- '-----BEGIN RSA PRIVATE KEY-----\nZml4dHVyZS1ub3QtYS1yZWFsLWtleQ==\n-----END RSA PRIVATE KEY-----\n' >"$nd/cloud.d/private.pem"
  printf -- '-----BEGIN PUBLIC KEY-----\nZml4dHVyZS1wdWJsaWMta2V5\n-----END PUBLIC KEY-----\n' >"$nd/cloud.d/public.pem"
  echo fixture-claim-token-0123456789abcdef >"$nd/cloud.d/token"
  echo 11111111-aaaa-4bbb-8ccc-000000000001 >"$nd/cloud.d/rooms"
  chmod 600 "$nd/cloud.d/private.pem"
  local c=$d/var/cache/netdata
  for f in netdata-meta.db netdata-meta.db-wal netdata-meta.db-shm context-meta.db context-meta.db-wal; do
    printf 'SQLite format 3\0fixture %s\n' "$f" >"$c/$f"
  done
  for i in 1 2 3; do echo "Nov 14 22:13:2$i template kernel: line $i"; done >"$d/var/log/syslog"
  printf 'x%.0s' $(seq 1 3000) >"$d/var/log/big.log"
  echo 'seed' >"$d/var/lib/systemd/random-seed"
  printf '#!/bin/sh\necho hello\n' >"$d/usr/bin/hello"; chmod 755 "$d/usr/bin/hello"
  echo 'user notes' >"$d/home/user/notes.txt"
  chmod 1777 "$d/tmp" "$d/var/tmp"
  printf '%s' "$2" >"$d/etc/fstab"
}

# splitvar FULL ROOT VAR: move FULL/var into VAR, leaving an empty mount point.
splitvar() {
  mv "$1" "$2"
  mv "$2/var" "$3"
  mkdir "$2/var"
}

# putfs DISK IMG OFFSET_BYTES: copy a filesystem into a disk image.
putfs() { dd if="$2" of="$1" bs=64K seek="$3" oflag=seek_bytes conv=notrunc,sparse status=none; }

# start_of DISK N [SECTOR]: byte offset of partition N as fdisk reads it.
start_of() {
  local ss=${3:-512} s
  s=$(fdisk -b "$ss" -l -o Device,Start "$1" | awk -v p="$1$2" '$1==p {print $2}')
  [ -n "$s" ] || { echo "guest.sh: no partition $2 on $1" >&2; exit 1; }
  echo $((s * ss))
}

qcow() { qemu-img convert -f raw -O qcow2 "$OUT/$1.raw" "$OUT/$1.qcow2"; }

# ---- disk-gpt -------------------------------------------------------------
fstab_gpt="# /etc/fstab: static file system information.
#
# <file system> <mount point>   <type>  <options>       <dump>  <pass>
UUID=$ROOT_UUID /               ext4    errors=remount-ro 0       1
UUID=$VAR_UUID /var            ext4    defaults        0       2
PARTUUID=$ESP_PARTUUID  /boot/efi       vfat    umask=0077      0       1
proc            /proc           proc    defaults        0       0
fileserver:/export /mnt/nfs     nfs     defaults,_netdev 0      0
/dev/disk/by-uuid/$ABSENT_UUID /srv ext4 defaults,nofail 0 2
"
ostree "$work/g" "$fstab_gpt"
mkdir -p "$work/g/boot/efi"
splitvar "$work/g" "$work/groot" "$work/gvar"
stamp "$work/groot"; stamp "$work/gvar"
mkext ext4 "$work/groot.img" 24M "$ROOT_UUID" root "$work/groot"
selinux "$work/groot.img" /etc/machine-id
mkext ext4 "$work/gvar.img" 16M "$VAR_UUID" var "$work/gvar"
# ESP: FAT16, fixed volume id, a fake loader and systemd-boot's random seed.
truncate -s 16M "$work/esp.img"
mkfs.vfat --invariant -i "$ESP_VOLID" -n ESP -F 16 "$work/esp.img" >/dev/null
printf 'MZ fake EFI loader\n' >"$work/BOOTX64.EFI"
printf 'esp-random-seed\n' >"$work/random-seed"
touch -d "@$T" "$work/BOOTX64.EFI" "$work/random-seed"
mmd -i "$work/esp.img" ::/EFI ::/EFI/BOOT ::/loader
mcopy -m -i "$work/esp.img" "$work/BOOTX64.EFI" ::/EFI/BOOT/BOOTX64.EFI
mcopy -m -i "$work/esp.img" "$work/random-seed" ::/loader/random-seed
disk=$OUT/disk-gpt.raw
truncate -s 64M "$disk"
sgdisk -o -U "$DISK_GUID" \
  -n 1:2048:+16M -t 1:ef00 -c 1:EFI -u 1:"$ESP_PARTUUID" \
  -n 2:0:+24M -t 2:8304 -c 2:root -u 2:"$ROOT_PARTUUID" \
  -n 3:0:+16M -t 3:8300 -c 3:var -u 3:"$VAR_PARTUUID" "$disk" >/dev/null
putfs "$disk" "$work/esp.img" "$(start_of "$disk" 1)"
putfs "$disk" "$work/groot.img" "$(start_of "$disk" 2)"
putfs "$disk" "$work/gvar.img" "$(start_of "$disk" 3)"
qcow disk-gpt

# ---- disk-gpt-4k ----------------------------------------------------------
fstab_4k="/dev/disk/by-partuuid/$ROOT_PARTUUID / ext4 defaults 0 1
PARTLABEL=var /var ext4 defaults 0 2
"
ostree "$work/k" "$fstab_4k"
splitvar "$work/k" "$work/kroot" "$work/kvar"
stamp "$work/kroot"; stamp "$work/kvar"
mkext ext4 "$work/kroot.img" 24M "$ROOT_UUID" root "$work/kroot"
mkext ext4 "$work/kvar.img" 16M "$VAR_UUID" var "$work/kvar"
disk=$OUT/disk-gpt-4k.raw
truncate -s 48M "$disk"
# sfdisk 2.38 has no --sector-size; fdisk -b loads the same script with I.
cat >"$work/4k.sfdisk" <<EOF
label: gpt
label-id: $DISK_GUID
unit: sectors
first-lba: 256
start=256, size=6144, type=4f68bce3-e8cd-4db1-96e7-fbcaf984b709, uuid=$ROOT_PARTUUID, name=root
start=6400, size=4096, type=0fc63daf-8483-4772-8e79-3d69d8477de4, uuid=$VAR_PARTUUID, name=var
EOF
printf 'I\n%s\nw\n' "$work/4k.sfdisk" | fdisk -b 4096 "$disk" >/dev/null
putfs "$disk" "$work/kroot.img" "$(start_of "$disk" 1 4096)"
putfs "$disk" "$work/kvar.img" "$(start_of "$disk" 2 4096)"

# ---- disk-mbr -------------------------------------------------------------
fstab_mbr="# root on a logical partition
/dev/sda5 / ext4 errors=remount-ro 0 1
UUID=$BOOT_UUID /boot ext2 defaults 0 2
LABEL=var /var ext4 defaults 0 2
/dev/sda7 none swap sw 0 0
tmpfs /dev/shm tmpfs defaults 0 0
"
ostree "$work/m" "$fstab_mbr"
splitvar "$work/m" "$work/mroot" "$work/mvar"
mkdir -p "$work/mboot"; mv "$work/mroot/boot" "$work/mboot/root"; mkdir "$work/mroot/boot"
printf 'fake kernel\n' >"$work/mboot/root/vmlinuz-6.1.0-13-amd64"
stamp "$work/mroot"; stamp "$work/mvar"; stamp "$work/mboot/root"
mkext ext2 "$work/mboot.img" 8M "$BOOT_UUID" boot "$work/mboot/root"
mkext ext4 "$work/mroot.img" 24M "$ROOT_UUID" root "$work/mroot"
mkext ext4 "$work/mvar.img" 16M "$VAR_UUID" var "$work/mvar"
disk=$OUT/disk-mbr.raw
truncate -s 64M "$disk"
sfdisk -q "$disk" >/dev/null <<'EOF'
label: dos
label-id: 0x1a2b3c4d
unit: sectors
start=2048, size=16384, type=83
start=18432, size=112640, type=5
start=20480, size=49152, type=83
start=71680, size=32768, type=83
EOF
putfs "$disk" "$work/mboot.img" "$(start_of "$disk" 1)"
putfs "$disk" "$work/mroot.img" "$(start_of "$disk" 5)"
putfs "$disk" "$work/mvar.img" "$(start_of "$disk" 6)"
qcow disk-mbr

# ---- disk-none ------------------------------------------------------------
ostree "$work/n" "LABEL=root / ext4 defaults 0 1
"
stamp "$work/n"
mkext ext4 "$OUT/disk-none.raw" 32M "$ROOT_UUID" root "$work/n"
selinux "$OUT/disk-none.raw" /etc/machine-id
qcow disk-none

# ---- vfat (partitionless, for pkg/fs/vfat) ----------------------------------
# Long names (spaces, UTF-8, mixed case), a lower-case 8.3 name (NTRes
# flags), a read-only file, nested directories, a directory spanning
# several clusters, and frag.bin whose chain jumps over spacer.bin.
vfattree() { # IMG
  local img=$1 src=$work/vsrc
  rm -rf "$src"; mkdir -p "$src"
  seq 1 1000 >"$src/BOOTX64.EFI"
  printf 'esp-random-seed-0123456789abcdef' >"$src/random-seed"
  printf 'title Debian\nlinux /vmlinuz\n' >"$src/debian.conf"
  echo spaces >"$src/spaces"; echo cafe >"$src/cafe"; echo lower >"$src/lower"
  echo mixed >"$src/mixed"; echo readme >"$src/README"; echo ro >"$src/ro"
  echo deep >"$src/deep"
  seq 1 200 >"$src/hole"; seq 1 300 >"$src/spacer"; seq 1 700 >"$src/frag"
  for i in $(seq 1 40); do echo "file $i" >"$src/f$i"; done
  touch -d "@$T" "$src"/*
  local m="mcopy -m -i $img"
  mmd -i "$img" ::/EFI ::/EFI/BOOT ::/loader ::/loader/entries ::/deep ::/deep/a ::/deep/a/b ::/deep/a/b/c ::/many
  $m "$src/BOOTX64.EFI" ::/EFI/BOOT/BOOTX64.EFI
  $m "$src/random-seed" ::/loader/random-seed
  $m "$src/debian.conf" ::/loader/entries/debian.conf
  $m "$src/spaces" "::/Long File Name With Spaces.txt"
  LC_ALL=C.UTF-8 $m "$src/cafe" "::/café au lait, a long name.txt"
  $m "$src/lower" ::/lower.txt
  $m "$src/mixed" ::/MixedCase.Txt
  $m "$src/README" ::/README
  $m "$src/ro" ::/readonly.txt
  mattrib -i "$img" +r ::/readonly.txt
  $m "$src/deep" ::/deep/a/b/c/d.txt
  $m "$src/hole" ::/hole.bin
  $m "$src/spacer" ::/spacer.bin
  mdel -i "$img" ::/hole.bin
  $m "$src/frag" ::/frag.bin
  for i in $(seq 1 40); do $m "$src/f$i" "::/many/file number $i.txt"; done
  fsck.fat -n "$img" >/dev/null
}
truncate -s 2M "$OUT/disk-vfat12.raw"
mkfs.vfat --invariant -i 12AB34CD -n FAT12VOL -F 12 -s 2 "$OUT/disk-vfat12.raw" >/dev/null
vfattree "$OUT/disk-vfat12.raw"
truncate -s 64M "$OUT/disk-vfat16.raw"
mkfs.vfat --invariant -i 16AB34CD -n FAT16VOL -F 16 "$OUT/disk-vfat16.raw" >/dev/null
vfattree "$OUT/disk-vfat16.raw"
truncate -s 34M "$OUT/disk-vfat32.raw"
mkfs.vfat --invariant -i 32AB34CD -n FAT32VOL -F 32 -s 1 "$OUT/disk-vfat32.raw" >/dev/null
vfattree "$OUT/disk-vfat32.raw"

# ---- hostile guests (partitionless) ----------------------------------------
hostile() { # NAME: build $work/NAME from a full tree, then the caller edits it
  ostree "$work/$1" "/dev/vda / ext4 defaults 0 1
"
}
finish() { stamp "$work/$1"; mkext ext4 "$OUT/$1.raw" 16M "$ROOT_UUID" root "$work/$1"; }

hostile guest-clouddlink
rm -rf "$work/guest-clouddlink/var/lib/netdata/cloud.d"
ln -s /etc "$work/guest-clouddlink/var/lib/netdata/cloud.d"
finish guest-clouddlink

hostile guest-netdatadotdot
rm -rf "$work/guest-netdatadotdot/var/lib/netdata"
ln -s ../../../../.. "$work/guest-netdatadotdot/var/lib/netdata"
finish guest-netdatadotdot

hostile guest-symloop
nd=$work/guest-symloop/var/lib/netdata
rm -rf "$nd/registry"
ln -s a "$nd/registry"; ln -s b "$nd/a"; ln -s /var/lib/netdata/registry "$nd/b"
finish guest-symloop

hostile guest-runfile
rm -rf "$work/guest-runfile/run"
echo 'not a directory' >"$work/guest-runfile/etc/run-file"
ln -s /etc/run-file "$work/guest-runfile/run"
finish guest-runfile

# xfs: mkfs.xfs refuses under 300 MB unless run as by fstests; it stamps
# the root inodes with the current time and a random generation, so fix them.
mkxfs() { # IMG LABEL
  rm -f "$1"; truncate -s 32M "$1"
  QA_CHECK_FS=1 TEST_DIR=/tmp TEST_DEV=/dev/null \
    mkfs.xfs -q -m uuid="$XFS_UUID" -L "$2" -d file,name="$1",size=32m
  local big=$((T + 2147483648)) ino
  for ino in 128 129 130; do
    xfs_db -x -c "inode $ino" \
      -c "write -d core.atime.sec $big" -c 'write -d core.atime.nsec 0' \
      -c "write -d core.mtime.sec $big" -c 'write -d core.mtime.nsec 0' \
      -c "write -d core.ctime.sec $big" -c 'write -d core.ctime.nsec 0' \
      -c "write -d v3.crtime.sec $big" -c 'write -d v3.crtime.nsec 0' \
      -c 'write -d core.gen 0' "$1" >/dev/null
  done
  xfs_repair -n -f "$1" >/dev/null 2>&1
}
mkxfs "$OUT/guest-xfsroot.raw" xroot

ostree "$work/vx" "UUID=$ROOT_UUID / ext4 defaults 0 1
UUID=$XFS_UUID /var xfs defaults 0 2
"
splitvar "$work/vx" "$work/vxroot" "$work/vxvar"
stamp "$work/vxroot"
mkext ext4 "$work/vxroot.img" 24M "$ROOT_UUID" root "$work/vxroot"
mkxfs "$work/vxvar.img" var
disk=$OUT/guest-varxfs.raw
truncate -s 60M "$disk"
sgdisk -o -U "$DISK_GUID" \
  -n 1:2048:+24M -t 1:8304 -c 1:root -u 1:"$ROOT_PARTUUID" \
  -n 2:0:+32M -t 2:8300 -c 2:var -u 2:"$VAR_PARTUUID" "$disk" >/dev/null
putfs "$disk" "$work/vxroot.img" "$(start_of "$disk" 1)"
putfs "$disk" "$work/vxvar.img" "$(start_of "$disk" 2)"
