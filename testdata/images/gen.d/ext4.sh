#!/usr/bin/env bash
# ext4.sh: ext2/ext3/ext4 filesystem fixtures (bare filesystem images, no
# partition table), built with mkfs.ext2/3/4 -d from a source tree, then
# edited with debugfs -w. Run through the driver:
#
#   bash testdata/images/generate.sh ext4          # regenerate
#   bash testdata/images/generate.sh --check ext4  # check for drift
#
# Determinism: fixed UUIDs (-U) and hash seeds (-E hash_seed=), the driver's
# E2FSPROGS_FAKE_TIME, source trees with every mtime/atime at @1700000000,
# and after mkfs every inode's ctime (which mkfs -d copies from the host and
# touch cannot set) pinned with debugfs "sif PATH ctime @1700000000". mkfs
# -d adds directory entries in sorted order (scandir + alphasort).
# Extended attributes are set with debugfs ea_set, not taken from the host
# filesystem, so the host's xattr support does not matter.
#
# The common source tree (COMMON below) holds: regular files of 0, 1, 1024,
# 4096, 200000 bytes and 1 MiB (content: 8-byte numbered records, so a read
# of the wrong block shows); a sparse file (data, 3 MiB hole, data); a name
# with a space; nested dirs (dir/a/b/c) and an empty dir; hard links with
# nlink 3 (links/target, hl1, hl2) and nlink 2 across directories
# (links/pair, dir/a/pair2); a fast symlink (< 60 bytes), a slow one (> 60
# bytes), a dangling and an absolute one; a fifo, a char device (1,3) and
# a block device (7,0); setuid 04755, sticky 01777, 0600 and 0700 modes;
# uid/gid 1000 and 999 owners; identity files (/etc/machine-id, D-Bus's
# machine-id symlink, SSH host keys, Netdata's registry GUID, status file,
# cloud.d and meta db); and xattrs: user.foo=bar on /etc/hostname,
# security.selinux labels on /etc/machine-id and /etc/ssh, and a 600-byte
# user.big value on /data/xattr-block that cannot fit in the inode and so
# lives in an xattr block.
#
# Images (block size in brackets):
#   ext2.img             mkfs.ext2, 16 MiB [1k]: no journal, no extents,
#                        indirect block maps (direct, single, double).
#   ext3-1k.img          mkfs.ext3 -b 1024, 16 MiB: journal, indirect maps;
#                        /data/triple is sparse with 8 bytes at 70 MiB, past
#                        64 MiB + 268 KiB, so it reaches the triple-indirect
#                        block; /data/mib (1024 blocks) reaches double.
#   ext4-default.img     mkfs.ext4 -b 4096, 16 MiB: this machine's default
#                        features (has_journal, extent, huge_file, flex_bg,
#                        metadata_csum, 64bit, dir_nlink, extra_isize) with
#                        the 4 KiB blocks of any disk >= 512 MiB.
#   ext4-1k.img          mkfs.ext4 -b 1024, 16 MiB: the defaults of a small
#                        filesystem; two block groups.
#   ext4-orphan-seed.img -O orphan_file,metadata_csum_seed [1k]: the
#                        features e2fsprogs >= 1.47.1 turns on by default.
#   ext4-nocsum.img      -O ^metadata_csum,uninit_bg [1k]: group
#                        descriptors with crc16 (gdt_csum), no metadata
#                        checksums.
#   ext4-no64bit.img     -O ^64bit [1k]: 32-byte group descriptors.
#   ext4-inline.img      -O inline_data [1k]: files < 60 bytes and small
#                        dirs (tiny/, tiny/d1) stored inline in the inode,
#                        some spilling into the system.data xattr.
#   ext4-htree.img       -N 8192 [1k]: /big holds 5000 entries with 40-byte
#                        names, indexed by e2fsck -D into a two-level htree
#                        (indirect_levels 1); a few entries have data.
#   ext4-fragmented.img  [1k]: /frag (300 KiB) written by debugfs into the
#                        2-block holes left by removing every other file of
#                        /fill, so its extent tree has depth 1 with ~150
#                        extents; /striped has data in every other block
#                        (sparse, ~40 extents, depth 1).
#   ext4-links-xattr.img [1k]: more hard links (nlink 2 and 3 across dirs),
#                        fast/slow symlinks, xattrs on files, a dir and a
#                        symlink, several names per inode, values in the
#                        inode and in xattr blocks.
#   ext3-128.img         mkfs.ext3 -I 128 [1k]: 128-byte inodes as on old
#                        installs: no extra fields (second-only times, no
#                        crtime), every xattr in an xattr block.
#   ext4-bigalloc.img    -O bigalloc -C 16384 [1k]: 16 KiB clusters; readable,
#                        and refused for writing (ErrUnsupportedFeature).
#   ext4-metabg.img      -g 512 -O meta_bg,^resize_inode [1k]: 32 groups of
#                        512 blocks in two meta groups, so group 16's
#                        descriptors live in group 16; files span groups.
#   ext4-bench.img       [1k]: /data/f000 .. /data/f199, 4 KiB each, for the
#                        delete benchmark (scripts/bench.d/10-ext4-delete.sh).
# Refusal fixtures (imgprep must not write them; e2fsck -fn is not clean):
#   ext4-needs-recovery.img   a transaction left in the journal by debugfs
#                        jo / jw / jc: needs_recovery set, journal s_start
#                        non-zero.
#   ext4-unknown-feature.img  ro_compat bit 0x80000000 (unknown to every
#                        implementation) set: safe to read, not to write.
#   ext4-unknown-incompat.img incompat bit 0x80000000 set: not even safe to
#                        read.
#   ext4-error-state.img s_state has EXT2_ERROR_FS (2) set, as the kernel
#                        leaves it after an ext4_error().
#   ext4-orphan-file.img -O orphan_file: /orphan-victim unlinked with
#                        links_count 0 and its inode number in the first
#                        slot of the orphan file, ro_compat orphan_present
#                        set (the orphan file's block checksum is left
#                        stale).
#   ext4-orphans.img     s_last_orphan points at inode of /orphan-victim,
#                        unlinked with links_count 0 (the orphan list a
#                        crash between unlink and close leaves).
set -euo pipefail
: "${OUT:?run through testdata/images/generate.sh}"
export PATH=$PATH:/usr/sbin:/sbin
export LC_ALL=C TZ=UTC
export E2FSPROGS_FAKE_TIME=${E2FSPROGS_FAKE_TIME:-1700000000}
T=1700000000
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

