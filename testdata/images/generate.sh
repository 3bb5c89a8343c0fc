#!/usr/bin/env bash
# Regenerates every committed fixture image with the real tools
# (mkfs.ext2/3/4 -d, debugfs -w, sgdisk, sfdisk, qemu-img).
#
# Each testdata/images/gen.d/*.sh script builds its own images into $OUT
# (uncompressed) and documents them in its header. This driver then
# compresses each image to NAME.zst here and records the sha256 of every
# uncompressed image in SHA256SUMS. Generation is deterministic (fixed
# UUIDs, hash seeds and times), so `generate.sh --check` regenerates into a
# temporary directory and reports any drift from what is committed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export PATH=$PATH:/usr/sbin:/sbin
check=0
[ "${1:-}" = "--check" ] && check=1
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
export OUT
# Deterministic time for e2fsprogs and file trees.
export E2FSPROGS_FAKE_TIME=1700000000
export SOURCE_DATE_EPOCH=1700000000
export TZ=UTC LC_ALL=C
for s in "$here"/gen.d/*.sh; do
  echo "generate: $(basename "$s")" >&2
  bash "$s"
done
( cd "$OUT" && sha256sum $(ls | sort) ) > "$OUT/.sums"
if [ $check = 1 ]; then
  if diff -u "$here/SHA256SUMS" "$OUT/.sums"; then
    echo "fixtures: no drift"
  else
    echo "fixtures: drift (regenerate with make fixtures)"; exit 1
  fi
  exit 0
fi
for f in $(cd "$OUT" && ls); do
  zstd -q -19 -f "$OUT/$f" -o "$here/$f.zst"
done
cp "$OUT/.sums" "$here/SHA256SUMS"
echo "fixtures written to $here" >&2
