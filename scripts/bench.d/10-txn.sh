#!/usr/bin/env bash
# The price of atomicity (pkg/txn): 64 scattered 4 KiB writes to a 64 MiB
# host file committed through the rollback journal (journal write, fsync
# of journal, directory, image, journal again) versus the same writes
# straight to the file with one fsync. The ratio is mostly fsync latency
# of the disk under $TMPDIR.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(go test -run '^$' -bench '^Benchmark(Commit|DirectWrites|StageSequential)$' -benchtime "${BENCHTIME:-2s}" -benchmem ./pkg/txn)
ns() { echo "$out" | awk -v b="$1" '$1 ~ "^"b"(-[0-9]+)?$" {print $3}'; }
c=$(ns BenchmarkCommit); d=$(ns BenchmarkDirectWrites); s=$(ns BenchmarkStageSequential)
printf '%-52s %10.2f ms\n' "imgprep txn: stage + atomic commit, 64 x 4 KiB" "$(echo "$c/1000000" | bc -l)"
printf '%-52s %10.2f ms\n' "peer: direct pwrite x 64 + fsync (not atomic)" "$(echo "$d/1000000" | bc -l)"
printf '%-52s %10.2f ms\n' "imgprep txn: stage + read back 16 MiB in 4 KiB" "$(echo "$s/1000000" | bc -l)"
printf 'ratio txn-commit/direct = %.2f\n' "$(echo "$c/$d" | bc -l)"
