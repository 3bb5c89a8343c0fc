#!/usr/bin/env bash
# hostile.sh: hostile ext2/ext4 images for issue 5 ("loops end with an
# error", "every size read from the image is bounded"). Each is a small
# partitionless guest (LABEL=root on /, Debian 12 os-release, machine-id,
# SSH host keys, /var/log/syslog, /var/tmp) made with mkfs -d, then patched
# with debugfs -w (sif, ssv, ln) or dd so that the structure a default
# sysprep meets first is the hostile one. Run through the driver:
#
#   bash testdata/images/generate.sh hostile          # regenerate
#   bash testdata/images/generate.sh --check hostile  # check for drift
#
# The ext4 images are made without metadata_csum, so that no checksum
# catches the damage first: what must end each loop is the structure's
# own check. Blocks are 1 KiB; 8 MiB each.
#
#   hostile-extent-loop.img   ext4: /var/log/syslog has a depth-1 extent
#                             tree (sparse, 6 extents); the root in the
#                             inode is patched to depth 2, and the leaf
#                             block to an index node whose one entry
#                             points at that same block.
#   hostile-dir-cycle.img     ext4: /var/tmp/sub/loop is a directory entry
#                             (debugfs ln) for the inode of /var/tmp, an
#                             ancestor: /var/tmp/sub/loop/sub/loop/...
#   hostile-indirect-loop.img ext2: /var/log/syslog (20 KiB, so it has a
#                             single-indirect block) has entry 5 of its
#                             indirect block pointing at the indirect block
#                             itself.
#   hostile-sb-inodes.img     ext4: s_inodes_count 0xfffffff0, far from
#                             groups x inodes_per_group.
#   hostile-sb-groups.img     ext4: s_blocks_count 0xffffffff on an 8 MiB
#                             image: 524288 groups, a descriptor table of
#                             16 MiB, far past the device's end.
#   hostile-dir-reclen0.img   ext4: the first entry (".") of /etc/ssh's
#                             directory block has rec_len 0.
#
# The test of each image's documented error is pkg/fs/ext4/hostile_test.go;
# pkg/sysprep/fault_hostile_test.go runs a default sysprep of each through
# the whole stack and checks the image stays byte-identical.
set -euo pipefail
: "${OUT:?OUT must be set (run through testdata/images/generate.sh)}"
export PATH=$PATH:/usr/sbin:/sbin
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
T=1700000000
UUID=6f1c2c4e-2d0a-4b7e-9a51-0e5d2b7f4a0e
SEED=6f1c2c4e-2d0a-4b7e-9a51-0e5d2b7f4aff

# guest DIR: a minimal Debian guest with what the default operations
# touch.
guest() {
  local d=$1
  rm -rf "$d"
  mkdir -p "$d"/{etc/ssh,usr/lib,tmp,var/log,var/tmp/sub,var/lib/systemd}
  printf 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n' >"$d/usr/lib/os-release"
  ln -s ../usr/lib/os-release "$d/etc/os-release"
  printf 'LABEL=root / ext4 defaults 0 1\n' >"$d/etc/fstab"
  echo hostile >"$d/etc/hostname"
  echo 4c8ab9d6b1d24a0c9e0f3b2a1c5d7e9f >"$d/etc/machine-id"
  printf -- '-----BEGIN OPENSSH PRIVATE KEY-----\nZml4dHVyZQ==\n-----END OPENSSH PRIVATE KEY-----\n' >"$d/etc/ssh/ssh_host_ed25519_key"
  echo 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFixture root@hostile' >"$d/etc/ssh/ssh_host_ed25519_key.pub"
  chmod 600 "$d/etc/ssh/ssh_host_ed25519_key"
  echo 'Nov 14 22:13:20 hostile kernel: line 1' >"$d/var/log/syslog"
  echo 'seed' >"$d/var/lib/systemd/random-seed"
  echo 'scratch' >"$d/var/tmp/sub/file"
  chmod 1777 "$d/tmp" "$d/var/tmp"
}

# stamp DIR: fixed times on the source tree.
stamp() { find "$1" -exec touch -h -d "@$T" {} +; }

# dbg IMG CMD...: debugfs -w requests, failing on any complaint.
dbg() {
  local img=$1; shift
  printf '%s\n' "$@" >"$work/dbg.cmds"
  debugfs -w -f "$work/dbg.cmds" "$img" >/dev/null 2>"$work/err"
  if grep -v '^debugfs ' "$work/err" | grep -q .; then
    echo "hostile.sh: debugfs on $img:" >&2; cat "$work/err" >&2; exit 1
  fi
}

