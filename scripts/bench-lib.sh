# Sourced by scripts/bench.d/*.sh (not run by itself): measuring commands
# on fresh copies of a fixture, and a debugfs/mtools peer that makes the
# changes imgprep reports. Needs $tmp (a scratch directory) and $N.

have_time=0
[ -x /usr/bin/time ] && have_time=1

# run_n LABEL MASTER CMD...: runs CMD (every @ replaced by a fresh sparse
# copy of MASTER) N times; prints the median wall ms, the median CPU ms
# (user + system, which a loaded host disturbs less) and the peak RSS in
# KiB, and leaves the median wall (µs) in $tmp/last, the median CPU (µs)
# in $tmp/lastcpu and the last copy in $tmp/copy.
run_n() {
  local label=$1 master=$2; shift 2
  local times=() cpus=() rss=0
  for _ in $(seq "$N"); do
    cp --sparse=always "$master" "$tmp/copy"
    local args=() a
    for a in "$@"; do args+=("${a//@/$tmp/copy}"); done
    local t0 t1
    t0=$(date +%s%N)
    if [ $have_time = 1 ]; then
      /usr/bin/time -f '%M %U %S' -o "$tmp/rss" "${args[@]}" >/dev/null 2>"$tmp/err" || { cat "$tmp/err"; return 1; }
      local r u s; read -r r u s <<<"$(tail -1 "$tmp/rss")"
      [ "$r" -gt "$rss" ] && rss=$r
      cpus+=("$(echo "($u + $s) * 1000000 / 1" | bc)")
    else
      "${args[@]}" >/dev/null 2>"$tmp/err" || { cat "$tmp/err"; return 1; }
      cpus+=(0)
    fi
    t1=$(date +%s%N)
    times+=($(((t1 - t0) / 1000)))
  done
  local med cmed
  med=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  cmed=$(printf '%s\n' "${cpus[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  printf '%-58s median %8.1f ms  cpu %7.1f ms  peak RSS %6s KiB  (N=%d)\n' "$label" "$(echo "$med/1000" | bc -l)" "$(echo "$cmed/1000" | bc -l)" "$rss" "$N"
  echo "$med" >"$tmp/last"
  echo "$cmed" >"$tmp/lastcpu"
}

# ratio A B: A/B to two decimals.
ratio() { printf '%.2f' "$(echo "$1/$2" | bc -l)"; }

# part_offset IMAGE N: the byte offset of partition N of a raw GPT image.
part_offset() {
  echo $(($(sgdisk -i "$2" "$1" | awk '/First sector/ {print $3}') * 512))
}

# peer_plan NAME MASTER IMGPREP_ARGS...: writes $tmp/NAME.sh, a script
# that makes on the raw image given as its argument the changes
# "imgprep sysprep IMGPREP_ARGS" reports in a dry run of MASTER (a raw
# GPT image): debugfs -w per ext4 partition (rm of removed files, rm of
# every file below a removed directory then rmdir, punch + size 0 for
# truncations, rm + write of the new content for edits) and, when mtools
# is installed, mdel for files on a vfat partition. Prints how many
# requests it holds and how many changes it could not make.
peer_plan() {
  local name=$1 master=$2; shift 2
  "$bin" sysprep --dry-run --json "$@" "$master" | head -1 |
    python3 -c 'import json,re,sys
r=json.load(sys.stdin)
for g in r["guests"]:
    for c in g["changes"]:
        m=re.match(r"(\w+) on partition (\d+) \((.*)\)$", c["filesystem"])
        if m: print("\t".join([c["action"], c["path"], m.group(1), m.group(2), m.group(3)]))' |
    # debugfs unlinks through a symlinked parent wrongly (it frees the
    # inode and leaves the entry): hand it the real directories.
    sed -e 's|\t/var/spool/mail/|\t/var/mail/|' -e 's|\t/var/run/|\t/run/|' >"$tmp/$name.changes"
  # The edited files' new contents, from a real imgprep run.
  cp --sparse=always "$master" "$tmp/$name.done"
  "$bin" sysprep -q "$@" "$tmp/$name.done"
  local action path fstype part mp rel dev done_dev out skipped=0
  rm -f "$tmp/$name".p*.cmds
  while IFS=$'\t' read -r action path fstype part mp; do
    rel=$path
    [ "$mp" = / ] || rel=${path#"$mp"}
    out=$tmp/$name.p$part.cmds
    dev="$master?offset=$(part_offset "$master" "$part")"
    done_dev="$tmp/$name.done?offset=$(part_offset "$master" "$part")"
    case $fstype/$action in
      ext*/removed)
        if debugfs -R "stat \"$rel\"" "$dev" 2>/dev/null | grep -q '^Inode: .*Type: directory'; then
          peer_rmtree "$dev" "$rel" "$out"
        else echo "rm \"$rel\"" >>"$out"; fi ;;
      ext*/truncated) printf 'punch "%s" 0\nsif "%s" size 0\n' "$rel" "$rel" >>"$out" ;;
      ext*/edited)
        local f=$tmp/$name.content.$RANDOM
        debugfs -R "cat \"$rel\"" "$done_dev" >"$f" 2>/dev/null
        printf 'rm "%s"\nwrite %s "%s"\n' "$rel" "$f" "$rel" >>"$out" ;;
      vfat/removed)
        if command -v mdel >/dev/null; then echo "::$rel" >>"$tmp/$name.p$part.mdel"; else skipped=$((skipped + 1)); fi ;;
      *) skipped=$((skipped + 1)) ;;
    esac
  done <"$tmp/$name.changes"
  local requests=0 f p
  echo "set -e" >"$tmp/$name.sh"
  for f in "$tmp/$name".p*.cmds; do
    [ -e "$f" ] || continue
    p=${f%.cmds}; p=${p##*.p}
    echo "debugfs -w -f \"$f\" \"\$1?offset=$(part_offset "$master" "$p")\" >/dev/null 2>&1" >>"$tmp/$name.sh"
    requests=$((requests + $(wc -l <"$f")))
  done
  for f in "$tmp/$name".p*.mdel; do
    [ -e "$f" ] || continue
    p=${f%.mdel}; p=${p##*.p}
    echo "MTOOLS_SKIP_CHECK=1 mdel -i \"\$1@@$(part_offset "$master" "$p")\" $(tr '\n' ' ' <"$f") >/dev/null 2>&1" >>"$tmp/$name.sh"
    requests=$((requests + $(wc -l <"$f")))
  done
  echo "$requests requests, $skipped changes left out"
}

peer_rmtree() {
  local dev=$1 rel=$2 out=$3 line name mode
  while IFS= read -r line; do
    IFS=/ read -r _ _ mode _ _ name _ <<<"$line"
    case $name in . | .. | "") continue ;; esac
    if [ "${mode:0:2}" = 04 ]; then peer_rmtree "$dev" "$rel/$name" "$out"; else echo "rm \"$rel/$name\"" >>"$out"; fi
  done < <(debugfs -R "ls -p \"$rel\"" "$dev" 2>/dev/null)
  echo "rmdir \"$rel\"" >>"$out"
}

