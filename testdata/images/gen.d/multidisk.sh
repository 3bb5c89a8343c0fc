#!/usr/bin/env bash
# A VM of two disks, as virt-sysprep -a disk1 -a disk2 sees it: the root on
# the first disk names /var on the second by UUID= and a data filesystem
# by its kernel name on the second virtio disk (/dev/vdb2).
#
#   vm-disk1.raw   GPT: p1 ext4 root (UUID=), fstab naming the rest.
#   vm-disk2.raw   GPT: p1 ext4 /var (UUID=) with the dbus machine-id,
#                  Netdata's GUID, a DHCP lease and a log; p2 ext4
#                  /srv/data (LABEL=data, named /dev/vdb2).
#
# fstab also names /backup on a UUID found on neither disk. Both images
# pass e2fsck -fn on every partition. Fixed UUIDs, GUIDs, hash seeds and
# times make them reproducible.
set -euo pipefail
: "${OUT:?OUT must be set (run through testdata/images/generate.sh)}"
export PATH=$PATH:/usr/sbin:/sbin
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
T=1700000000
MID=5d9bc0e7c2e34b1daf104c3b2d6e8fa0
ROOT_UUID=0a1b2c3d-0000-4000-8000-0000000000a1
VAR_UUID=0a1b2c3d-0000-4000-8000-0000000000a2
DATA_UUID=0a1b2c3d-0000-4000-8000-0000000000a3
ABSENT_UUID=0bad0bad-0000-4000-8000-0000000000a4
HASH_SEED=0a1b2c3d-0000-4000-8000-0000000000ff
DISK1_GUID=22222222-3333-4444-8555-000000000001
DISK2_GUID=22222222-3333-4444-8555-000000000002

# mkext IMG SIZE UUID LABEL TREE: a deterministic ext4 filesystem.
mkext() {
  local img=$1 size=$2 uuid=$3 label=$4 tree=$5
  find "$tree" -exec touch -h -d "@$T" {} +
  rm -f "$img"; truncate -s "$size" "$img"
  mkfs.ext4 -q -F -U "$uuid" -L "$label" -E "hash_seed=$HASH_SEED,root_owner=0:0" -d "$tree" "$img"
  (cd "$tree" && find . -mindepth 1 | sed 's|^\.||' | while read -r p; do
    echo "sif $p ctime 20231114221320"; echo "sif $p ctime_extra 0"; done) >"$img.cmds"
  debugfs -w -f "$img.cmds" "$img" >/dev/null 2>&1
  rm -f "$img.cmds"
  e2fsck -fn "$img" >/dev/null 2>&1 || { echo "multidisk.sh: e2fsck -fn $img failed" >&2; exit 1; }
}

# putfs DISK IMG OFFSET_BYTES: copy a filesystem into a disk image.
putfs() { dd if="$2" of="$1" bs=64K seek="$3" oflag=seek_bytes conv=notrunc,sparse status=none; }

root=$work/root
mkdir -p "$root"/{etc/ssh,usr/lib,var,srv/data,backup}
cat >"$root/usr/lib/os-release" <<'EOF'
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
ID=debian
EOF
ln -s ../usr/lib/os-release "$root/etc/os-release"
echo twodisks >"$root/etc/hostname"
printf '%s\n' "$MID" >"$root/etc/machine-id"
echo 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFNUVEsywQAnT9BwCCTIX87Hm5dg5HvdFKYm4K4oU1wK root@twodisks' >"$root/etc/ssh/ssh_host_ed25519_key.pub"
printf 'fixture-private-key\n' >"$root/etc/ssh/ssh_host_ed25519_key"
chmod 600 "$root/etc/ssh/ssh_host_ed25519_key"
cat >"$root/etc/fstab" <<EOF
UUID=$ROOT_UUID / ext4 defaults 0 1
UUID=$VAR_UUID /var ext4 defaults 0 2
/dev/vdb2 /srv/data ext4 defaults 0 2
UUID=$ABSENT_UUID /backup ext4 nofail 0 2
EOF

var=$work/var
mkdir -p "$var"/{lib/dbus,lib/netdata/registry,lib/dhcp,log}
printf '%s\n' "$MID" >"$var/lib/dbus/machine-id"
echo 6e4c2d1f-8a3b-11ee-9d5e-0242ac120003 >"$var/lib/netdata/registry/netdata.public.unique.id"
printf 'lease {\n  interface "ens3";\n  fixed-address 192.0.2.10;\n}\n' >"$var/lib/dhcp/dhclient.ens3.leases"
echo 'Nov 14 22:13:20 twodisks kernel: booted' >"$var/log/syslog"

data=$work/data
mkdir -p "$data"
echo 'application data, kept' >"$data/keep.txt"

mkext "$work/root.img" 6M "$ROOT_UUID" root "$root"
mkext "$work/var.img" 5M "$VAR_UUID" var "$var"
mkext "$work/data.img" 3M "$DATA_UUID" data "$data"

d1=$OUT/vm-disk1.raw
truncate -s 8M "$d1"
sgdisk -o -U "$DISK1_GUID" -n 1:2048:+6M -t 1:8304 -c 1:root -u 1:22222222-3333-4444-8555-0000000001a1 "$d1" >/dev/null
putfs "$d1" "$work/root.img" $((2048 * 512))

d2=$OUT/vm-disk2.raw
truncate -s 10M "$d2"
sgdisk -o -U "$DISK2_GUID" \
  -n 1:2048:+5M -t 1:8300 -c 1:var -u 1:22222222-3333-4444-8555-0000000002a1 \
  -n 2:0:+3M -t 2:8300 -c 2:data -u 2:22222222-3333-4444-8555-0000000002a2 "$d2" >/dev/null
putfs "$d2" "$work/var.img" $((2048 * 512))
putfs "$d2" "$work/data.img" $(( $(sgdisk -i 2 "$d2" | awk '/First sector/ {print $3}') * 512 ))
