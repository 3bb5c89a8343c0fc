#!/usr/bin/env bash
# make bench: runs every scripts/bench.d/*.sh in order. Each prints its
# measurements side by side with the peer tool (debugfs, qemu-img) and the
# ratio imgprep/peer.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/sbin:/sbin
for s in scripts/bench.d/*.sh; do
  [ -e "$s" ] || continue
  echo "== $(basename "$s" .sh)"
  bash "$s"
done
