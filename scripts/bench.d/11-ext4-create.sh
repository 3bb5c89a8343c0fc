#!/usr/bin/env bash
# Creating 100 files of 4 KiB in an ext4 image: imgprep's engine (Go
# benchmark BenchmarkCreate100 in pkg/fs/ext4: open, 100 WriteFiles into
# /data, Sync) against debugfs -w -f with the same 100 "write" requests,
# each on a fresh copy of testdata/images/ext4-bench.img (the copy is not
# timed). Prints best and median of REPS runs each, and the ratio
# imgprep/debugfs.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=$PATH:/usr/sbin:/sbin LC_ALL=C
REPS=${REPS:-20}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

zstd -q -d -c testdata/images/ext4-bench.img.zst >"$tmp/bench.img"
head -c 4096 /dev/urandom >"$tmp/payload"
for i in $(seq 0 99); do printf 'write %s /data/new%03d\n' "$tmp/payload" "$i"; done >"$tmp/cmds"

# stats FILE: "best median" in ms of the nanosecond samples in FILE.
stats() { sort -n "$1" | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.3f %.3f", a[1]/1e6, m/1e6}'; }

: >"$tmp/debugfs.ns"
for _ in $(seq "$REPS"); do
  cp "$tmp/bench.img" "$tmp/copy.img"
  t0=$(date +%s%N)
  debugfs -w -f "$tmp/cmds" "$tmp/copy.img" >/dev/null 2>&1
  t1=$(date +%s%N)
  echo $((t1 - t0)) >>"$tmp/debugfs.ns"
done
# The last copy must hold the 100 new files, or the comparison is void.
made=$(debugfs -R 'ls -p /data' "$tmp/copy.img" 2>/dev/null | grep -c '/new[0-9][0-9][0-9]/' || true)
[ "$made" = 100 ] || { echo "debugfs made $made files in /data, want 100" >&2; exit 1; }

go test -run '^$' -bench '^BenchmarkCreate100$' -benchtime 1x -count "$REPS" ./pkg/fs/ext4/ >"$tmp/go.out"
awk '/^BenchmarkCreate100/ {for (i = 1; i < NF; i++) if ($(i+1) == "ns/op") print $i}' "$tmp/go.out" >"$tmp/imgprep.ns"
[ -s "$tmp/imgprep.ns" ] || { cat "$tmp/go.out" >&2; exit 1; }

read -r ib im <<<"$(stats "$tmp/imgprep.ns")"
read -r db dm <<<"$(stats "$tmp/debugfs.ns")"
printf 'create 100 files of 4 KiB in a 16 MiB ext4 (%s runs each)\n' "$REPS"
printf '  imgprep (Go engine)  best %8.3f ms  median %8.3f ms\n' "$ib" "$im"
printf '  debugfs -w -f        best %8.3f ms  median %8.3f ms\n' "$db" "$dm"
awk -v i="$im" -v d="$dm" -v ib="$ib" -v db="$db" 'BEGIN {printf "  ratio imgprep/debugfs: median %.3f, best %.3f\n", i/d, ib/db}'
