#!/usr/bin/env bash
# LVM2 fixtures for pkg/lvm, pkg/guest and the lvm-uuids operation, made by
# lvm2's own tools: each PV is a loop device over its partition (losetup -o
# --sizelimit, with a device node of a fixed name so that the metadata's
# device hint does not depend on the loop number), `pvcreate --uuid
# --restorefile` writes the label and `vgcfgrestore` writes the metadata of
# a VG described below in lvm2's text format (lvcreate needs device-mapper,
# which this kernel lacks; vgcfgrestore does not). The ext4 filesystems are
# then copied into the LVs through the mapping the metadata gives.
# Needs root and loop devices.
#
#   lvm-ubuntu.raw   Ubuntu Server's installer layout: GPT, p1 ESP (vfat,
#                    UUID=), p2 /boot ext4 (UUID=), p3 LVM2 PV holding VG
#                    ubuntu-vg with LV ubuntu-lv (one linear segment, ext4
#                    root, fstab /dev/mapper/ubuntu--vg-ubuntu--lv). The
#                    guest's /etc/lvm/lvm.conf, system.devices and crypttab
#                    name the PV's UUID.
#   lvm-multi.raw    GPT, p1 and p2 PVs of VG datavg: root is linear in
#                    three segments alternating between the PVs (fstab
#                    UUID=), var is striped over both (2 stripes of 64 KiB,
#                    fstab /dev/datavg/var); plus a thin pool and thin LV, a
#                    raid1 LV and an old-style snapshot "snap" of "base",
#                    none of which imgprep writes.
#   lvm-disk-a.raw, lvm-disk-b.raw  one guest on two disks: a has GPT with
#                    p1 /boot ext4 and p2 a PV, b is a whole-disk PV; VG rl
#                    has LV root (ext4) with one segment on each disk.
#
# Deterministic: fixed UUIDs, host name (a UTS namespace), time (faketime)
# and device names. LVM's metadata records uname's kernel release in a
# comment, so a machine with another kernel sees drift.
set -euo pipefail
: "${OUT:?OUT must be set (run through testdata/images/generate.sh)}"
export PATH=$PATH:/usr/sbin:/sbin
work=$(mktemp -d)
# pvnode runs in a command substitution, a subshell, so it cannot record
# what it made in a variable here: cleanup finds the loop devices by their
# backing files (under $work or $OUT) and the nodes by the names it records in a file.
cleanup() {
  local f l
  [ -f "$work/nodes" ] && while read -r f; do rm -f "$f"; done <"$work/nodes"
  losetup -l -n -O NAME,BACK-FILE 2>/dev/null | while read -r l f; do
    case "$f" in "$work"/*|"$OUT"/*) losetup -d "$l" 2>/dev/null || true ;; esac
  done
  rm -rf "$work"
}
trap cleanup EXIT
T=1700000000
MID=4c8ab9d6b1d24a0c9e0f3b2a1c5d7e9f
HASH_SEED=0a1b2c3d-0000-4000-8000-0000000000ff
LVMCONF='devices{use_devicesfile=0 obtain_device_list_from_udev=0} backup{backup=0 archive=0} global{use_lvmpolld=0}'

# mkext IMG SIZE UUID LABEL TREE: a deterministic ext4 filesystem.
mkext() {
  local img=$1 size=$2 uuid=$3 label=$4 tree=$5
  rm -f "$img"; truncate -s "$size" "$img"
  mkfs.ext4 -q -F -U "$uuid" -L "$label" -E "hash_seed=$HASH_SEED,root_owner=0:0" -d "$tree" "$img"
  (cd "$tree" && find . -mindepth 1 | sed 's|^\.||' | while read -r p; do
    echo "sif $p ctime 20231114221320"; echo "sif $p ctime_extra 0"; done) >"$img.cmds"
  debugfs -w -f "$img.cmds" "$img" >/dev/null 2>&1
  rm -f "$img.cmds"
  e2fsck -fn "$img" >/dev/null 2>&1 || { echo "lvm.sh: e2fsck -fn $img failed" >&2; exit 1; }
}

stamp() { find "$1" -exec touch -h -d "@$T" {} +; }

# ostree DIR PRETTY FSTAB: a small guest with the identity files sysprep
# touches.
ostree() {
  local d=$1
  mkdir -p "$d"/{etc/ssh,etc/lvm/devices,boot,proc,sys,dev,tmp,run,root,usr/lib}
  mkdir -p "$d"/var/{lib/dbus,log,tmp}
  printf 'PRETTY_NAME="%s"\nNAME="Ubuntu"\nID=ubuntu\nVERSION_ID="24.04"\n' "$2" >"$d/usr/lib/os-release"
  ln -s ../usr/lib/os-release "$d/etc/os-release"
  echo template >"$d/etc/hostname"
  printf '%s\n' "$MID" >"$d/etc/machine-id"
  printf '%s\n' "$MID" >"$d/var/lib/dbus/machine-id"
  printf 'root:x:0:0:root:/root:/bin/bash\n' >"$d/etc/passwd"
  printf 'root:x:0:\n' >"$d/etc/group"
  printf 'fixture private key\n' >"$d/etc/ssh/ssh_host_ed25519_key"
  echo 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFNUVEsywQAnT9BwCCTIX87Hm5dg5HvdFKYm4K4oU1wK root@template' >"$d/etc/ssh/ssh_host_ed25519_key.pub"
  chmod 600 "$d/etc/ssh/ssh_host_ed25519_key"
  for i in 1 2 3; do echo "Nov 14 22:13:2$i template kernel: line $i"; done >"$d/var/log/syslog"
  chmod 1777 "$d/tmp" "$d/var/tmp"
  printf '%s' "$3" >"$d/etc/fstab"
}

# putat DISK IMG DISKOFF IMGOFF LEN: copy LEN bytes of IMG at IMGOFF into
# DISK at DISKOFF (all multiples of 64 KiB).
putat() {
  dd if="$2" of="$1" bs=64K skip=$(($4 / 65536)) seek=$(($3 / 65536)) count=$(($5 / 65536)) \
    conv=notrunc,sparse status=none
}

start_of() {
  local s
  s=$(fdisk -l -o Device,Start "$1" | awk -v p="$1$2" '$1==p {print $2}')
  [ -n "$s" ] || { echo "lvm.sh: no partition $2 on $1" >&2; exit 1; }
  echo $((s * 512))
}
size_of() {
  local s
  s=$(fdisk -l -o Device,Sectors "$1" | awk -v p="$1$2" '$1==p {print $2}')
  echo $((s * 512))
}

# pvnode NAME FILE OFFSET SIZE: a loop device over FILE's bytes
# [OFFSET, OFFSET+SIZE) with a block device node /dev/imgprep-fixture-NAME.
pvnode() {
  local l mm node=/dev/imgprep-fixture-$1
  l=$(losetup -f --show -o "$3" --sizelimit "$4" "$2")
  mm=$(stat -c '%t:%T' "$l")
  echo "$node" >>"$work/nodes"
  rm -f "$node"; mknod "$node" b $((16#${mm%:*})) $((16#${mm#*:}))
  echo "$node"
}

# lvmrun CMD...: an lvm2 command with a fixed host name and time.
lvmrun() {
  unshare --uts bash -c 'hostname imgprep-fixture; exec "$@"' _ \
    faketime -f "2023-11-14 22:13:20" "$@" --config "$LVMCONF" 2>&1 | grep -v -e 'leaked on' -e 'device-mapper' \
    -e 'mapper/control' -e 'libdevmapper' -e 'check for active volumes' -e "Couldn't find device" -e 'successfully created' -e 'Restored volume' -e 'Forced restore' >&2 || true
}

# restore VG FILE PV_UUID:NODE...: pvcreate each PV from FILE, then
# vgcfgrestore the VG.
restore() {
  local vg=$1 file=$2 devs="" force=""; shift 2
  for p in "$@"; do devs="$devs,${p#*:}"; done
  devs=${devs#,}
  for p in "$@"; do
    lvmrun pvcreate -q --devices "$devs" --uuid "${p%%:*}" --restorefile "$file" "${p#*:}"
  done
  grep -q 'thin-pool' "$file" && force=--force
  # Relative: the file name goes into the metadata's description.
  (cd "$(dirname "$file")" && lvmrun vgcfgrestore -q $force --devices "$devs" -f "$(basename "$file")" "$vg")
  local got
  got=$(pvs --config "$LVMCONF" --devices "$devs" --noheadings -o pv_name,vg_name 2>&1 | grep -v 'leaked on')
  [ "$(grep -c " $vg\$" <<<"$got")" = $# ] || { echo "lvm.sh: vgcfgrestore of $vg failed: $got" >&2; exit 1; }
}

# vghead NAME ID EXTENT_SECTORS: the head of a VG in lvm2's text format.
vghead() {
  cat <<EOF
contents = "Text Format Volume Group"
version = 1
description = "imgprep fixture"
creation_host = "imgprep-fixture"
creation_time = $T

$1 {
	id = "$2"
	seqno = 1
	format = "lvm2"
	status = ["RESIZEABLE", "READ", "WRITE"]
	flags = []
	extent_size = $3
	max_lv = 0
	max_pv = 0
	metadata_copies = 0

EOF
}

# pvsec NAME ID DEV_SECTORS PE_COUNT
pvsec() {
  cat <<EOF
		$1 {
			id = "$2"
			device = "/dev/unknown"
			status = ["ALLOCATABLE"]
			flags = []
			dev_size = $3
			pe_start = 2048
			pe_count = $4
		}
EOF
}

# lvsec NAME ID VISIBLE SEGMENT...: an LV whose segments are given as
# "START COUNT BODY" where BODY is the rest of the segment section.
lvsec() {
  local name=$1 id=$2 vis=$3 n=0; shift 3
  local status='"READ", "WRITE"'
  [ "$vis" = 1 ] && status='"READ", "WRITE", "VISIBLE"'
  printf '\t\t%s {\n\t\t\tid = "%s"\n\t\t\tstatus = [%s]\n\t\t\tflags = []\n' "$name" "$id" "$status"
  printf '\t\t\tcreation_time = %s\n\t\t\tcreation_host = "template"\n\t\t\tsegment_count = %s\n' "$T" "$#"
  for s in "$@"; do
    n=$((n + 1))
    printf '\n\t\t\tsegment%s {\n%s\n\t\t\t}\n' "$n" "$s"
  done
  printf '\t\t}\n\n'
}

# linear START COUNT PV PE
linear() {
  printf '\t\t\t\tstart_extent = %s\n\t\t\t\textent_count = %s\n\t\t\t\ttype = "striped"\n\t\t\t\tstripe_count = 1\n\t\t\t\tstripes = [\n\t\t\t\t\t"%s", %s\n\t\t\t\t]' "$1" "$2" "$3" "$4"
}

MiB=1048576

# ---- lvm-ubuntu ---------------------------------------------------------------
VG_U=Ubuvg0-0000-4000-8000-0000-0000-000001
PV_U=UbuPV0-0000-4000-8000-0000-0000-000001
LV_U=UbuLV0-0000-4000-8000-0000-0000-000001
PVID_U=$(echo "$PV_U" | tr -d -)
ROOT_UUID=0a1b2c3d-0000-4000-8000-00000000b001
BOOT_UUID=0a1b2c3d-0000-4000-8000-00000000b002
ESP_VOLID=7A3B1C2E
ostree "$work/u" "Ubuntu 24.04.1 LTS" "# /etc/fstab: static file system information.
/dev/mapper/ubuntu--vg-ubuntu--lv / ext4 defaults 0 1
UUID=$BOOT_UUID /boot ext4 defaults 0 1
UUID=${ESP_VOLID:0:4}-${ESP_VOLID:4:4} /boot/efi vfat umask=0077 0 1
"
mkdir -p "$work/u/boot/efi"
cat >"$work/u/etc/lvm/lvm.conf" <<EOF
devices {
	# only the installer's PV
	filter = [ "a|^/dev/disk/by-id/lvm-pv-uuid-$PV_U\$|", "r|.*|" ]
}
EOF
cat >"$work/u/etc/lvm/devices/system.devices" <<EOF
# LVM uses devices listed in this file.
VERSION=1.1.1
IDTYPE=devname IDNAME=/dev/vda3 DEVNAME=/dev/vda3 PVID=$PVID_U PART=3
EOF
printf 'swapcrypt /dev/disk/by-id/lvm-pv-uuid-%s /dev/urandom swap,cipher=aes-xts-plain64\n' "$PV_U" >"$work/u/etc/crypttab"
mkdir -p "$work/uboot"; echo 'fake kernel' >"$work/uboot/vmlinuz-6.8.0-45-generic"
stamp "$work/u"; stamp "$work/uboot"
mkext "$work/uroot.img" 32M "$ROOT_UUID" root "$work/u"
mkext "$work/uboot.img" 16M "$BOOT_UUID" boot "$work/uboot"
truncate -s 8M "$work/esp.img"
mkfs.vfat --invariant -i "$ESP_VOLID" -n ESP -F 12 "$work/esp.img" >/dev/null
disk=$OUT/lvm-ubuntu.raw
truncate -s 66M "$disk"
sgdisk -o -U 11111111-2222-4333-8444-00000000b000 \
  -n 1:2048:+8M -t 1:ef00 -u 1:11111111-2222-4333-8444-00000000b001 \
  -n 2:0:+16M -t 2:8300 -u 2:11111111-2222-4333-8444-00000000b002 \
  -n 3:0:0 -t 3:8e00 -u 3:11111111-2222-4333-8444-00000000b003 "$disk" >/dev/null
p3=$(start_of "$disk" 3); p3size=$(size_of "$disk" 3)
pecount=$(((p3size / 512 - 2048) / 2048))
{
  vghead ubuntu-vg "$VG_U" 2048
  printf '\tphysical_volumes {\n\n'; pvsec pv0 "$PV_U" $((p3size / 512)) "$pecount"; printf '\t}\n\n'
  printf '\tlogical_volumes {\n\n'
  lvsec ubuntu-lv "$LV_U" 1 "$(linear 0 32 pv0 0)"
  printf '\t}\n}\n'
} >"$work/ubuntu.vg"
restore ubuntu-vg "$work/ubuntu.vg" "$PV_U:$(pvnode u0 "$disk" "$p3" "$p3size")"
putat "$disk" "$work/esp.img" "$(start_of "$disk" 1)" 0 $((8 * MiB))
putat "$disk" "$work/uboot.img" "$(start_of "$disk" 2)" 0 $((16 * MiB))
putat "$disk" "$work/uroot.img" $((p3 + MiB)) 0 $((32 * MiB))

# ---- lvm-multi ----------------------------------------------------------------
VG_M=Datavg-0000-4000-8000-0000-0000-000002
PV_M0=DataP0-0000-4000-8000-0000-0000-000002
PV_M1=DataP1-0000-4000-8000-0000-0000-000002
MROOT_UUID=0a1b2c3d-0000-4000-8000-00000000c001
MVAR_UUID=0a1b2c3d-0000-4000-8000-00000000c002
lid() { printf 'Lv%04d-0000-4000-8000-0000-0000-000002' "$1"; }
ostree "$work/m" "Ubuntu 24.04.1 LTS" "UUID=$MROOT_UUID / ext4 defaults 0 1
/dev/datavg/var /var ext4 defaults 0 2
"
mv "$work/m/var" "$work/mvar"; mkdir "$work/m/var"
stamp "$work/m"; stamp "$work/mvar"
mkext "$work/mroot.img" 12M "$MROOT_UUID" root "$work/m"
mkext "$work/mvar.img" 8M "$MVAR_UUID" var "$work/mvar"
disk=$OUT/lvm-multi.raw
truncate -s 50M "$disk"
sgdisk -o -U 11111111-2222-4333-8444-00000000c000 \
  -n 1:2048:+24M -t 1:8e00 -u 1:11111111-2222-4333-8444-00000000c001 \
  -n 2:0:+24M -t 2:8e00 -u 2:11111111-2222-4333-8444-00000000c002 "$disk" >/dev/null
p1=$(start_of "$disk" 1); p2=$(start_of "$disk" 2); psize=$(size_of "$disk" 1)
pe=$(((psize / 512 - 2048) / 2048))
striped2() { # START COUNT PE0 PE1
  printf '\t\t\t\tstart_extent = %s\n\t\t\t\textent_count = %s\n\t\t\t\ttype = "striped"\n\t\t\t\tstripe_count = 2\n\t\t\t\tstripe_size = 128\n\t\t\t\tstripes = [\n\t\t\t\t\t"pv0", %s,\n\t\t\t\t\t"pv1", %s\n\t\t\t\t]' "$1" "$2" "$3" "$4"
}
seg() { # START COUNT BODY-LINES
  printf '\t\t\t\tstart_extent = %s\n\t\t\t\textent_count = %s\n%s' "$1" "$2" "$3"
}
{
  vghead datavg "$VG_M" 2048
  printf '\tphysical_volumes {\n\n'
  pvsec pv0 "$PV_M0" $((psize / 512)) "$pe"; pvsec pv1 "$PV_M1" $((psize / 512)) "$pe"
  printf '\t}\n\n\tlogical_volumes {\n\n'
  lvsec root "$(lid 1)" 1 "$(linear 0 4 pv0 0)" "$(linear 4 4 pv1 0)" "$(linear 8 4 pv0 10)"
  lvsec var "$(lid 2)" 1 "$(striped2 0 8 4 4)"
  # thin pool (pv1 8-9 data, 16 metadata) and a thin LV
  lvsec pool "$(lid 3)" 1 "$(seg 0 2 "$(printf '\t\t\t\ttype = "thin-pool"\n\t\t\t\tmetadata = "pool_tmeta"\n\t\t\t\tpool = "pool_tdata"\n\t\t\t\ttransaction_id = 1\n\t\t\t\tchunk_size = 128\n\t\t\t\tdiscards = "passdown"\n\t\t\t\tzero_new_blocks = 1')")"
  lvsec thin "$(lid 4)" 1 "$(seg 0 4 "$(printf '\t\t\t\ttype = "thin"\n\t\t\t\tthin_pool = "pool"\n\t\t\t\ttransaction_id = 0\n\t\t\t\tdevice_id = 1')")"
  lvsec pool_tmeta "$(lid 5)" 0 "$(linear 0 1 pv1 16)"
  lvsec pool_tdata "$(lid 6)" 0 "$(linear 0 2 pv1 8)"
  lvsec lvol0_pmspare "$(lid 7)" 0 "$(linear 0 1 pv1 17)"
  # raid1 over both PVs (extents 14-15 each)
  lvsec mirr "$(lid 8)" 1 "$(seg 0 1 "$(printf '\t\t\t\ttype = "raid1"\n\t\t\t\tdevice_count = 2\n\t\t\t\tregion_size = 1024\n\t\t\t\traids = [\n\t\t\t\t\t"mirr_rmeta_0", "mirr_rimage_0",\n\t\t\t\t\t"mirr_rmeta_1", "mirr_rimage_1"\n\t\t\t\t]')")"
  lvsec mirr_rmeta_0 "$(lid 9)" 0 "$(linear 0 1 pv0 14)"
  lvsec mirr_rimage_0 "$(lid 10)" 0 "$(linear 0 1 pv0 15)"
  lvsec mirr_rmeta_1 "$(lid 11)" 0 "$(linear 0 1 pv1 14)"
  lvsec mirr_rimage_1 "$(lid 12)" 0 "$(linear 0 1 pv1 15)"
  # base and its old-style snapshot snap
  lvsec base "$(lid 13)" 1 "$(linear 0 2 pv0 16)"
  lvsec snap "$(lid 14)" 1 "$(linear 0 1 pv0 18)"
  lvsec snapshot0 "$(lid 15)" 0 "$(seg 0 2 "$(printf '\t\t\t\ttype = "snapshot"\n\t\t\t\tchunk_size = 8\n\t\t\t\torigin = "base"\n\t\t\t\tcow_store = "snap"')")"
  printf '\t}\n}\n'
} >"$work/multi.vg"
restore datavg "$work/multi.vg" "$PV_M0:$(pvnode m0 "$disk" "$p1" "$psize")" "$PV_M1:$(pvnode m1 "$disk" "$p2" "$psize")"
# root: LV extents 0-3 on pv0 0-3, 4-7 on pv1 0-3, 8-11 on pv0 10-13.
pvs0=$((p1 + MiB)); pvs1=$((p2 + MiB))
putat "$disk" "$work/mroot.img" "$pvs0" 0 $((4 * MiB))
putat "$disk" "$work/mroot.img" "$pvs1" $((4 * MiB)) $((4 * MiB))
putat "$disk" "$work/mroot.img" $((pvs0 + 10 * MiB)) $((8 * MiB)) $((4 * MiB))
# var: 64 KiB chunks alternating pv0 (from extent 4) and pv1 (from extent 4).
for ((c = 0; c < 8 * MiB / 65536; c++)); do
  row=$((c / 2)); base=$pvs0; [ $((c % 2)) = 1 ] && base=$pvs1
  putat "$disk" "$work/mvar.img" $((base + 4 * MiB + row * 65536)) $((c * 65536)) 65536
done

# ---- lvm-disk-a, lvm-disk-b ---------------------------------------------------
VG_R=Rlvg00-0000-4000-8000-0000-0000-000003
PV_RA=RlPVa0-0000-4000-8000-0000-0000-000003
PV_RB=RlPVb0-0000-4000-8000-0000-0000-000003
RROOT_UUID=0a1b2c3d-0000-4000-8000-00000000d001
RBOOT_UUID=0a1b2c3d-0000-4000-8000-00000000d002
ostree "$work/r" "Rocky Linux 9.4 (Blue Onyx)" "/dev/mapper/rl-root / ext4 defaults 0 1
UUID=$RBOOT_UUID /boot ext4 defaults 0 2
"
sed -i 's/^ID=ubuntu/ID=rocky/; s/^NAME="Ubuntu"/NAME="Rocky Linux"/' "$work/r/usr/lib/os-release"
mkdir -p "$work/rboot"; echo 'fake kernel' >"$work/rboot/vmlinuz-5.14.0-427.el9.x86_64"
stamp "$work/r"; stamp "$work/rboot"
mkext "$work/rroot.img" 16M "$RROOT_UUID" root "$work/r"
mkext "$work/rboot.img" 8M "$RBOOT_UUID" boot "$work/rboot"
da=$OUT/lvm-disk-a.raw db=$OUT/lvm-disk-b.raw
truncate -s 26M "$da"; truncate -s 12M "$db"
sgdisk -o -U 11111111-2222-4333-8444-00000000d000 \
  -n 1:2048:+8M -t 1:8300 -u 1:11111111-2222-4333-8444-00000000d001 \
  -n 2:0:+16M -t 2:8e00 -u 2:11111111-2222-4333-8444-00000000d002 "$da" >/dev/null
a2=$(start_of "$da" 2); a2size=$(size_of "$da" 2); bsize=$((12 * MiB))
{
  vghead rl "$VG_R" 2048
  printf '\tphysical_volumes {\n\n'
  pvsec pv0 "$PV_RA" $((a2size / 512)) $(((a2size / 512 - 2048) / 2048))
  pvsec pv1 "$PV_RB" $((bsize / 512)) $(((bsize / 512 - 2048) / 2048))
  printf '\t}\n\n\tlogical_volumes {\n\n'
  lvsec root "$(lid 21)" 1 "$(linear 0 10 pv0 0)" "$(linear 10 6 pv1 2)"
  printf '\t}\n}\n'
} >"$work/rl.vg"
restore rl "$work/rl.vg" "$PV_RA:$(pvnode ra "$da" "$a2" "$a2size")" "$PV_RB:$(pvnode rb "$db" 0 "$bsize")"
putat "$da" "$work/rboot.img" "$(start_of "$da" 1)" 0 $((8 * MiB))
putat "$da" "$work/rroot.img" $((a2 + MiB)) 0 $((10 * MiB))
putat "$db" "$work/rroot.img" $((MiB + 2 * MiB)) $((10 * MiB)) $((6 * MiB))
