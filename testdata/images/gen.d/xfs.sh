#!/usr/bin/env bash
# xfs fixtures for pkg/fs/xfs: bare filesystem images (no partition table)
# made by mkfs.xfs -p PROTOFILE under a frozen clock (faketime -f), with
# extended attributes added by xfs_db -x attr_set, UUID
# 5e1f0000-0000-4000-8000-0000000000f1. mkfs.xfs refuses filesystems under
# 300 MB unless run as by fstests (QA_CHECK_FS, TEST_DIR, TEST_DEV).
#
# The common tree (protofile):
#   /etc/hostname (0644), /etc/machine-id (0444), /usr/lib/os-release and
#   /etc/os-release -> ../usr/lib/os-release; /empty (0 bytes), /one (1),
#   /block (4096), /big (200000); /owned (uid 1000, gid 1000, 0600);
#   /setuid (04755), /shared (dir 0777); /dev/null-like char 1 3, block
#   8 0 and a fifo; /abs -> /etc/hostname, /dangling -> /nowhere, (mkfs.xfs 6.1 writes
#   remote symlinks without their v5 header, so the tree has none); /dir/sub/deep; /small (12
#   entries: shortform), /blockdir (60: block format), /leafdir (400:
#   leaf format), /nodedir (5000 entries: node format with free-index
#   blocks).
# Extended attributes (xfs_db attr_set fills values with 'v'):
#   security.selinux (30 bytes) on /etc/machine-id and /dir: shortform;
#   40 user.a<N> (20 bytes) on /etc/hostname: a leaf block; user.remote
#   (5000 bytes) on /big: a remote value; trusted.t (8) on /owned.
#
#   xfs-default.img   mkfs.xfs defaults (crc, ftype, finobt, sparse inodes,
#                     reflink, inobtcount, bigtime), 32 MiB, 512-byte sectors
#   xfs-noreflink.img -m reflink=0,finobt=0
#   xfs-rmapbt.img    -m rmapbt=1
#   xfs-dir8k.img     -n size=8192 (two blocks per directory block)
#   xfs-sect4k.img    -s size=4096
#   xfs-tinyag.img    128 MiB in 8 AGs of 16 MiB (-d agcount=8)
#   guest-rocky-xfs.raw  a Rocky-like guest, as Rocky, Alma and Amazon
#                     Linux cloud images are: GPT (disk GUID
#                     5e1f0000-0000-4000-8000-0000000000d0), p1 /boot xfs
#                     (UUID ...00b1, 32 MiB), p2 / xfs (UUID ...00b2,
#                     32 MiB), fstab by UUID=; hostname rocky-template,
#                     a machine-id, Rocky 9 os-release, the D-Bus
#                     machine-id a symlink to /etc/machine-id as on RHEL,
#                     an ssh host key pair, security.selinux on the
#                     identity files; /boot holds grub2/grubenv and a BLS
#                     entry.
#
# A full filesystem, a fragmented (bmbt) file, remote symlinks, unwritten
# extents and real SELinux labels are made by the kernel in the tests
# (mkfs.xfs 6.1 writes a protofile file too large for the free space over
# the next AG's headers).
# Every image passes xfs_repair -n with nothing to report.
set -euo pipefail
: "${OUT:?OUT must be set (run through testdata/images/generate.sh)}"
export PATH=$PATH:/usr/sbin:/sbin
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
UUID=5e1f0000-0000-4000-8000-0000000000f1
CLOCK='2023-11-14 22:13:20'

src=$work/src
mkdir -p "$src"
printf 'xfs-fixture\n' >"$src/hostname"
printf '4c8ab9d6b1d24a0c9e0f3b2a1c5d7e9f\n' >"$src/machine-id"
printf 'NAME="Rocky Linux"\nID="rocky"\nVERSION_ID="9.4"\n' >"$src/os-release"
: >"$src/empty"
printf 'x' >"$src/one"
# rep TEXT N: N bytes of TEXT lines (yes stops on SIGPIPE).
rep() { yes "$1" | head -c "$2" || true; }
rep 'block of bytes.' 4096 >"$src/block"
rep 'the quick brown fox jumps over the lazy dog 0123456789' 200000 >"$src/big"
printf 'deep file\n' >"$src/deep"
printf 'owned\n' >"$src/owned"

