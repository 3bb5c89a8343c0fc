#!/usr/bin/env bash
# btrfs fixtures for pkg/fs/btrfs and pkg/guest, made by mkfs.btrfs
# --rootdir and by the kernel (loop mounts: subvolumes, snapshots,
# compression, xattrs), with fixed filesystem UUIDs and file times.
#
#   btrfs-rootdir.img   mkfs.btrfs (which sizes it at 237 MiB) --rootdir (DUP metadata):
#                       inline and regular files, a sparse file, symlinks,
#                       a hard link, a fifo, a char device, a 5,000-entry
#                       directory, user.* and security.selinux xattrs.
#   btrfs-mixed.img     48 MiB, mkfs.btrfs --mixed, the same tree copied
#                       in by the kernel: data and metadata in one block
#                       group.
#   btrfs-dupdata.img   128 MiB, -d dup -m dup --rootdir: every data
#                       extent has two copies.
#   btrfs-xxhash.img, btrfs-sha256.img  --csum xxhash / sha256 --rootdir.
#   btrfs-blake2.img    --csum blake2 (refused by name).
#   btrfs-kernel.img    128 MiB, written by the kernel: subvolumes root,
#                       home and root/var/lib/machines (nested), a
#                       read-only snapshot root-snap of root sharing its
#                       extents, files compressed with zstd, zlib and lzo
#                       (big multi-extent ones and small inline ones),
#                       fallocated (prealloc) and sparse files, a 5,000-
#                       entry directory, SELinux labels; the default
#                       subvolume is set to root.
#   guest-fedora.raw    GPT, 320 MiB: p1 ESP (vfat), p2 /boot ext4, p3
#                       btrfs with subvolumes root and home, mounted by
#                       fstab with subvol=root,compress=zstd:1 and
#                       subvol=home; zstd-compressed files; a Fedora 41
#                       tree with machine-id, hostname, os-release.
#
# The kernel and mkfs.btrfs stamp random device and chunk-tree UUIDs and
# the current time into the trees, so these images are not byte-for-byte
# reproducible: each is listed in $OUT/.bycontent, and generate.sh records
# the sha256 of its content manifest (NAME.manifest: every path with its
# inode, type, mode, owner, size, content hash, symlink target and xattrs,
# as the kernel's read-only mount shows it) instead of the image's own.
set -euo pipefail
: "${OUT:?OUT must be set (run through testdata/images/generate.sh)}"
export PATH=$PATH:/usr/sbin:/sbin
work=$(mktemp -d)
mnt=$work/mnt
mkdir -p "$mnt"
loops=()
cleanup() {
  mountpoint -q "$mnt" && umount "$mnt" || true
  for l in "${loops[@]}"; do losetup -d "$l" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
T=1700000000

# stamp DIR: fixed times on a tree (symlinks included).
stamp() { find "$1" -exec touch -h -d "@$T" {} +; }

# manifest DIR: the content listing generate.sh checks and tests compare
# with (one line per path, sorted; ctime is left out, as no tool sets it).
# With a second argument "noino" inode numbers are left out: mkfs.btrfs
# --rootdir copies the source tree's (host) inode numbers.
manifest() {
  local fmt='%p %i %y %m %U:%G %s %l\n'
  [ "${2:-}" = noino ] && fmt='%p %y %m %U:%G %s %l\n'
  (cd "$1" && {
    find . -mindepth 1 -printf "$fmt" | LC_ALL=C sort
    find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum
    getfattr -R -h -d -m - -e hex . 2>/dev/null || true
  })
}

# record IMG [MOUNTOPTS [noino]]: mount IMG read-only and write
# IMG.manifest.
record() {
  local img=$1 opts=${2:-} ino=${3:-}
  mount -o "ro,loop${opts:+,$opts}" "$OUT/$img" "$mnt"
  manifest "$mnt" $ino >"$OUT/$img.manifest"
  umount "$mnt"
  echo "$img" >>"$OUT/.bycontent"
  btrfs check --readonly "$OUT/$img" >"$work/check.log" 2>&1 || { cat "$work/check.log" >&2; echo "btrfs.sh: btrfs check $img failed" >&2; exit 1; }
}

# tree DIR: the --rootdir source tree.
tree() {
  local d=$1
  mkdir -p "$d"/{etc,usr/lib,dir5000,empty,deep/a/b/c/d}
  echo "inline file" >"$d/etc/small"
  head -c 2000 /dev/zero | tr '\0' x >"$d/etc/inline-max"
  head -c 300000 /dev/zero | tr '\0' 'A' >"$d/usr/lib/big-compressible"
  # Pseudo-random but fixed data: sha256 chains.
  # Incompressible but fixed data: AES-CTR of zeros under a fixed key.
  head -c 400000 /dev/zero | openssl enc -aes-128-ctr -K 000102030405060708090a0b0c0d0e0f \
    -iv 00000000000000000000000000000000 >"$d/usr/lib/random"
  truncate -s 1M "$d/usr/lib/sparse"; printf 'middle' | dd of="$d/usr/lib/sparse" bs=1 seek=500000 conv=notrunc status=none
  printf 'end' | dd of="$d/usr/lib/sparse" bs=1 seek=1048573 conv=notrunc status=none
  ln -s ../usr/lib/random "$d/etc/rel-link"
  ln -s /etc/small "$d/etc/abs-link"
  ln -s "$(head -c 300 /dev/zero | tr '\0' L)" "$d/etc/long-link"
  ln "$d/etc/small" "$d/etc/hardlink"
  mkfifo "$d/etc/fifo"
  mknod "$d/etc/null" c 1 3
  (cd "$d/dir5000" && seq -f 'f%g' 1 5000 | xargs touch)
  echo "x" >"$d/deep/a/b/c/d/leaf"
  chmod 0640 "$d/etc/small"; chmod 4755 "$d/usr/lib/random"; chown 1000:100 "$d/usr/lib/big-compressible"
  setfattr -n user.comment -v "hello" "$d/etc/small"
  setfattr -n security.selinux -v "system_u:object_r:etc_t:s0" "$d/etc/small" 2>/dev/null || true
  stamp "$d"
}

src=$work/src
tree "$src"
# mkfs_rootdir NAME SIZE ARGS...: mkfs.btrfs --rootdir SRC with a fixed UUID.
uuidn=10
mkfs_rootdir() {
  local name=$1 size=$2; shift 2
  rm -f "$OUT/$name"; truncate -s "$size" "$OUT/$name"
  mkfs.btrfs -q -f -U "5eb7f500-0000-4000-8000-0000000001$uuidn" -L "${name%.img}" "$@" --rootdir "$src" "$OUT/$name" >/dev/null
  uuidn=$((uuidn + 1))
}
mkfs_rootdir btrfs-rootdir.img 128M
record btrfs-rootdir.img "" noino
# mkfs.btrfs --mixed --rootdir wants 114 MiB: copy the tree in through the kernel.
rm -f "$OUT/btrfs-mixed.img"; truncate -s 48M "$OUT/btrfs-mixed.img"
mkfs.btrfs -q -f --mixed -U 5eb7f500-0000-4000-8000-000000000003 -L mixed "$OUT/btrfs-mixed.img" >/dev/null
mount -o loop "$OUT/btrfs-mixed.img" "$mnt"
cp -a "$src/." "$mnt/"
umount "$mnt"
record btrfs-mixed.img "" noino
mkfs_rootdir btrfs-dupdata.img 160M -d dup -m dup
record btrfs-dupdata.img "" noino
mkfs_rootdir btrfs-xxhash.img 128M --csum xxhash
record btrfs-xxhash.img "" noino
mkfs_rootdir btrfs-sha256.img 128M --csum sha256
record btrfs-sha256.img "" noino
mkfs_rootdir btrfs-blake2.img 128M --csum blake2
echo btrfs-blake2.img >>"$OUT/.bycontent"
: >"$OUT/btrfs-blake2.img.manifest"

# The kernel-written image.
img=$OUT/btrfs-kernel.img
rm -f "$img"; truncate -s 128M "$img"
mkfs.btrfs -q -f -U 5eb7f500-0000-4000-8000-000000000002 -L kernel "$img" >/dev/null
mount -o loop "$img" "$mnt"
btrfs -q subvolume create "$mnt/root"
btrfs -q subvolume create "$mnt/home"
mkdir -p "$mnt/root/etc" "$mnt/root/var/lib" "$mnt/root/usr" "$mnt/home/user" "$mnt/root/dir5000"
btrfs -q subvolume create "$mnt/root/var/lib/machines"
echo "nested" >"$mnt/root/var/lib/machines/inside"
echo "hostname" >"$mnt/root/etc/hostname"
echo "user file" >"$mnt/home/user/notes"
for alg in zstd zlib lzo; do
  mkdir -p "$mnt/root/usr/$alg"
  btrfs property set "$mnt/root/usr/$alg" compression "$alg"
  # Several 128 KiB compressed extents, a small inline one, and text.
  seq -f "line %g of the $alg file" 1 20000 >"$mnt/root/usr/$alg/text"
  seq -f "small $alg %g" 1 40 >"$mnt/root/usr/$alg/small"
  cp "$src/usr/lib/random" "$mnt/root/usr/$alg/random"
done
fallocate -l 200000 "$mnt/root/usr/prealloc"
printf 'head' >"$mnt/root/usr/prealloc-partial"; fallocate -o 65536 -l 65536 "$mnt/root/usr/prealloc-partial"; truncate -s 200000 "$mnt/root/usr/prealloc-partial"
truncate -s 3M "$mnt/root/usr/sparse"; printf 'tail' | dd of="$mnt/root/usr/sparse" bs=1 seek=2000000 conv=notrunc status=none
(cd "$mnt/root/dir5000" && seq 1 5000 | xargs -n 500 sh -c 'for i; do echo "$i" >"entry-$i"; done' sh)
setfattr -n security.selinux -v "system_u:object_r:etc_t:s0" "$mnt/root/etc/hostname"
setfattr -n security.selinux -v "unconfined_u:object_r:user_home_t:s0" "$mnt/home/user/notes"
setfattr -n user.big -v "$(head -c 1000 /dev/zero | tr '\0' v)" "$mnt/root/usr/zstd/text"
ln -s ../etc/hostname "$mnt/root/usr/hostlink"
mknod "$mnt/root/usr/sda1" b 8 1
stamp "$mnt/root"; stamp "$mnt/home"
sync
btrfs -q subvolume snapshot -r "$mnt/root" "$mnt/root-snap"
echo "changed after the snapshot" >"$mnt/root/etc/hostname"
rm "$mnt/root/usr/zlib/small"
touch -h -d "@$T" "$mnt/root/etc/hostname" "$mnt/root/usr/zlib"
btrfs subvolume set-default "$mnt/root" >/dev/null
umount "$mnt"
record btrfs-kernel.img subvolid=5

# The Fedora-like guest.
disk=$OUT/guest-fedora.raw
rm -f "$disk"; truncate -s 320M "$disk"
# p1 ESP 32 MiB at 1 MiB, p2 /boot 48 MiB, p3 root to the end.
P1=2048 P2=67584 P3=165888 P3END=$(( 320 * 2048 - 34 ))
sgdisk -o -U 22222222-3333-4444-8555-000000000000 \
  -n 1:$P1:$((P2 - 1)) -t 1:ef00 -c 1:"EFI System Partition" -u 1:22222222-3333-4444-8555-000000000001 \
  -n 2:$P2:$((P3 - 1)) -t 2:8300 -c 2:boot -u 2:22222222-3333-4444-8555-000000000002 \
  -n 3:$P3:$((P3END - 1)) -t 3:8300 -c 3:root -u 3:22222222-3333-4444-8555-000000000003 "$disk"  >/dev/null
ROOTFS_UUID=5eb7f500-0000-4000-8000-0000000000f3
BOOT_UUID=5eb7f500-0000-4000-8000-0000000000f2
esp=$work/esp.img boot=$work/boot.img root=$work/root.img
truncate -s 32M "$esp"; mkfs.vfat -F 32 -i 5EB7F001 -n ESP "$esp" >/dev/null
mkdir -p "$work/bootsrc/loader/entries"
echo "title Fedora Linux 41" >"$work/bootsrc/loader/entries/fedora.conf"
stamp "$work/bootsrc"
truncate -s 48M "$boot"
mkfs.ext4 -q -F -U "$BOOT_UUID" -L boot -E "hash_seed=$BOOT_UUID,root_owner=0:0" -d "$work/bootsrc" "$boot"
truncate -s $(( (P3END - P3) * 512 )) "$root"
mkfs.btrfs -q -f -U "$ROOTFS_UUID" -L fedora "$root" >/dev/null
mount -o loop,compress=zstd:1 "$root" "$mnt"
btrfs -q subvolume create "$mnt/root"
btrfs -q subvolume create "$mnt/home"
r=$mnt/root
mkdir -p "$r"/{etc,usr/lib,boot,home,var/lib/dbus,var/log,proc,sys,dev,run,tmp}
cat >"$r/usr/lib/os-release" <<'OS'
NAME="Fedora Linux"
VERSION="41 (Server Edition)"
ID=fedora
VERSION_ID=41
PRETTY_NAME="Fedora Linux 41 (Server Edition)"
VARIANT_ID=server
OS
ln -s ../usr/lib/os-release "$r/etc/os-release"
echo fedora-template >"$r/etc/hostname"
echo 7c0ffee0b1d24a0c9e0f3b2a1c5d7e9f >"$r/etc/machine-id"
setfattr -n security.selinux -v "system_u:object_r:machineid_t:s0" "$r/etc/machine-id"
ln -s /etc/machine-id "$r/var/lib/dbus/machine-id"
cat >"$r/etc/fstab" <<FSTAB
UUID=$ROOTFS_UUID /          btrfs subvol=root,compress=zstd:1 0 0
UUID=$BOOT_UUID   /boot      ext4  defaults                   1 2
UUID=5EB7-F001    /boot/efi  vfat  umask=0077,shortname=winnt 0 2
UUID=$ROOTFS_UUID /home      btrfs subvol=home,compress=zstd:1 0 0
FSTAB
printf 'root:x:0:0:root:/root:/bin/bash\nfedora:x:1000:1000::/home/fedora:/bin/bash\n' >"$r/etc/passwd"
seq -f 'log line %g' 1 5000 >"$r/var/log/messages"
mkdir -p "$mnt/home/fedora"; echo "user data" >"$mnt/home/fedora/notes"
stamp "$r"; stamp "$mnt/home"
umount "$mnt"
dd if="$esp" of="$disk" bs=512 seek=$P1 conv=notrunc,sparse status=none
dd if="$boot" of="$disk" bs=512 seek=$P2 conv=notrunc,sparse status=none
dd if="$root" of="$disk" bs=512 seek=$P3 conv=notrunc,sparse status=none
btrfs check --readonly "$root" >"$work/check.log" 2>&1 || { cat "$work/check.log" >&2; exit 1; }
mount -o ro,loop,subvol=root "$root" "$mnt"; manifest "$mnt" >"$OUT/guest-fedora.raw.manifest"; umount "$mnt"
echo guest-fedora.raw >>"$OUT/.bycontent"
