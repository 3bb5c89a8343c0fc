#!/usr/bin/env bash
# sysprep of the GPT guest fixture (ext4 root and /var, vfat ESP), end to
# end through bin/imgprep (built by make bench), on N fresh copies: median
# wall time and peak RSS, in qcow2 and raw.
#   like for like: --enable machine-id,netdata, against a peer making the
#     same changes (those of imgprep's own dry-run report);
#   the full default set (every default operation), against a peer making
#     all of its changes the same way.
# Peer: virt-sysprep with the same operations when installed; otherwise
# the tool-only lower bound: debugfs -w per ext4 partition (and mdel for
# the ESP when mtools is installed): no qcow2, no fstab, no globbing, no
# symlink rules, no commit journal.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=$PATH:/usr/sbin:/sbin LC_ALL=C
N=${N:-15}
bin=bin/imgprep
[ -x "$bin" ] || go build -o "$bin" ./cmd/imgprep
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
zstd -q -d -f testdata/images/disk-gpt.qcow2.zst -o "$tmp/master.qcow2"
zstd -q -d -f testdata/images/disk-gpt.raw.zst -o "$tmp/master.raw"
. scripts/bench-lib.sh

# bench_set NAME LABEL VIRT_OPS IMGPREP_ARGS...: imgprep (qcow2, raw) and
# its peer; VIRT_OPS is virt-sysprep's --operations ("": its defaults).
bench_set() {
  local name=$1 label=$2 virt_ops=$3; shift 3
  run_n "imgprep sysprep $label disk-gpt.qcow2" "$tmp/master.qcow2" "$bin" sysprep -q "$@" @
  local q; q=$(cat "$tmp/last")
  run_n "imgprep sysprep $label disk-gpt.raw" "$tmp/master.raw" "$bin" sysprep -q "$@" @
  local r; r=$(cat "$tmp/last")
  local p peer
  if command -v virt-sysprep >/dev/null 2>&1; then
    local vops=()
    [ -n "$virt_ops" ] && vops=(--operations "$virt_ops")
    run_n "virt-sysprep $label" "$tmp/master.qcow2" virt-sysprep -q "${vops[@]}" -a @
    p=$(cat "$tmp/last"); peer=virt-sysprep
  else
    local plan; plan=$(peer_plan "$name" "$tmp/master.raw" "$@")
    run_n "peer: debugfs/mdel, same changes ($plan)" "$tmp/master.raw" bash "$tmp/$name.sh" @
    peer_check "$name" "$tmp/copy"
    p=$(cat "$tmp/last"); peer=debugfs
  fi
  echo "ratio $label: imgprep(qcow2)/$peer = $(ratio "$q" "$p"), imgprep(raw)/$peer = $(ratio "$r" "$p")"
}

bench_set like "--enable machine-id,netdata" machine-id,netdata --enable machine-id,netdata
bench_set defaults "(default set)" ""