# entries N: N protofile lines of small files named with a long prefix.
entries() {
  local i
  for ((i = 0; i < $1; i++)); do
    printf 'entry-with-a-longish-name-%05d ---644 0 0 %s\n' "$i" "$src/empty"
  done
}

proto() {
  cat <<P
/dev/null
0 0
d--755 0 0
etc d--755 0 0
hostname ---644 0 0 $src/hostname
machine-id ---444 0 0 $src/machine-id
os-release l--777 0 0 ../usr/lib/os-release
\$
usr d--755 0 0
lib d--755 0 0
os-release ---644 0 0 $src/os-release
\$
\$
empty ---644 0 0 $src/empty
one ---644 0 0 $src/one
block ---644 0 0 $src/block
big ---644 0 0 $src/big
owned ---600 1000 1000 $src/owned
setuid -u-755 0 0 $src/one
shared d--777 0 0
\$
chr c--666 0 0 1 3
blk b--660 0 6 8 0
fifo p--644 0 0
abs l--777 0 0 /etc/hostname
dangling l--777 0 0 /nowhere
dir d--755 0 0
sub d--755 0 0
deep ---644 0 0 $src/deep
\$
\$
small d--755 0 0
$(entries 12)
\$
blockdir d--755 0 0
$(entries 60)
\$
leafdir d--755 0 0
$(entries 400)
\$
nodedir d--755 0 0
$(entries 5000)
\$
\$
P
}

# mkxfs IMG SIZE PROTO MKFSARGS...: the filesystem, its xattrs, checked.
mkxfs() {
  local img=$1 size=$2 pf=$3
  shift 3
  rm -f "$img"; truncate -s "$size" "$img"
  faketime -f "$CLOCK" env QA_CHECK_FS=1 TEST_DIR=/tmp TEST_DEV=/dev/null \
    mkfs.xfs -q -m uuid="$UUID" -L fixture "$@" -p "$pf" -d file,name="$img",size="$size"
  local cmds=(-c 'path /etc/machine-id' -c 'attr_set -s -v 30 selinux'
    -c 'path /dir' -c 'attr_set -s -v 30 selinux'
    -c 'path /big' -c 'attr_set -u -v 5000 remote'
    -c 'path /owned' -c 'attr_set -r -v 8 t' -c 'path /etc/hostname')
  local i
  for ((i = 0; i < 40; i++)); do cmds+=(-c "attr_set -u -v 20 a$i"); done
  faketime -f "$CLOCK" xfs_db -x "${cmds[@]}" "$img" >/dev/null
  local out
  out=$(xfs_repair -n -f "$img" 2>&1) || { echo "xfs.sh: xfs_repair -n $img failed: $out" >&2; exit 1; }
  if grep -Ev '^(Phase [0-9]|        - |No modify flag set|Cannot get host filesystem geometry|Repair may fail if there is a sector size mismatch|the image and the host filesystem)' <<<"$out" | grep -q .; then
    echo "xfs.sh: xfs_repair -n $img reports: $out" >&2; exit 1
  fi
}

proto >"$work/tree.proto"
mkxfs "$OUT/xfs-default.img" 32m "$work/tree.proto"
mkxfs "$OUT/xfs-noreflink.img" 32m "$work/tree.proto" -m reflink=0,finobt=0
mkxfs "$OUT/xfs-rmapbt.img" 32m "$work/tree.proto" -m rmapbt=1
mkxfs "$OUT/xfs-dir8k.img" 32m "$work/tree.proto" -n size=8192
mkxfs "$OUT/xfs-sect4k.img" 32m "$work/tree.proto" -s size=4096
mkxfs "$OUT/xfs-tinyag.img" 128m "$work/tree.proto" -d agcount=8

