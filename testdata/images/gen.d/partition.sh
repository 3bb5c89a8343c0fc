#!/usr/bin/env bash
# Partition-table fixtures for pkg/partition and pkg/image (images part-*).
# Run through testdata/images/generate.sh, which sets $OUT and fixes time.
#
#   part-gpt.raw     16 MiB, GPT by sgdisk, 512-byte sectors, disk GUID
#                    5452574f-2211-4433-8855-667788990011, three named
#                    partitions:
#                      1 "EFI System" ef00  2048..6143
#                      2 "root"       8300  6144..22527 (ext4 inside, 8 MiB,
#                                     UUID 0e3f3d0c-7a59-4f5e-9b1a-2c1d5e0f1a01)
#                      3 "home"       8302  22528..32734 (to the end)
#   part-mbr.raw     16 MiB, MBR (dos) by sfdisk, label-id 0x1234abcd:
#                      1 83 4 MiB, 2 82 2 MiB, 3 extended (05) holding
#                      5 83 3 MiB and 6 83 the rest of the extended one.
#   part-gpt-4k.raw  32 MiB, GPT with 4096-byte logical sectors, by fdisk -b
#                    4096 (sgdisk and sfdisk always use 512 on a file), disk
#                    GUID 5a0e4c43-0d47-4f1b-9e6a-3c2d6e7f8091, partitions
#                    1 "root4k" 8 MiB and 2 "data4k" the rest.
#   part-none.raw    8 MiB, no partition table: an ext4 filesystem written
#                    straight to the disk (UUID 0e3f3d0c-7a59-4f5e-9b1a-2c1d5e0f1a02).
set -euo pipefail
: "${OUT:?run through testdata/images/generate.sh}"
export PATH=$PATH:/usr/sbin:/sbin
seed=5e7d2a40-1c9b-4e3a-8f6d-0b1a2c3d4e5f

# part-gpt.raw
g=$OUT/part-gpt.raw
truncate -s 16M "$g"
sgdisk -o -U 5452574f-2211-4433-8855-667788990011 \
  -n 1:2048:6143  -t 1:ef00 -c '1:EFI System' -u 1:c12a7328-f81f-11d2-ba4b-00a0c93ec001 \
  -n 2:6144:22527 -t 2:8300 -c 2:root         -u 2:0fc63daf-8483-4772-8e79-3d69d8477d02 \
  -n 3:22528:0    -t 3:8302 -c 3:home         -u 3:933ac7e1-2eb4-4f13-b844-0e14e2aef903 \
  "$g" >/dev/null
# mke2fs zaps and discards the whole target file, so the filesystem is
# built on its own and copied into partition 2.
fs=$(mktemp)
trap 'rm -f "$fs"' EXIT
truncate -s 8M "$fs"
mkfs.ext4 -q -F -U 0e3f3d0c-7a59-4f5e-9b1a-2c1d5e0f1a01 -E hash_seed=$seed -L gptroot "$fs"
dd if="$fs" of="$g" bs=512 seek=6144 conv=notrunc,sparse status=none

# part-mbr.raw
m=$OUT/part-mbr.raw
truncate -s 16M "$m"
sfdisk -q "$m" <<'EOF'
label: dos
label-id: 0x1234abcd
unit: sectors

start=2048, size=8192, type=83
start=10240, size=4096, type=82
start=14336, size=18432, type=5
start=16384, size=6144, type=83
start=24576, type=83
EOF

# part-gpt-4k.raw
k=$OUT/part-gpt-4k.raw
truncate -s 32M "$k"
printf '%s\n' g n 1 '' +8M n 2 '' '' \
  x i 5A0E4C43-0D47-4F1B-9E6A-3C2D6E7F8091 \
  u 1 11111111-2222-4333-8444-555555555501 \
  u 2 11111111-2222-4333-8444-555555555502 \
  n 1 root4k n 2 data4k r w |
  fdisk -b 4096 "$k" >/dev/null 2>&1

# part-none.raw
n=$OUT/part-none.raw
truncate -s 8M "$n"
mkfs.ext4 -q -F -U 0e3f3d0c-7a59-4f5e-9b1a-2c1d5e0f1a02 -E hash_seed=$seed -L bare "$n"