UUID=6f1c2c4e-2d0a-4b7e-9a51-0e5d2b7f4a01
SEED=3b8e1a52-7c44-4f0e-8d2b-5a9c6e1f0d02

# gen N: N deterministic bytes of 8-byte numbered records.
gen() {
  seq -f '%07g' 1 $((($1 + 7) / 8)) >"$work/gen.tmp"
  truncate -s "$1" "$work/gen.tmp"
  cat "$work/gen.tmp"
}

# pin DIR: fixed mtime/atime on every path of DIR (not following symlinks).
pin() { find "$1" -depth -exec touch -h -d @$T {} +; }

# common DIR: the common source tree described in the header.
common() {
  local s=$1
  mkdir -p "$s"/{etc/ssh,var/lib/dbus,var/lib/netdata/registry,var/lib/netdata/cloud.d,var/cache/netdata}
  mkdir -p "$s"/{data,dir/a/b/c,dir/x,links,dev,tmp,usr/bin,home/user}
  printf '0123456789abcdef0123456789abcdef\n' >"$s/etc/machine-id"
  printf 'template\n' >"$s/etc/hostname"
  printf '/dev/vda1 / ext4 defaults 0 1\n' >"$s/etc/fstab"
  printf -- '-----BEGIN OPENSSH PRIVATE KEY-----\nZmFrZSBrZXkgZm9yIHRlc3Rz\n-----END OPENSSH PRIVATE KEY-----\n' >"$s/etc/ssh/ssh_host_ed25519_key"
  chmod 0600 "$s/etc/ssh/ssh_host_ed25519_key"
  printf 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGZha2U= root@template\n' >"$s/etc/ssh/ssh_host_ed25519_key.pub"
  ln -s /etc/machine-id "$s/var/lib/dbus/machine-id"
  printf '4a1b9c2d-1111-2222-3333-444455556666' >"$s/var/lib/netdata/registry/netdata.public.unique.id"
  printf '{"agent":{"id":"4a1b9c2d-1111-2222-3333-444455556666"}}\n' >"$s/var/lib/netdata/status-netdata.json"
  printf 'c1a1b2c3-0000-4000-8000-000000000001\n' >"$s/var/lib/netdata/cloud.d/claimed_id"
  gen 8192 >"$s/var/cache/netdata/netdata-meta.db"
  chown -R 999:999 "$s/var/lib/netdata" "$s/var/cache/netdata"
  : >"$s/data/empty"
  printf 'x' >"$s/data/one"
  gen 1024 >"$s/data/block1k"
  gen 4096 >"$s/data/block4k"
  gen 200000 >"$s/data/many"
  gen 1048576 >"$s/data/mib"
  gen 4096 >"$s/data/sparse"
  gen 4096 | dd of="$s/data/sparse" bs=4096 seek=768 conv=notrunc status=none
  printf 'a name with a space\n' >"$s/data/with space"
  printf 'carries a big xattr\n' >"$s/data/xattr-block"
  printf 'deep\n' >"$s/dir/a/b/c/deep.txt"
  printf 'sibling\n' >"$s/dir/a/sibling"
  printf 'three names\n' >"$s/links/target"
  ln "$s/links/target" "$s/links/hl1"
  ln "$s/links/target" "$s/links/hl2"
  printf 'two names\n' >"$s/links/pair"
  ln "$s/links/pair" "$s/dir/a/pair2"
  ln -s ../data/one "$s/links/fast"
  ln -s /etc/../etc/../etc/../etc/../etc/../etc/../etc/../etc/../etc/hostname "$s/links/slow"
  ln -s /nonexistent/target "$s/links/dangling"
  ln -s /etc/machine-id "$s/links/abs"
  mkfifo "$s/dev/fifo"
  mknod "$s/dev/null" c 1 3
  mknod "$s/dev/loop0" b 7 0
  chmod 1777 "$s/tmp"
  printf '#!/bin/sh\necho su\n' >"$s/usr/bin/su-like"
  chmod 04755 "$s/usr/bin/su-like"
  printf 'export PS1=x\n' >"$s/home/user/.profile"
  chmod 0700 "$s/home/user"
  chown -R 1000:1000 "$s/home/user"
  chmod 0755 "$s"
}

