#!/usr/bin/env bash
# Deleting 100 files from an ext4 image: imgprep's engine (Go benchmark
# BenchmarkDelete100 in pkg/fs/ext4: open, 100 Removes, Sync) against
# debugfs -w -f with the same 100 "rm" requests, each on a fresh copy of
# testdata/images/ext4-bench.img (the copy is not timed). Prints best and
# median of REPS runs each, and the ratio imgprep/debugfs.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=$PATH:/usr/sbin:/sbin LC_ALL=C
REPS=${REPS:-20}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. scripts/bench-lib.sh

zstd -q -d -c testdata/images/ext4-bench.img.zst >"$tmp/bench.img"
for i in $(seq 0 99); do printf 'rm /data/f%03d\n' $((2 * i)); done >"$tmp/cmds"

time_debugfs "$tmp/bench.img" "$tmp/cmds" "$REPS"
# The last copy must have lost exactly the 100 files, or the comparison is
# void. (An entry first in its block is removed by zeroing its inode
# number; ls -p still prints it, with inode 0.)
left=$(debugfs -R 'ls -p /data' "$tmp/copy.img" 2>/dev/null | grep -v '^/0/' | grep -c '/f[0-9][0-9][0-9]/' || true)
[ "$left" = 100 ] || { echo "debugfs left $left files in /data, want 100" >&2; exit 1; }

go_bench_vs_debugfs "delete 100 files from a 16 MiB ext4" BenchmarkDelete100 ./pkg/fs/ext4/ "$REPS"
