#!/usr/bin/env bash
# The default sysprep of a realistic guest (testdata/images/bench-guest.sh:
# 1 GiB GPT, FAT32 ESP, ext4 root and separate ext4 /var, ~9,000 files
# in a Debian 12 layout), end to end through bin/imgprep, on N fresh
# copies: median wall time and peak RSS, raw and as a linked qcow2
# overlay (the clone case); side by side with debugfs -w (and mdel on the
# ESP) making the same changes, those of imgprep's own dry-run report.
# Targets (issue 12): <= 50 ms wall, <= 30 MiB RSS, <= 1.0x debugfs.
# The guest is generated once into bin/bench/ (kept while the generator
# is unchanged).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=$PATH:/usr/sbin:/sbin LC_ALL=C
N=${N:-15}
bin=bin/imgprep
[ -x "$bin" ] || go build -o "$bin" ./cmd/imgprep
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p bin/bench
sum=$(sha256sum testdata/images/bench-guest.sh | cut -c1-16)
master=bin/bench/guest-$sum.raw
if [ ! -e "$master" ]; then
  rm -f bin/bench/guest-*.raw
  bash testdata/images/bench-guest.sh "$master.part" 2>/dev/null && mv "$master.part" "$master"
fi
qemu-img convert -f raw -O qcow2 "$master" "$tmp/master.qcow2"
. scripts/bench-lib.sh

# run_overlay LABEL CMD...: like run_n, on a fresh linked overlay of
# $tmp/master.qcow2 each run (qemu-img create -b, not timed).
run_overlay() {
  local label=$1; shift
  local times=() rss=0 a
  for _ in $(seq "$N"); do
    rm -f "$tmp/ov.qcow2"
    qemu-img create -q -f qcow2 -F qcow2 -b "$tmp/master.qcow2" "$tmp/ov.qcow2"
    local args=()
    for a in "$@"; do args+=("${a//@/$tmp/ov.qcow2}"); done
    local t0 t1 r
    t0=$(date +%s%N)
    /usr/bin/time -f %M -o "$tmp/rss" "${args[@]}" >/dev/null 2>"$tmp/err" || { cat "$tmp/err"; return 1; }
    t1=$(date +%s%N)
    r=$(tail -1 "$tmp/rss"); [ "$r" -gt "$rss" ] && rss=$r
    times+=($(((t1 - t0) / 1000)))
  done
  local med
  med=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  printf '%-58s median %8.1f ms   peak RSS %6s KiB   (N=%d)\n' "$label" "$(echo "$med/1000" | bc -l)" "$rss" "$N"
  echo "$med" >"$tmp/last"
}

files=$(debugfs -R 'stats' "$master?offset=68157440" 2>/dev/null | awk -F: '/^Inode count/ {c=$2} /^Free inodes/ {f=$2} END {print c-f}')
echo "realistic guest: $(du -h --apparent-size "$master" | cut -f1) GPT, $files inodes in use on the root"
run_n "imgprep sysprep (default set) realistic raw" "$master" "$bin" sysprep -q @
r=$(cat "$tmp/last")
run_overlay "imgprep sysprep (default set) realistic qcow2 overlay" "$bin" sysprep -q @
q=$(cat "$tmp/last")
plan=$(peer_plan realistic "$master")
run_n "peer: debugfs/mdel, same changes ($plan)" "$master" bash "$tmp/realistic.sh" @
peer_check realistic "$tmp/copy"
p=$(cat "$tmp/last")
echo "ratio realistic default set: imgprep(raw)/debugfs = $(ratio "$r" "$p"), imgprep(overlay)/debugfs = $(ratio "$q" "$p")"
echo "targets: <= 50 ms wall, <= 30720 KiB RSS, ratio <= 1.00"