# fixctime IMG SRC: pin every inode's ctime (and the root's and
# lost+found's times) with debugfs, as mkfs -d copies the host ctime.
fixctime() {
  local img=$1 src=$2 cmds=$work/ctime.cmds
  : >"$cmds"
  (cd "$src" && find . -print | LC_ALL=C sort) | while IFS= read -r p; do
    p=${p#.}
    [ -z "$p" ] && p=/
    printf 'sif "%s" ctime @%s\n' "$p" "$T" >>"$cmds"
  done
  printf 'sif /lost+found ctime @%s\nsif /lost+found mtime @%s\nsif /lost+found atime @%s\n' $T $T $T >>"$cmds"
  debugfs -w -f "$cmds" "$img" >/dev/null 2>"$work/err"
  if grep -v '^debugfs ' "$work/err" | grep -q .; then cat "$work/err" >&2; exit 1; fi
}

# dbg IMG CMD...: run debugfs -w commands (one per argument) and fail on
# any message on stderr.
dbg() {
  local img=$1; shift
  printf '%s\n' "$@" >"$work/dbg.cmds"
  debugfs -w -f "$work/dbg.cmds" "$img" >/dev/null 2>"$work/err"
  if grep -v '^debugfs ' "$work/err" | grep -q .; then
    echo "debugfs on $img:" >&2; cat "$work/err" >&2; exit 1
  fi
}

# common_xattrs IMG: the xattrs of the common tree.
common_xattrs() {
  gen 600 >"$work/big.val"
  dbg "$1" \
    'ea_set /etc/hostname user.foo bar' \
    'ea_set /etc/machine-id security.selinux system_u:object_r:machineid_t:s0' \
    'ea_set /etc/ssh security.selinux system_u:object_r:sshd_key_t:s0' \
    "ea_set -f $work/big.val /data/xattr-block user.big"
}

# mk NAME SIZE SRC MKFS ARGS...: make $OUT/NAME from SRC.
mk() {
  local name=$1 size=$2 src=$3 mkfs=$4; shift 4
  pin "$src"
  rm -f "$OUT/$name"
  "$mkfs" -q -F -U "$UUID" -E "hash_seed=$SEED" -L "$(printf %.16s "${name%.img}")" "$@" -d "$src" "$OUT/$name" "$size" >/dev/null
  fixctime "$OUT/$name" "$src"
}

# clean IMG: fail unless e2fsck -fn finds nothing to fix.
clean() {
  if ! e2fsck -fn "$1" >"$work/fsck.out" 2>&1; then
    echo "e2fsck -fn $1 is not clean:" >&2; cat "$work/fsck.out" >&2; exit 1
  fi
}

# Common tree, made once and copied.
common "$work/common"
tree() { rm -rf "$work/$1"; cp -a "$work/common" "$work/$1"; }

# ext2, ext3, ext4 variants of the common tree.
tree s; mk ext2.img 16M "$work/s" mkfs.ext2
common_xattrs "$OUT/ext2.img"

tree s
truncate -s $((70 * 1024 * 1024)) "$work/s/data/triple"
printf 'TRIPLE!\n' | dd of="$work/s/data/triple" bs=1 seek=$((70 * 1024 * 1024)) conv=notrunc status=none
mk ext3-1k.img 16M "$work/s" mkfs.ext3 -b 1024
common_xattrs "$OUT/ext3-1k.img"

tree s; mk ext4-default.img 16M "$work/s" mkfs.ext4 -b 4096
common_xattrs "$OUT/ext4-default.img"
tree s; mk ext4-1k.img 16M "$work/s" mkfs.ext4 -b 1024
common_xattrs "$OUT/ext4-1k.img"
tree s; mk ext4-orphan-seed.img 16M "$work/s" mkfs.ext4 -O orphan_file,metadata_csum_seed
common_xattrs "$OUT/ext4-orphan-seed.img"
tree s; mk ext4-nocsum.img 16M "$work/s" mkfs.ext4 -O ^metadata_csum,uninit_bg
common_xattrs "$OUT/ext4-nocsum.img"
tree s; mk ext4-no64bit.img 16M "$work/s" mkfs.ext4 -O ^64bit
common_xattrs "$OUT/ext4-no64bit.img"

# Inline data: tiny files and tiny dirs.
tree s
mkdir -p "$work/s/tiny/d1" "$work/s/tiny/d2"
printf 'inline\n' >"$work/s/tiny/small"
gen 59 >"$work/s/tiny/fifty-nine"
gen 100 >"$work/s/tiny/hundred"
printf 'in d1\n' >"$work/s/tiny/d1/f"
ln -s ../small "$work/s/tiny/d2/link"
mk ext4-inline.img 16M "$work/s" mkfs.ext4 -O inline_data
common_xattrs "$OUT/ext4-inline.img"

# htree: 5000 entries with long names, indexed by e2fsck -D.
rm -rf "$work/h"; mkdir -p "$work/h/big" "$work/h/etc"
printf '0123456789abcdef0123456789abcdef\n' >"$work/h/etc/machine-id"
(cd "$work/h/big" && for i in $(seq -w 0 4999); do
  if [ $((10#$i % 500)) = 0 ]; then printf 'entry %s\n' "$i" >"entry-with-a-fairly-long-name-$i"; else : >"entry-with-a-fairly-long-name-$i"; fi
done)
mk ext4-htree.img 16M "$work/h" mkfs.ext4 -N 8192
e2fsck -fyD "$OUT/ext4-htree.img" >/dev/null 2>&1 || [ $? -le 1 ]
# e2fsck stamps the host clock into s_wtime and s_lastcheck: pin them.
dbg "$OUT/ext4-htree.img" "sif /big ctime @$T" "sif /big mtime @$T" "sif /big atime @$T" \
  "ssv wtime @$T" "ssv lastcheck @$T"

# Fragmented: fill, free every other file, write /frag into the holes.
rm -rf "$work/f"; mkdir -p "$work/f/fill" "$work/f/etc"
printf '0123456789abcdef0123456789abcdef\n' >"$work/f/etc/machine-id"
for i in $(seq -w 0 299); do gen 2048 >"$work/f/fill/f$i"; done
gen 4096 >"$work/f/striped"
for i in $(seq 2 2 80); do gen 1024 | dd of="$work/f/striped" bs=1024 seek="$i" conv=notrunc status=none; done
mk ext4-fragmented.img 16M "$work/f" mkfs.ext4
gen 307200 >"$work/frag.src"
touch -d @$T "$work/frag.src"
rms=(); for i in $(seq -w 1 2 299); do rms+=("rm /fill/f$i"); done
dbg "$OUT/ext4-fragmented.img" "${rms[@]}" "write $work/frag.src /frag" \
  "sif /frag ctime @$T" "sif /fill ctime @$T" "sif /fill mtime @$T" "sif / ctime @$T" "sif / mtime @$T"

# Links and xattrs.
rm -rf "$work/l"; mkdir -p "$work/l"/{a,b,c,etc}
printf '0123456789abcdef0123456789abcdef\n' >"$work/l/etc/machine-id"
printf 'one inode, three names\n' >"$work/l/a/three"
ln "$work/l/a/three" "$work/l/b/three-b"
ln "$work/l/a/three" "$work/l/c/three-c"
printf 'one inode, two names\n' >"$work/l/a/two"
ln "$work/l/a/two" "$work/l/a/two-again"
ln -s three "$work/l/a/fast"
ln -s ../a/../b/../c/../a/../b/../c/../a/../b/../c/../a/three-and-more-than-sixty-bytes "$work/l/a/slow-dangling"
ln -s ../a/../b/../c/../a/../b/../c/../a/../b/../c/../a/../b/../c/../a/three "$work/l/b/slow"
printf 'xattrs\n' >"$work/l/a/inode-xattr"
printf 'xattrs\n' >"$work/l/a/block-xattr"
printf 'xattrs\n' >"$work/l/a/many-xattrs"
mk ext4-links-xattr.img 16M "$work/l" mkfs.ext4
gen 700 >"$work/v700"; gen 300 >"$work/v300"; printf 'bin\0ary\377\n' >"$work/vbin"
dbg "$OUT/ext4-links-xattr.img" \
  'ea_set /a/inode-xattr user.foo bar' \
  'ea_set /a/inode-xattr security.selinux system_u:object_r:etc_t:s0' \
  "ea_set -f $work/v700 /a/block-xattr user.big" \
  'ea_set /a/block-xattr security.selinux system_u:object_r:etc_t:s0' \
  'ea_set /a/many-xattrs user.a 1' 'ea_set /a/many-xattrs user.b 22' \
  "ea_set -f $work/v300 /a/many-xattrs user.c" "ea_set -f $work/vbin /a/many-xattrs trusted.bin" \
  'ea_set /a/three security.selinux system_u:object_r:etc_t:s0' \
  'ea_set /a/fast security.selinux system_u:object_r:etc_t:s0' \
  'ea_set /b security.selinux system_u:object_r:etc_t:s0' \
  'ea_set /etc/machine-id security.selinux system_u:object_r:machineid_t:s0'

# 128-byte inodes and bigalloc.
tree s; mk ext3-128.img 16M "$work/s" mkfs.ext3 -I 128
common_xattrs "$OUT/ext3-128.img"
tree s; mk ext4-bigalloc.img 16M "$work/s" mkfs.ext4 -O bigalloc -C 16384
common_xattrs "$OUT/ext4-bigalloc.img"

tree s; mk ext4-metabg.img 16M "$work/s" mkfs.ext4 -b 1024 -g 512 -O meta_bg,^resize_inode
common_xattrs "$OUT/ext4-metabg.img"

# Benchmark: 200 removable files.
rm -rf "$work/b"; mkdir -p "$work/b/data" "$work/b/etc"
printf '0123456789abcdef0123456789abcdef\n' >"$work/b/etc/machine-id"
for i in $(seq -w 0 199); do gen 4096 >"$work/b/data/f$i"; done
mk ext4-bench.img 16M "$work/b" mkfs.ext4

for img in "$OUT"/*.img; do clean "$img"; done

# Refusal fixtures, made from the common tree on ext4 1k.
tree s; mk ext4-needs-recovery.img 16M "$work/s" mkfs.ext4
gen 1024 >"$work/jblock"
dbg "$OUT/ext4-needs-recovery.img" 'jo' "jw -b 5000 $work/jblock" 'jc'
# jc stamps the host clock into the commit block (commit_sec at 0x30,
# commit_nsec at 0x38, big-endian; this journal has no checksums): pin it.
img=$OUT/ext4-needs-recovery.img
jblk=$(debugfs -R logdump "$img" 2>/dev/null | sed -n 's/.*(commit block) at block \([0-9]*\).*/\1/p')
pblk=$(debugfs -R "bmap <8> $jblk" "$img" 2>/dev/null)
printf "$(printf '\\x%02x' 0 0 0 0 $((T >> 24 & 255)) $((T >> 16 & 255)) $((T >> 8 & 255)) $((T & 255)) 0 0 0 0)" |
  dd of="$img" bs=1 seek=$((pblk * 1024 + 0x30)) conv=notrunc status=none

# setbit IMG FIELD OFFSET BIT: OR BIT into the superblock's 32-bit FIELD
# (at OFFSET within the superblock) with debugfs ssv, which also updates
# the superblock checksum.
setbit() {
  local cur
  cur=$(od -An -tu4 -j $((1024 + $3)) -N4 "$1" | tr -d ' ')
  dbg "$1" "ssv $2 $(printf '0x%x' $((cur | $4)))"
}
tree s; mk ext4-unknown-feature.img 16M "$work/s" mkfs.ext4
setbit "$OUT/ext4-unknown-feature.img" feature_ro_compat 0x64 0x80000000
tree s; mk ext4-unknown-incompat.img 16M "$work/s" mkfs.ext4
setbit "$OUT/ext4-unknown-incompat.img" feature_incompat 0x60 0x80000000

tree s; mk ext4-error-state.img 16M "$work/s" mkfs.ext4
dbg "$OUT/ext4-error-state.img" 'ssv state 3'

tree s; printf 'orphaned\n' >"$work/s/orphan-victim"
mk ext4-orphan-file.img 16M "$work/s" mkfs.ext4 -O orphan_file
img=$OUT/ext4-orphan-file.img
ino=$(debugfs -R 'stat /orphan-victim' "$img" 2>/dev/null | sed -n 's/^Inode: \([0-9]*\).*/\1/p')
oino=$(dumpe2fs -h "$img" 2>/dev/null | sed -n 's/^Orphan file inode: *//p')
oblk=$(debugfs -R "bmap <$oino> 0" "$img" 2>/dev/null)
dbg "$img" 'sif /orphan-victim links_count 0' 'unlink /orphan-victim' "sif / ctime @$T" "sif / mtime @$T"
printf "$(printf '\\x%02x' $((ino & 255)) $((ino >> 8 & 255)) $((ino >> 16 & 255)) $((ino >> 24 & 255)))" |
  dd of="$img" bs=1 seek=$((oblk * 1024)) conv=notrunc status=none
setbit "$img" feature_ro_compat 0x64 0x10000

tree s; printf 'orphaned\n' >"$work/s/orphan-victim"
mk ext4-orphans.img 16M "$work/s" mkfs.ext4
ino=$(debugfs -R 'stat /orphan-victim' "$OUT/ext4-orphans.img" 2>/dev/null | sed -n 's/^Inode: \([0-9]*\).*/\1/p')
dbg "$OUT/ext4-orphans.img" 'sif /orphan-victim links_count 0' \
  'unlink /orphan-victim' "ssv last_orphan $ino" "sif / ctime @$T" "sif / mtime @$T"
