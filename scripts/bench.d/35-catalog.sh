#!/usr/bin/env bash
# The whole default catalogue on the catalog fixture
# (testdata/images/catalog-disk.raw: ext4 root and /var, vfat ESP), end to
# end through bin/imgprep on N fresh copies: median wall time and peak RSS.
# Peer: virt-sysprep when installed; otherwise debugfs -w making the same
# ext4 changes (taken from imgprep's own dry-run report: rm of every removed
# file, rmdir of emptied directories, punch+size 0 for truncations, rm+write
# for edits) on the two ext4 partitions, and mdel on the ESP when mtools is
# installed: the tool-only lower bound (no globbing, no fstab, no symlink
# rules, no commit journal). See scripts/bench-lib.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=$PATH:/usr/sbin:/sbin LC_ALL=C
N=${N:-10}
bin=bin/imgprep
[ -x "$bin" ] || go build -o "$bin" ./cmd/imgprep
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
zstd -q -d -f testdata/images/catalog-disk.raw.zst -o "$tmp/master.raw"
. scripts/bench-lib.sh

ndefault=$("$bin" list-operations --json | python3 -c 'import json,sys; print(sum(1 for o in json.load(sys.stdin) if o.get("default")))' 2>/dev/null || echo "?")
run_n "imgprep sysprep (default catalogue, $ndefault operations)" "$tmp/master.raw" "$bin" sysprep -q @
mine=$(cat "$tmp/last")

if command -v virt-sysprep >/dev/null 2>&1; then
  run_n "virt-sysprep (default operations)" "$tmp/master.raw" virt-sysprep -q -a @
  peer=$(cat "$tmp/last"); name=virt-sysprep
else
  plan=$(peer_plan catalog "$tmp/master.raw")
  run_n "debugfs -w/mdel, same changes ($plan)" "$tmp/master.raw" bash "$tmp/catalog.sh" @
  peer_check catalog "$tmp/copy"
  peer=$(cat "$tmp/last"); name=debugfs
fi
echo "ratio imgprep/$name: $(ratio "$mine" "$peer")"