# peer_check NAME IMAGE: fails unless every ext4 partition the peer
# NAME changed in IMAGE passes e2fsck -fn (else the comparison is void).
peer_check() {
  local name=$1 img=$2 f p
  for f in "$tmp/$name".p*.cmds; do
    [ -e "$f" ] || continue
    p=${f%.cmds}; p=${p##*.p}
    e2fsck -fn "$img?offset=$(part_offset "$img" "$p")" >/dev/null 2>&1 ||
      { echo "bench: the $name peer left partition $p inconsistent" >&2; return 1; }
  done
}

# stats FILE: "best median" in ms of the nanosecond samples in FILE.
stats() { sort -n "$1" | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.3f %.3f", a[1]/1e6, m/1e6}'; }

# time_debugfs MASTER CMDS REPS: runs debugfs -w -f CMDS on a fresh copy
# of MASTER (the copy is not timed) REPS times; leaves the nanosecond
# samples in $tmp/debugfs.ns and the last copy in $tmp/copy.img.
time_debugfs() {
  : >"$tmp/debugfs.ns"
  for _ in $(seq "$3"); do
    cp "$1" "$tmp/copy.img"
    local t0 t1
    t0=$(date +%s%N)
    debugfs -w -f "$2" "$tmp/copy.img" >/dev/null 2>&1
    t1=$(date +%s%N)
    echo $((t1 - t0)) >>"$tmp/debugfs.ns"
  done
}

# go_bench_vs_debugfs TITLE BENCH PKG REPS: runs the Go benchmark BENCH in
# PKG REPS times (one iteration each) and prints its best and median next
# to $tmp/debugfs.ns, with the ratio imgprep/debugfs.
go_bench_vs_debugfs() {
  go test -run '^$' -bench "^$2\$" -benchtime 1x -count "$4" "$3" >"$tmp/go.out"
  awk -v b="$2" '$1 ~ "^"b {for (i = 1; i < NF; i++) if ($(i+1) == "ns/op") print $i}' "$tmp/go.out" >"$tmp/imgprep.ns"
  [ -s "$tmp/imgprep.ns" ] || { cat "$tmp/go.out" >&2; return 1; }
  local ib im db dm
  read -r ib im <<<"$(stats "$tmp/imgprep.ns")"
  read -r db dm <<<"$(stats "$tmp/debugfs.ns")"
  printf '%s (%s runs each)\n' "$1" "$4"
  printf '  imgprep (Go engine)  best %8.3f ms  median %8.3f ms\n' "$ib" "$im"
  printf '  debugfs -w -f        best %8.3f ms  median %8.3f ms\n' "$db" "$dm"
  awk -v i="$im" -v d="$dm" -v ib="$ib" -v db="$db" 'BEGIN {printf "  ratio imgprep/debugfs: median %.3f, best %.3f\n", i/d, ib/db}'
}