# mk NAME MKFS SRC [OPTS...]: a deterministic filesystem, every inode's
# ctime pinned (mkfs -d copies the host's, which touch cannot set).
mk() {
  local name=$1 mkfs=$2 src=$3; shift 3
  stamp "$src"
  rm -f "$OUT/$name"
  "$mkfs" -q -F -b 1024 -U "$UUID" -L root -E "hash_seed=$SEED,root_owner=0:0" "$@" -d "$src" "$OUT/$name" 8M >/dev/null
  (cd "$src" && find . -mindepth 1 | sed 's|^\.||' | while read -r p; do
    printf 'sif "%s" ctime @%s\n' "$p" "$T"; done) >"$work/ctime.cmds"
  printf 'sif / ctime @%s\n' "$T" >>"$work/ctime.cmds"
  debugfs -w -f "$work/ctime.cmds" "$OUT/$name" >/dev/null 2>&1
  e2fsck -fn "$OUT/$name" >/dev/null 2>&1 || { echo "hostile.sh: $name is not clean before patching" >&2; exit 1; }
}

# put IMG OFFSET HEX: write bytes (given as hex) at a byte offset.
put() { printf '%s' "$3" | xxd -r -p | dd of="$1" bs=1 seek="$2" conv=notrunc status=none; }

# le16/le32 N: little-endian hex.
le16() { printf '%02x%02x' $(($1 & 255)) $((($1 >> 8) & 255)); }
le32() { printf '%s%s' "$(le16 $(($1 & 65535)))" "$(le16 $((($1 >> 16) & 65535)))"; }

NOCSUM=(-O ^metadata_csum,uninit_bg)

# ---- hostile-extent-loop ----------------------------------------------------
guest "$work/e"
: >"$work/e/var/log/syslog"
for i in 0 2 4 6 8 10; do
  printf 'log block %02d\n' "$i" | dd of="$work/e/var/log/syslog" bs=1024 seek="$i" conv=notrunc status=none
done
mk hostile-extent-loop.img mkfs.ext4 "$work/e" "${NOCSUM[@]}"
img=$OUT/hostile-extent-loop.img
# The leaf block: debugfs stat lists it as (ETB0):N.
leaf=$(debugfs -R 'stat /var/log/syslog' "$img" 2>/dev/null | sed -n 's/.*(ETB0):\([0-9]*\).*/\1/p')
[ -n "$leaf" ] || { echo "hostile.sh: /var/log/syslog has no extent index" >&2; exit 1; }
# i_block word 1 is eh_max | eh_depth<<16: depth 1 -> 2.
dbg "$img" "sif /var/log/syslog block[1] $(( (2 << 16) | 4 ))"
# The leaf: header magic f30a, 1 entry, max (1024-12)/12 = 84, depth 1;
# entry: ei_block 0, ei_leaf_lo = the leaf itself, ei_leaf_hi 0.
put "$img" $((leaf * 1024)) "0af3$(le16 1)$(le16 84)$(le16 1)00000000$(le32 0)$(le32 "$leaf")00000000"

# ---- hostile-dir-cycle -------------------------------------------------------
guest "$work/c"
mk hostile-dir-cycle.img mkfs.ext4 "$work/c" "${NOCSUM[@]}"
dbg "$OUT/hostile-dir-cycle.img" "ln /var/tmp /var/tmp/sub/loop" "sif /var/tmp/sub mtime @$T" "sif /var/tmp/sub ctime @$T"

# ---- hostile-indirect-loop ---------------------------------------------------
guest "$work/i"
seq 1 4000 | head -c 20480 >"$work/i/var/log/syslog"
mk hostile-indirect-loop.img mkfs.ext2 "$work/i"
img=$OUT/hostile-indirect-loop.img
ind=$(debugfs -R 'stat /var/log/syslog' "$img" 2>/dev/null | sed -n 's/.*(IND):\([0-9]*\).*/\1/p')
[ -n "$ind" ] || { echo "hostile.sh: /var/log/syslog has no indirect block" >&2; exit 1; }
put "$img" $((ind * 1024 + 5 * 4)) "$(le32 "$ind")"

# ---- hostile-sb-inodes / hostile-sb-groups -----------------------------------
guest "$work/s"
mk hostile-sb-inodes.img mkfs.ext4 "$work/s" "${NOCSUM[@]}"
dbg "$OUT/hostile-sb-inodes.img" "ssv inodes_count 0xfffffff0"
guest "$work/s"
mk hostile-sb-groups.img mkfs.ext4 "$work/s" "${NOCSUM[@]}"
dbg "$OUT/hostile-sb-groups.img" "ssv blocks_count 0xffffffff"

# ---- hostile-dir-reclen0 -----------------------------------------------------
guest "$work/r"
mk hostile-dir-reclen0.img mkfs.ext4 "$work/r" "${NOCSUM[@]}"
img=$OUT/hostile-dir-reclen0.img
blk=$(debugfs -R 'blocks /etc/ssh' "$img" 2>/dev/null | awk '{print $1}')
[ -n "$blk" ] || { echo "hostile.sh: /etc/ssh has no block" >&2; exit 1; }
# rec_len is at byte 4 of the entry.
put "$img" $((blk * 1024 + 4)) "0000"
