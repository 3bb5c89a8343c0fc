#!/usr/bin/env bash
# A full default sysprep (machine-id, netdata) of the GPT guest fixture,
# end to end through bin/imgprep (built by make bench), on N fresh copies:
# median wall time and peak RSS. Peer: virt-sysprep with the same
# operations when installed; otherwise the nearest tool-only equivalent,
# debugfs -w removing the same files in the raw fixture's two ext4
# partitions (no qcow2, no fstab, no symlink rules).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=$PATH:/usr/sbin:/sbin
N=${N:-15}
bin=bin/imgprep
[ -x "$bin" ] || go build -o "$bin" ./cmd/imgprep
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
zstd -q -d -f testdata/images/disk-gpt.qcow2.zst -o "$tmp/master.qcow2"
zstd -q -d -f testdata/images/disk-gpt.raw.zst -o "$tmp/master.raw"

have_time=0
[ -x /usr/bin/time ] && have_time=1

# run_n LABEL IMAGE CMD...: runs CMD (with @ replaced by a fresh copy of
# IMAGE) N times, prints the median ms and the peak RSS in KiB.
run_n() {
  local label=$1 master=$2; shift 2
  local times=() rss=0
  for i in $(seq "$N"); do
    cp --sparse=always "$master" "$tmp/copy"
    local args=()
    for a in "$@"; do args+=("${a//@/$tmp/copy}"); done
    local t0 t1
    t0=$(date +%s%N)
    if [ $have_time = 1 ]; then
      /usr/bin/time -f %M -o "$tmp/rss" "${args[@]}" >/dev/null 2>"$tmp/err" || { cat "$tmp/err"; return 1; }
      local r; r=$(tail -1 "$tmp/rss"); [ "$r" -gt "$rss" ] && rss=$r
    else
      "${args[@]}" >/dev/null 2>"$tmp/err" || { cat "$tmp/err"; return 1; }
    fi
    t1=$(date +%s%N)
    times+=($(( (t1 - t0) / 1000 )))
  done
  local med
  med=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  printf '%-44s median %8.1f ms   peak RSS %6s KiB   (N=%d)\n' "$label" "$(echo "$med/1000" | bc -l)" "${rss:-?}" "$N"
  echo "$med" >"$tmp/last"
}

run_n "imgprep sysprep disk-gpt.qcow2" "$tmp/master.qcow2" "$bin" sysprep -q @
q=$(cat "$tmp/last")
run_n "imgprep sysprep disk-gpt.raw" "$tmp/master.raw" "$bin" sysprep -q @
r=$(cat "$tmp/last")

if command -v virt-sysprep >/dev/null 2>&1; then
  run_n "virt-sysprep --operations machine-id" "$tmp/master.qcow2" virt-sysprep -q --operations machine-id -a @
  p=$(cat "$tmp/last"); peer="virt-sysprep"
else
  # The same removals with debugfs, partition by partition (root p2, /var p3).
  sector=512
  p2=$(( $(sgdisk -i 2 "$tmp/master.raw" | awk '/First sector/ {print $3}') * sector ))
  p3=$(( $(sgdisk -i 3 "$tmp/master.raw" | awk '/First sector/ {print $3}') * sector ))
  cat >"$tmp/peer.sh" <<PEER
#!/usr/bin/env bash
set -e
img=\$1
debugfs -w -R "rm /etc/machine-id" "\$img?offset=$p2" >/dev/null 2>&1
debugfs -w -f - "\$img?offset=$p3" >/dev/null 2>&1 <<CMDS
rm /lib/dbus/machine-id
rm /lib/netdata/registry/netdata.public.unique.id
rm /lib/netdata/status-netdata.json
rm /cache/netdata/status-netdata.json
rm /cache/netdata/netdata-meta.db
rm /cache/netdata/context-meta.db
CMDS
PEER
  run_n "peer: debugfs -w (raw, 2 partitions)" "$tmp/master.raw" bash "$tmp/peer.sh" @
  p=$(cat "$tmp/last"); peer="debugfs"
fi
printf 'ratio imgprep(qcow2)/%s = %.2f, imgprep(raw)/%s = %.2f\n' "$peer" "$(echo "$q/$p" | bc -l)" "$peer" "$(echo "$r/$p" | bc -l)"
