#!/usr/bin/env bash
# Guest inspection (pkg/guest): read the GPT fixture's partition table,
# probe its three partitions, open both ext4 filesystems, parse fstab and
# os-release and assemble the guest, in process (Go benchmark). Peer: the
# tool-only equivalent, blkid -p on each partition plus debugfs reading
# /etc/fstab and /usr/lib/os-release (three process starts per
# partition, no mount assembly at all).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=$PATH:/usr/sbin:/sbin
out=$(go test -run '^$' -bench '^Benchmark(ScanAndAssemble|ResolveAcrossMounts)$' -benchtime "${BENCHTIME:-2s}" -benchmem ./pkg/guest)
ns() { echo "$out" | awk -v b="$1" '$1 ~ "^"b"(-[0-9]+)?$" {print $3}'; }
s=$(ns BenchmarkScanAndAssemble); r=$(ns BenchmarkResolveAcrossMounts)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
zstd -q -d -f testdata/images/disk-gpt.raw.zst -o "$tmp/disk.raw"
N=${N:-20}
start=$(date +%s%N)
for _ in $(seq "$N"); do
  for off in 1048576 17825792 42991616; do
    blkid -p -O "$off" "$tmp/disk.raw" >/dev/null 2>&1 || true
  done
  debugfs -R 'cat /etc/fstab' "$tmp/disk.raw?offset=17825792" >/dev/null 2>&1
  debugfs -R 'cat /usr/lib/os-release' "$tmp/disk.raw?offset=17825792" >/dev/null 2>&1
done
end=$(date +%s%N)
p=$(( (end - start) / N ))
printf '%-52s %10.2f ms\n' "imgprep guest: Scan + Guests (GPT, 3 partitions)" "$(echo "$s/1000000" | bc -l)"
printf '%-52s %10.2f ms\n' "peer: blkid -p x3 + debugfs cat fstab, os-release" "$(echo "$p/1000000" | bc -l)"
printf '%-52s %10.2f ms\n' "imgprep guest: 2 Lstat across /var and /var/run" "$(echo "$r/1000000" | bc -l)"
printf 'ratio scan/peer = %.3f\n' "$(echo "$s/$p" | bc -l)"
