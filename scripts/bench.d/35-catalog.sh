#!/usr/bin/env bash
# The whole default catalogue (39 operations) on the catalog fixture
# (testdata/images/catalog-disk.raw: ext4 root and /var, vfat ESP), end to
# end through bin/imgprep on N fresh copies: median wall time and peak RSS.
# Peer: virt-sysprep when installed; otherwise debugfs -w making the same
# ext4 changes (taken from imgprep's own dry-run report: rm of every removed
# file, rmdir of emptied directories, punch+size 0 for truncations, rm+write
# for edits) on the two ext4 partitions, which is the tool-only lower bound
# (no globbing, no fstab, no symlink rules, no ESP, no commit journal).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=$PATH:/usr/sbin:/sbin LC_ALL=C
N=${N:-10}
bin=bin/imgprep
[ -x "$bin" ] || go build -o "$bin" ./cmd/imgprep
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
zstd -q -d -f testdata/images/catalog-disk.raw.zst -o "$tmp/master.raw"
have_time=0
[ -x /usr/bin/time ] && have_time=1

# run_n LABEL CMD...: CMD (@ is a fresh copy of the fixture) N times;
# prints the median ms and the peak RSS, leaves the median in $tmp/last.
run_n() {
  local label=$1; shift
  local times=() rss=0
  for _ in $(seq "$N"); do
    cp --sparse=always "$tmp/master.raw" "$tmp/copy"
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
    times+=($(((t1 - t0) / 1000)))
  done
  local med
  med=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  printf '%-46s median %8.1f ms   peak RSS %6s KiB   (N=%d)\n' "$label" "$(echo "$med/1000" | bc -l)" "$rss" "$N"
  echo "$med" >"$tmp/last"
}

run_n "imgprep sysprep (default catalogue)" "$bin" sysprep -q @
mine=$(cat "$tmp/last")

if command -v virt-sysprep >/dev/null 2>&1; then
  run_n "virt-sysprep (default operations)" virt-sysprep -q -a @
  peer=$(cat "$tmp/last"); name=virt-sysprep
else
  p2=$(($(sgdisk -i 2 "$tmp/master.raw" | awk '/First sector/ {print $3}') * 512))
  p3=$(($(sgdisk -i 3 "$tmp/master.raw" | awk '/First sector/ {print $3}') * 512))
  # The changes imgprep makes, as "action<TAB>path<TAB>filesystem".
  "$bin" sysprep --dry-run --json "$tmp/master.raw" | head -1 |
    python3 -c 'import json,sys
r=json.load(sys.stdin)
for g in r["guests"]:
    for c in g["changes"]:
        print(c["action"]+"\t"+c["path"]+"\t"+c["filesystem"])' |
    # debugfs unlinks through a symlinked parent wrongly (it frees the
    # inode and leaves the entry): hand it the fixture's real directories.
    sed -e 's|\t/var/spool/mail/|\t/var/mail/|' -e 's|\t/var/run/|\t/run/|' >"$tmp/changes"
  # The edited files' new contents, from a real imgprep run.
  cp --sparse=always "$tmp/master.raw" "$tmp/done.raw"
  "$bin" sysprep -q "$tmp/done.raw"
  : >"$tmp/root.cmds"; : >"$tmp/var.cmds"
  # rmtree DEV REL OUT: rm every file below REL (depth first), then rmdir.
  rmtree() {
    local dev=$1 rel=$2 out=$3 line name mode
    while IFS= read -r line; do
      IFS=/ read -r _ _ mode _ _ name _ <<<"$line"
      case $name in .|..|"") continue ;; esac
      if [ "${mode:0:2}" = 04 ]; then rmtree "$dev" "$rel/$name" "$out"; else echo "rm \"$rel/$name\"" >>"$out"; fi
    done < <(debugfs -R "ls -p \"$rel\"" "$dev" 2>/dev/null)
    echo "rmdir \"$rel\"" >>"$out"
  }
  while IFS=$'\t' read -r action path fsys; do
    case $fsys in
      *"(/var)") dev="$tmp/master.raw?offset=$p3"; done_dev="$tmp/done.raw?offset=$p3"; rel=${path#/var}; out=$tmp/var.cmds ;;
      *"(/)") dev="$tmp/master.raw?offset=$p2"; done_dev="$tmp/done.raw?offset=$p2"; rel=$path; out=$tmp/root.cmds ;;
      *) continue ;;
    esac
    case $action in
      removed)
        if debugfs -R "stat \"$rel\"" "$dev" 2>/dev/null | grep -q '^Inode: .*Type: directory'; then
          rmtree "$dev" "$rel" "$out"
        else echo "rm \"$rel\"" >>"$out"; fi ;;
      truncated) printf 'punch "%s" 0\nsif "%s" size 0\n' "$rel" "$rel" >>"$out" ;;
      edited)
        f=$tmp/content.$RANDOM; debugfs -R "cat \"$rel\"" "$done_dev" >"$f" 2>/dev/null
        printf 'rm "%s"\nwrite %s "%s"\n' "$rel" "$f" "$rel" >>"$out" ;;
    esac
  done <"$tmp/changes"
  cat >"$tmp/peer.sh" <<PEER
debugfs -w -f "$tmp/root.cmds" "\$1?offset=$p2" >/dev/null 2>&1
debugfs -w -f "$tmp/var.cmds" "\$1?offset=$p3" >/dev/null 2>&1
PEER
  run_n "debugfs -w, same ext4 changes ($(cat "$tmp/root.cmds" "$tmp/var.cmds" | wc -l) requests)" bash "$tmp/peer.sh" @
  peer=$(cat "$tmp/last"); name=debugfs
  # The peer's last copy must pass e2fsck, or the comparison is void.
  e2fsck -fn "$tmp/copy?offset=$p2" >/dev/null 2>&1 && e2fsck -fn "$tmp/copy?offset=$p3" >/dev/null 2>&1 ||
    { echo "35-catalog: the debugfs peer left an inconsistent filesystem" >&2; exit 1; }
fi
printf 'ratio imgprep/%s: %.2f\n' "$name" "$(echo "$mine/$peer" | bc -l)"
