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

# overlay_cmd PATH: a fresh linked overlay of $tmp/master.qcow2 at PATH.
overlay_cmd() {
  local ov=$1; shift
  rm -f "$ov"
  qemu-img create -q -f qcow2 -F qcow2 -b "$tmp/master.qcow2" "$ov"
}

files=$(debugfs -R 'stats' "$master?offset=68157440" 2>/dev/null | awk -F: '/^Inode count/ {c=$2} /^Free inodes/ {f=$2} END {print c-f}')
echo "realistic guest: $(du -h --apparent-size "$master" | cut -f1) GPT, $files inodes in use on the root"
run_n "imgprep sysprep (default set) realistic raw" "$master" "$bin" sysprep -q @
r=$(cat "$tmp/last") rc=$(cat "$tmp/lastcpu")
# The linked-clone case: a fresh overlay each run, made before the clock
# starts.
q=0 qc=0
if command -v qemu-img >/dev/null; then
  cat >"$tmp/ov.sh" <<EOS
#!/bin/sh
exec "$bin" sysprep -q "$tmp/ov.qcow2"
EOS
  times=() cpus=() rss=0
  for _ in $(seq "$N"); do
    overlay_cmd "$tmp/ov.qcow2"
    t0=$(date +%s%N)
    /usr/bin/time -f '%M %U %S' -o "$tmp/rss" sh "$tmp/ov.sh" >/dev/null 2>"$tmp/err" || { cat "$tmp/err"; exit 1; }
    t1=$(date +%s%N)
    read -r m u s <<<"$(tail -1 "$tmp/rss")"
    [ "$m" -gt "$rss" ] && rss=$m
    cpus+=("$(echo "($u + $s) * 1000000 / 1" | bc)")
    times+=($(((t1 - t0) / 1000)))
  done
  q=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  qc=$(printf '%s\n' "${cpus[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  printf '%-58s median %8.1f ms  cpu %7.1f ms  peak RSS %6s KiB  (N=%d)\n' "imgprep sysprep (default set) realistic qcow2 overlay" \
    "$(echo "$q/1000" | bc -l)" "$(echo "$qc/1000" | bc -l)" "$rss" "$N"
fi
plan=$(peer_plan realistic "$master")
run_n "peer: debugfs/mdel, same changes ($plan)" "$master" bash "$tmp/realistic.sh" @
peer_check realistic "$tmp/copy"
p=$(cat "$tmp/last") pc=$(cat "$tmp/lastcpu")
echo "ratio realistic default set, wall: imgprep(raw)/debugfs = $(ratio "$r" "$p"), imgprep(overlay)/debugfs = $(ratio "$q" "$p")"
echo "ratio realistic default set, cpu:  imgprep(raw)/debugfs = $(ratio "$rc" "$pc"), imgprep(overlay)/debugfs = $(ratio "$qc" "$pc")"
echo "targets: <= 50 ms wall, <= 30720 KiB RSS, ratio <= 1.00"
