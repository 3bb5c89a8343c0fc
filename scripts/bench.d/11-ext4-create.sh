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
. scripts/bench-lib.sh

zstd -q -d -c testdata/images/ext4-bench.img.zst >"$tmp/bench.img"
head -c 4096 /dev/urandom >"$tmp/payload"
for i in $(seq 0 99); do printf 'write %s /data/new%03d\n' "$tmp/payload" "$i"; done >"$tmp/cmds"

time_debugfs "$tmp/bench.img" "$tmp/cmds" "$REPS"
# The last copy must hold the 100 new files, or the comparison is void.
made=$(debugfs -R 'ls -p /data' "$tmp/copy.img" 2>/dev/null | grep -c '/new[0-9][0-9][0-9]/' || true)
[ "$made" = 100 ] || { echo "debugfs made $made files in /data, want 100" >&2; exit 1; }

go_bench_vs_debugfs "create 100 files of 4 KiB in a 16 MiB ext4" BenchmarkCreate100 ./pkg/fs/ext4/ "$REPS"
