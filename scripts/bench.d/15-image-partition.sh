#!/usr/bin/env bash
# Looking at an image (pkg/image, pkg/partition): reading a partition table
# versus sfdisk --json on the same fixture, and opening a qcow2 image over a
# raw backing file and reading 64 KiB versus qemu-img info on it. imgprep's
# numbers are in-process (Go benchmarks); the peers' include starting the
# tool, which is what a script pays for them.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=$PATH:/usr/sbin:/sbin
N=${N:-20}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out=$(go test -run '^$' -bench '^BenchmarkRead$' -benchtime "${BENCHTIME:-1s}" ./pkg/partition;
      go test -run '^$' -bench '^Benchmark(OpenQcow2|DryRunQcow2)$' -benchtime "${BENCHTIME:-1s}" ./pkg/image)
ns() { echo "$out" | awk -v b="$1" '$1 ~ "^"b"(-[0-9]+)?$" {print $3}'; }

# median_ns CMD...: median wall time of N runs in ns.
median_ns() {
  for _ in $(seq "$N"); do
    t0=$(date +%s%N); "$@" >/dev/null 2>&1; t1=$(date +%s%N); echo $((t1 - t0))
  done | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

zstd -q -d -f testdata/images/part-gpt.raw.zst -o "$tmp/part-gpt.raw"
zstd -q -d -f testdata/images/part-mbr.raw.zst -o "$tmp/part-mbr.raw"
qemu-img create -q -f raw "$tmp/base.raw" 1M
qemu-img create -q -f qcow2 -b base.raw -F raw "$tmp/top.qcow2"

row() { printf '%-50s %10.3f ms\n' "$1" "$(echo "$2/1000000" | bc -l)"; }
g=$(ns BenchmarkRead/part-gpt.raw); sg=$(median_ns sfdisk --json "$tmp/part-gpt.raw")
row "imgprep partition.Read, GPT (3 partitions)" "$g"; row "peer: sfdisk --json, same disk" "$sg"
printf 'ratio imgprep/sfdisk GPT = %.3f\n' "$(echo "$g/$sg" | bc -l)"
m=$(ns BenchmarkRead/part-mbr.raw); sm=$(median_ns sfdisk --json "$tmp/part-mbr.raw")
row "imgprep partition.Read, MBR (2 logical)" "$m"; row "peer: sfdisk --json, same disk" "$sm"
printf 'ratio imgprep/sfdisk MBR = %.3f\n' "$(echo "$m/$sm" | bc -l)"
o=$(ns BenchmarkOpenQcow2); q=$(median_ns qemu-img info -U "$tmp/top.qcow2")
row "imgprep image.Open qcow2+raw backing, read 64K" "$o"; row "peer: qemu-img info, same image" "$q"
printf 'ratio imgprep/qemu-img = %.3f\n' "$(echo "$o/$q" | bc -l)"
row "imgprep dry run: open, 16 x 4K writes, Staged" "$(ns BenchmarkDryRunQcow2)"
