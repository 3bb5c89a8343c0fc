#!/usr/bin/env bash
# Regenerates the committed fixture images with the real tools
# (mkfs.ext2/3/4 -d, debugfs -w, sgdisk, sfdisk, qemu-img).
#
#   generate.sh [--check] [SCRIPT...]
#
# Each testdata/images/gen.d/SCRIPT.sh builds its own images into $OUT
# (uncompressed) and documents them in its header comment. This driver then
# compresses each image to NAME.zst in testdata/images and records the
# sha256 of every uncompressed image in sums/SCRIPT.sha256. Generation is
# deterministic (fixed UUIDs, hash seeds and times), so --check regenerates
# into a temporary directory and reports any drift from what is committed.
# With no SCRIPT, every script in gen.d runs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export PATH=$PATH:/usr/sbin:/sbin
check=0
if [ "${1:-}" = "--check" ]; then check=1; shift; fi
scripts=("$@")
if [ ${#scripts[@]} -eq 0 ]; then
  for s in "$here"/gen.d/*.sh; do scripts+=("$(basename "$s" .sh)"); done
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Deterministic time for e2fsprogs and file trees.
export E2FSPROGS_FAKE_TIME=1700000000
export SOURCE_DATE_EPOCH=1700000000
export TZ=UTC LC_ALL=C
mkdir -p "$here/sums"
rc=0
for name in "${scripts[@]}"; do
  export OUT="$tmp/$name"
  mkdir -p "$OUT"
  echo "generate: $name" >&2
  bash "$here/gen.d/$name.sh"
  # Images listed in $OUT/.bycontent are not byte-reproducible (made by
  # the kernel): their NAME.manifest is checked instead of their bytes.
  ( cd "$OUT" && for f in $(ls | sort); do
      if [ -f .bycontent ] && grep -qxF "$f" .bycontent; then
        echo "by-content  $f"
      else
        sha256sum "$f"
      fi
    done ) > "$tmp/$name.sha256"
  if [ $check = 1 ]; then
    if diff -u "$here/sums/$name.sha256" "$tmp/$name.sha256"; then
      echo "fixtures $name: no drift"
    else
      echo "fixtures $name: drift (regenerate with make fixtures)"; rc=1
    fi
    continue
  fi
  for f in $(cd "$OUT" && ls); do
    zstd -q -19 -f "$OUT/$f" -o "$here/$f.zst"
  done
  cp "$tmp/$name.sha256" "$here/sums/$name.sha256"
done
exit $rc
