#!/usr/bin/env bash
# The qcow2 engine (pkg/qcow2) against qemu-img, on images made here with
# qemu-img and qemu-io (the Go benchmarks make the same ones):
#  (a) open a sparse image and read its 4 written 64 KiB clusters, 2 TiB
#      versus 1 GiB virtual size: the ratio shows the cost does not grow
#      with the disk (only the L1 table does: 4096 entries versus 2);
#      peer: qemu-io -r reading the same clusters of the 2 TiB image;
#      Also Extents (the allocation map) of the whole disk, 2 TiB versus
#      1 GiB; peer: qemu-img map --output=json of the 2 TiB image;
#  (b) a full copy of a 64 MiB image with 50% data into a new qcow2 image
#      (imgprep: image.Copy, which syncs once at the end) versus
#      qemu-img convert -O qcow2, both with its
#      default cache=unsafe (no fsync) and with -t writeback (flush at end);
#  (c) creating an overlay over a qcow2 base (opened, as qemu-img opens it)
#      versus qemu-img create -f qcow2 -b base -F qcow2.
# imgprep's numbers are in-process Go benchmarks; the peers' include
# starting the tool (median of N runs), which is what a script pays.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-15}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out=$(go test -run '^$' -bench '^BenchmarkQcow2(OpenRead|Copy|CreateOverlay|Extents)$' -benchtime "${BENCHTIME:-1s}" -benchmem ./pkg/qcow2)
ns() { echo "$out" | awk -v b="$1" '$1 ~ "^"b"(-[0-9]+)?$" {print $3}'; }

# median_ns CMD...: median wall time of N runs in ns.
median_ns() {
  for _ in $(seq "$N"); do
    t0=$(date +%s%N); "$@" >/dev/null 2>&1; t1=$(date +%s%N); echo $((t1 - t0))
  done | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}
row() { printf '%-58s %10.3f ms\n' "$1" "$(echo "$2/1000000" | bc -l)"; }
ratio() { printf 'ratio %-52s %8.3f\n' "$1" "$(echo "$2/$3" | bc -l)"; }

# (a)
qemu-img create -q -f qcow2 "$tmp/2t.qcow2" 2T
big=$((2 << 40))
qemu-io -f qcow2 -c "write -P 1 0 64k" -c "write -P 2 1M 64k" \
  -c "write -P 3 $((big / 2)) 64k" -c "write -P 4 $((big - 65536)) 64k" "$tmp/2t.qcow2" >/dev/null
s1=$(ns BenchmarkQcow2OpenRead/1GiB); s2=$(ns BenchmarkQcow2OpenRead/2TiB)
q2=$(median_ns qemu-io -r -f qcow2 -c "read 0 64k" -c "read 1M 64k" \
  -c "read $((big / 2)) 64k" -c "read $((big - 65536)) 64k" "$tmp/2t.qcow2")
row "imgprep open + read 4 clusters, 1 GiB sparse" "$s1"
row "imgprep open + read 4 clusters, 2 TiB sparse" "$s2"
row "peer: qemu-io -r, same 4 reads, 2 TiB" "$q2"
ratio "imgprep 2TiB/1GiB" "$s2" "$s1"
ratio "imgprep/qemu-io (2 TiB)" "$s2" "$q2"
e1=$(ns BenchmarkQcow2Extents/1GiB); e2=$(ns BenchmarkQcow2Extents/2TiB)
qm=$(median_ns qemu-img map -U --output=json "$tmp/2t.qcow2")
row "imgprep Extents of the whole disk, 1 GiB sparse" "$e1"
row "imgprep Extents of the whole disk, 2 TiB sparse" "$e2"
row "peer: qemu-img map --output=json, 2 TiB" "$qm"
ratio "imgprep Extents 2TiB/1GiB" "$e2" "$e1"
ratio "imgprep Extents/qemu-img map (2 TiB)" "$e2" "$qm"

# (b)
qemu-img create -q -f qcow2 "$tmp/src.qcow2" 64M
cmds=()
for i in $(seq 0 511); do cmds+=(-c "write -P $((i % 251 + 1)) $((i * 128))k 64k"); done
qemu-io -f qcow2 "${cmds[@]}" "$tmp/src.qcow2" >/dev/null
convert() { rm -f "$tmp/dst.qcow2"; qemu-img convert -O qcow2 "$@" "$tmp/src.qcow2" "$tmp/dst.qcow2"; }
c=$(ns BenchmarkQcow2Copy)
qc=$(median_ns convert)
qw=$(median_ns convert -t writeback)
row "imgprep image.Copy 64 MiB (50% data) to qcow2, synced" "$c"
row "peer: qemu-img convert -O qcow2 (cache=unsafe, no sync)" "$qc"
row "peer: qemu-img convert -O qcow2 -t writeback" "$qw"
ratio "imgprep/qemu-img convert" "$c" "$qc"
ratio "imgprep/qemu-img convert -t writeback" "$c" "$qw"

# (c)
qemu-img create -q -f qcow2 "$tmp/base.qcow2" 1G
create() { rm -f "$tmp/top.qcow2"; qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "$tmp/top.qcow2"; }
o=$(ns BenchmarkQcow2CreateOverlay)
qo=$(median_ns create)
row "imgprep create overlay over qcow2 base, synced" "$o"
row "peer: qemu-img create -f qcow2 -b base -F qcow2" "$qo"
ratio "imgprep/qemu-img create" "$o" "$qo"