# ---- guest-rocky-xfs --------------------------------------------------------
BOOT_UUID=5e1f0000-0000-4000-8000-0000000000b1
ROOT_UUID=5e1f0000-0000-4000-8000-0000000000b2
printf 'UUID=%s / xfs defaults 0 0\nUUID=%s /boot xfs defaults 0 0\n' "$ROOT_UUID" "$BOOT_UUID" >"$src/fstab"
printf 'rocky-template\n' >"$src/rhostname"
printf 'NAME="Rocky Linux"\nVERSION="9.4 (Blue Onyx)"\nID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.4"\nPRETTY_NAME="Rocky Linux 9.4 (Blue Onyx)"\n' >"$src/ros"
# A well-formed ed25519 public key blob with a key of 32 spaces.
printf 'ssh-ed25519 %s root@rocky-template\n' "$(printf '\0\0\0\013ssh-ed25519\0\0\0\040%32s' '' | base64 -w0)" >"$src/key.pub"
printf -- '-----BEGIN OPENSSH PRIVATE KEY-----\nfixture, not a key\n-----END OPENSSH PRIVATE KEY-----\n' >"$src/key"
printf 'saved_entry=fixture\n' >"$src/grubenv"
printf 'title Rocky Linux\nlinux /vmlinuz\noptions root=UUID=%s ro\n' "$ROOT_UUID" >"$src/bls"
cat >"$work/root.proto" <<P
/dev/null
0 0
d--555 0 0
boot d--555 0 0
\$
etc d--755 0 0
fstab ---644 0 0 $src/fstab
hostname ---644 0 0 $src/rhostname
machine-id ---444 0 0 $src/machine-id
os-release l--777 0 0 ../usr/lib/os-release
ssh d--755 0 0
ssh_host_ed25519_key ---600 0 0 $src/key
ssh_host_ed25519_key.pub ---644 0 0 $src/key.pub
\$
\$
usr d--755 0 0
lib d--755 0 0
os-release ---644 0 0 $src/ros
\$
\$
var d--755 0 0
lib d--755 0 0
dbus d--755 0 0
machine-id l--777 0 0 /etc/machine-id
\$
\$
log d--755 0 0
\$
\$
tmp d--777 0 0
\$
\$
P
cat >"$work/boot.proto" <<P
/dev/null
0 0
d--555 0 0
grub2 d--700 0 0
grubenv ---600 0 0 $src/grubenv
\$
loader d--755 0 0
entries d--755 0 0
fixture.conf ---644 0 0 $src/bls
\$
\$
\$
P
# guestfs IMG UUID LABEL PROTO: a 32 MiB xfs for the guest.
guestfs() {
  rm -f "$1"; truncate -s 32m "$1"
  faketime -f "$CLOCK" env QA_CHECK_FS=1 TEST_DIR=/tmp TEST_DEV=/dev/null \
    mkfs.xfs -q -m uuid="$2" -L "$3" -p "$4" -d file,name="$1",size=32m
}
guestfs "$work/rboot.img" "$BOOT_UUID" boot "$work/boot.proto"
guestfs "$work/rroot.img" "$ROOT_UUID" root "$work/root.proto"
label() { # IMG PATH CONTEXT-LENGTH
  faketime -f "$CLOCK" xfs_db -x -c "path $2" -c "attr_set -s -v $3 selinux" "$1" >/dev/null
}
label "$work/rroot.img" /etc/machine-id 38
label "$work/rroot.img" /etc/hostname 36
label "$work/rroot.img" /etc/ssh/ssh_host_ed25519_key 38
for f in rboot rroot; do
  out=$(xfs_repair -n -f "$work/$f.img" 2>&1) || { echo "xfs.sh: xfs_repair -n $f: $out" >&2; exit 1; }
done
disk=$OUT/guest-rocky-xfs.raw
rm -f "$disk"; truncate -s 72M "$disk"
sgdisk -o -U 5e1f0000-0000-4000-8000-0000000000d0 \
  -n 1:2048:+32M -t 1:8300 -c 1:boot -u 1:5e1f0000-0000-4000-8000-0000000000d1 \
  -n 2:0:+32M -t 2:8300 -c 2:root -u 2:5e1f0000-0000-4000-8000-0000000000d2 "$disk" >/dev/null
dd if="$work/rboot.img" of="$disk" bs=64K seek=$((2048 * 512)) oflag=seek_bytes conv=notrunc,sparse status=none
dd if="$work/rroot.img" of="$disk" bs=64K seek=$(((2048 + 65536) * 512)) oflag=seek_bytes conv=notrunc,sparse status=none
