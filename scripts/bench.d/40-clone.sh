#!/usr/bin/env bash
# Clones and batches through bin/imgprep (built by make bench), each side
# by side with its peer:
#   clone --linked --no-sysprep   vs  qemu-img create -f qcow2 -F qcow2 -b
#   clone --full --no-sysprep     vs  qemu-img convert -O qcow2
# (plus the same clones prepared with --enable machine-id,netdata, which the peers do not
# do), on the GPT guest fixture (64 MiB virtual, ~1 MiB of data); median
# wall time of N runs. Then batch throughput: sysprep of B copies of the
# disk-none.qcow2 fixture with -j 1 and -j $(nproc), in images per second.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=$PATH:/usr/sbin:/sbin
N=${N:-15}
B=${B:-100}
bin=bin/imgprep
[ -x "$bin" ] || go build -o "$bin" ./cmd/imgprep
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
zstd -q -d -f testdata/images/disk-gpt.qcow2.zst -o "$tmp/golden.qcow2"
zstd -q -d -f testdata/images/disk-none.qcow2.zst -o "$tmp/none.qcow2"

# median_ms LABEL CMD...: runs CMD (with @ replaced by a fresh destination
# path next to the template) N times and prints the median in ms.
median_ms() {
  local label=$1; shift
  local times=()
  for i in $(seq "$N"); do
    rm -f "$tmp/dest"
    local args=()
    local arg
    for arg in "$@"; do args+=("${arg//@/$tmp/dest}"); done
    local t0 t1
    t0=$(date +%s%N)
    "${args[@]}" >/dev/null 2>"$tmp/err" || { cat "$tmp/err"; return 1; }
    t1=$(date +%s%N)
    times+=($(( (t1 - t0) / 1000 )))
  done
  local med
  med=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  printf '%-52s median %8.1f ms  (N=%d)\n' "$label" "$(echo "$med/1000" | bc -l)" "$N"
  echo "$med" >"$tmp/last"
}

ratio() { printf '  ratio imgprep/%s = %.2f\n' "$1" "$(echo "$2/$3" | bc -l)"; }

t=$tmp/golden.qcow2
median_ms "imgprep clone --linked --no-sysprep" "$bin" clone --linked --no-sysprep -q "$t" @
a=$(cat "$tmp/last")
median_ms "peer: qemu-img create -f qcow2 -F qcow2 -b" qemu-img create -q -f qcow2 -F qcow2 -b "$t" @
p=$(cat "$tmp/last")
ratio "qemu-img-create" "$a" "$p"
median_ms "imgprep clone --linked (machine-id,netdata)" "$bin" clone --linked -q --enable machine-id,netdata "$t" @

median_ms "imgprep clone --full --no-sysprep" "$bin" clone --full --no-sysprep -q "$t" @
a=$(cat "$tmp/last")
median_ms "peer: qemu-img convert -O qcow2" qemu-img convert -O qcow2 "$t" @
p=$(cat "$tmp/last")
ratio "qemu-img-convert" "$a" "$p"
median_ms "imgprep clone --full (machine-id,netdata)" "$bin" clone --full -q --enable machine-id,netdata "$t" @
du_i=$(rm -f "$tmp/d1" && "$bin" clone --full --no-sysprep -q "$t" "$tmp/d1" && du -k "$tmp/d1" | cut -f1)
du_q=$(rm -f "$tmp/d2" && qemu-img convert -O qcow2 "$t" "$tmp/d2" && du -k "$tmp/d2" | cut -f1)
printf '  allocated: imgprep %s KiB, qemu-img convert %s KiB\n' "$du_i" "$du_q"

# Batch throughput.
mkdir -p "$tmp/fleet"
for j in 1 "$(nproc)"; do
  for i in $(seq "$B"); do cp --sparse=always "$tmp/none.qcow2" "$tmp/fleet/vm-$i.qcow2"; done
  ls "$tmp"/fleet/*.qcow2 >"$tmp/list"
  t0=$(date +%s%N)
  "$bin" sysprep -q -j "$j" --from "$tmp/list"
  t1=$(date +%s%N)
  ms=$(( (t1 - t0) / 1000000 ))
  printf '%-52s %6.1f images/s  (%d images in %d ms)\n' "imgprep sysprep -j $j (default operations)" "$(echo "$B*1000/$ms" | bc -l)" "$B" "$ms"
  echo "$ms" >"$tmp/j$j"
done
printf '  speed-up -j %s over -j 1 = %.2f\n' "$(nproc)" "$(echo "$(cat "$tmp/j1")/$(cat "$tmp/j$(nproc)")" | bc -l)"
