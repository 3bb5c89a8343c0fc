#!/usr/bin/env bash
# jbd2 journal fixtures: ext4 filesystems left with committed transactions
# in their journal (needs_recovery set), for pkg/fs/ext4/jbd2 and the
# replay tests of pkg/fs/ext4. The transactions are written by debugfs's
# journal commands (jo / jw / jc), which write descriptor, revoke and
# commit blocks as the kernel does; a perl step (jlog below) then pins
# the commit times debugfs takes from the host clock (re-checksumming the
# commit blocks), and for some fixtures rotates the log or sets journal
# features, as documented per image. e2fsck -fy replays every one of them
# (the tests compare our replay with it), except the refusal fixtures.
#
# Every image: 8 MiB, 1 KiB blocks, UUID 7a0d0b1e-3c5f-4e2a-9b6d-1f2e3d4c5b01,
# files /data/x /data/y /data/z /data/w /data/e /data/u of one block each,
# /etc/machine-id, and this sequence of transactions (T = transaction):
#   T1 writes x's block (X1) and z's block (Z1)
#   T2 revokes x's block and y's block
#   T3 writes y's block (Y3) and z's block again (Z3: the later copy wins)
#   T4 writes e's block with a block starting with the jbd2 magic
#      (debugfs escapes it: JBD2_FLAG_ESCAPE) and w's block (W4)
#   T5 writes u's block but is never committed (jw -c): not replayed
# After a replay: x keeps its old contents (T2 revoked T1's copy), y is
# Y3 (written after the revoke), z is Z3, e starts with c0 3b 39 98, w is
# W4, u is unchanged.
#
#   jbd2-csum3.img       mkfs.ext4 (64bit, metadata_csum): jo -c, journal
#                        checksum v3, journal_64bit, 16-byte tags
#   jbd2-csum2-32bit.img mkfs.ext4 -O ^64bit: jo -c -v 2, checksum v2,
#                        32-bit tags with a 16-bit checksum
#   jbd2-csum1.img       mkfs.ext4 -O ^metadata_csum: jo -c, checksum v1
#                        (journal_checksum: crc32_be of each transaction in
#                        its commit block, recomputed by jlog as the kernel
#                        does), journal_64bit
#   jbd2-ext3.img        mkfs.ext3: no journal checksum, 32-bit tags
#   jbd2-wrap.img        as jbd2-csum3, the log rotated by jlog so that it
#                        starts 5 blocks before the journal's end and wraps
#                        around to s_first (the kernel's circular log)
#   jbd2-async.img       as jbd2-csum3, with journal_async_commit set and
#                        T4's commit checksum broken: with async_commit the
#                        kernel and e2fsck end the replay before T4 quietly
#   jbd2-badcommit.img   refusal: as jbd2-csum3 with T3's commit checksum
#                        broken and no async_commit: e2fsck reports
#                        "transaction 3 was corrupt, replay was aborted"
#   jbd2-fastcommit.img  refusal: mkfs.ext4 -O fast_commit, with the
#                        journal's fast_commit feature set by jlog (the
#                        kernel sets it when it writes fast commits)
: "${OUT:?run through testdata/images/generate.sh}"
export PATH=$PATH:/usr/sbin:/sbin
export LC_ALL=C TZ=UTC
export E2FSPROGS_FAKE_TIME=${E2FSPROGS_FAKE_TIME:-1700000000}
T=1700000000
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
UUID=7a0d0b1e-3c5f-4e2a-9b6d-1f2e3d4c5b01
SEED=3b8e1a52-7c44-4f0e-8d2b-5a9c6e1f0d02

# block TAG: one 1 KiB block of numbered lines "TAG nnnn".
block() { for i in $(seq -w 0 60); do printf '%-19s\n' "$1 $i"; done | head -c 1024; }

src=$work/src
mkdir -p "$src/data" "$src/etc"
for f in x y z w e u; do block "old-$f" >"$src/data/$f"; done
printf '0123456789abcdef0123456789abcdef\n' >"$src/etc/machine-id"
find "$src" -depth -exec touch -h -d @$T {} +
for b in X1 Z1 Y3 Z3 W4 U5; do block "$b" >"$work/$b"; done
for f in "$work"/??; do [ "$(stat -c %s "$f")" = 1024 ] || { echo "$f is not one block" >&2; exit 1; }; done
{ printf '\xc0\x3b\x39\x98'; block E4 | tail -c +5; } >"$work/E4"

# dbg IMG CMD...: debugfs -w commands; fail on any message on stderr.
dbg() {
  local img=$1; shift
  printf '%s\n' "$@" >"$work/dbg.cmds"
  debugfs -w -f "$work/dbg.cmds" "$img" >/dev/null 2>"$work/err"
  if grep -v '^debugfs ' "$work/err" | grep -q .; then
    echo "debugfs on $img:" >&2; cat "$work/err" >&2; exit 1
  fi
}

# jlog IMG OP...: rewrite the journal of IMG in place (perl): pin every
# commit block's time to $T (re-checksummed with csum v2/v3), then apply
# OPs: rotate=K (move the log to start K blocks before the journal's
# end, wrapping), async (set journal_async_commit), badcommit=N (break
# the checksum of the Nth commit block), fastcommit (set the journal's
# fast_commit feature); the journal superblock checksum is updated.
jlog() {
  local img=$1; shift
  local ext
  ext=$(debugfs -R 'stat <8>' "$img" 2>/dev/null | sed -n '/^\(EXTENTS\|BLOCKS\):/{n;p;}')
  perl -e '
use strict; use warnings;
my ($img, $ext, $T, @ops) = @ARGV;
my $bs = 1024;
my @map;
for my $e (split /,\s*/, $ext) {
  next if $e =~ /^\((?:IND|DIND|TIND)\)/;
  $e =~ /^\((\d+)(?:-(\d+))?\):(\d+)(?:-(\d+))?$/ or die "extent $e\n";
  my ($l0, $l1, $p0) = ($1, defined $2 ? $2 : $1, $3);
  $map[$_] = $p0 + $_ - $l0 for $l0 .. $l1;
}
open(my $fh, "+<:raw", $img) or die "$img: $!\n";
die "journal map: no block $_\n" for grep { !defined $map[$_] } 0 .. 1023;
sub rd { my $l = shift; seek($fh, $map[$l] * $bs, 0); read($fh, my $b, $bs) == $bs or die "read\n"; $b }
sub wr { my ($l, $b) = @_; seek($fh, $map[$l] * $bs, 0); print $fh $b; }
my @T = map { my $c = $_; $c = ($c & 1) ? (($c >> 1) ^ 0x82F63B78) : ($c >> 1) for 1 .. 8; $c } 0 .. 255;
my @B = map { my $c = $_ << 24; $c = ($c & 0x80000000) ? ((($c << 1) ^ 0x04C11DB7) & 0xffffffff) : (($c << 1) & 0xffffffff) for 1 .. 8; $c } 0 .. 255;
sub crcbe { my ($c, $d) = @_; $c = (($c << 8) & 0xffffffff) ^ $B[(($c >> 24) ^ $_) & 0xff] for unpack("C*", $d); $c }
sub crc { my ($c, $d) = @_; $c = $T[($c ^ $_) & 0xff] ^ ($c >> 8) for unpack("C*", $d); $c }
my $sb = rd(0);
my (undef, undef, undef, undef, $maxlen, $first, $seq, $start) = unpack("N8", $sb);
my $inc = unpack("N", substr($sb, 0x28, 4));
my $v1 = unpack("N", substr($sb, 0x24, 4)) & 1;
my $v23 = $inc & 0x18;
my $seed = crc(0xffffffff, substr($sb, 0x30, 16));
my $tagb = ($inc & 0x10) ? 16 : (12 + (($inc & 0x8) ? 2 : 0) - (($inc & 0x2) ? 0 : 4));
my $csz = $v23 ? 4 : 0;
my %log = map { $_ => rd($_) } $first .. $maxlen - 1;
sub wrap { my $b = shift; $b -= $maxlen - $first if $b >= $maxlen; $b }
my ($blk, $n, $sum, @commits, %v1sum) = ($start, $seq, 0xffffffff);
while ($start) {
  my ($m, $t, $s) = unpack("N3", $log{$blk});
  last unless $m == 0xc03b3998 && $s == $n;
  my $here = $blk; $blk = wrap($blk + 1);
  if ($t == 1) {
    my ($off, $cnt) = (12, 0);
    while ($off + $tagb <= $bs - $csz) {
      my $fl = unpack("n", substr($log{$here}, $off + 6, 2));
      $cnt++; $off += $tagb; $off += 16 unless $fl & 2; last if $fl & 8;
    }
    $sum = crcbe($sum, $log{$here});
    for (1 .. $cnt) { $sum = crcbe($sum, $log{$blk}); $blk = wrap($blk + 1) }
  } elsif ($t == 2) { push @commits, $here; $v1sum{$here} = $sum; $sum = 0xffffffff; $n++ }
  elsif ($t != 5) { last }
}
my %op = map { /^(\w+)(?:=(\d+))?$/ or die "op $_\n"; ($1 => defined $2 ? $2 : 1) } @ops;
for my $i (0 .. $#commits) {
  my $b = $log{$commits[$i]};
  substr($b, 0x30, 12) = pack("NNN", 0, $T, 0);
  # Checksum v1 as the kernel computes it: crc32_be over the descriptor
  # and data blocks (debugfs 1.47 also counts revoke blocks, which the
  # kernel and e2fsck do not).
  substr($b, 12, 8) = pack("CCnN", 1, 4, 0, $v1sum{$commits[$i]}) if $v1;  if ($v23) { substr($b, 16, 4) = "\0" x 4; substr($b, 16, 4) = pack("N", crc($seed, $b)) }
  substr($b, 16, 1) = chr(ord(substr($b, 16, 1)) ^ 0xff) if ($op{badcommit} || 0) == $i + 1;
  $log{$commits[$i]} = $b;
}
if ($op{rotate}) {
  my $L = $maxlen - $first;
  my $ns = $maxlen - $op{rotate};
  my $shift = ($ns - $start) % $L;
  my %new = map { ($first + ($_ - $first + $shift) % $L) => $log{$_} } keys %log;
  %log = %new;
  substr($sb, 0x1C, 4) = pack("N", $ns);
}
$inc |= 0x4 if $op{async};
$inc |= 0x20 if $op{fastcommit};
substr($sb, 0x28, 4) = pack("N", $inc);
if ($v23) { substr($sb, 0xFC, 4) = "\0" x 4; substr($sb, 0xFC, 4) = pack("N", crc(0xffffffff, substr($sb, 0, 1024))) }
wr(0, $sb);
wr($_, $log{$_}) for keys %log;
close($fh) or die "$!\n";
' "$img" "$ext" "$T" "$@"
}

# mk NAME JO MKFS ARGS...: the filesystem, then the five transactions
# opened with debugfs "jo JO".
mk() {
  local name=$1 jo=$2 mkfs=$3; shift 3
  local img=$OUT/$name
  rm -f "$img"
  "$mkfs" -q -F -b 1024 -U "$UUID" -E "hash_seed=$SEED" -L "${name%.img}" "$@" -d "$src" "$img" 8M >/dev/null
  # mkfs -d copies the host's ctime and atime: pin them.
  local pins=()
  for p in / /lost+found /data /etc /etc/machine-id /data/x /data/y /data/z /data/w /data/e /data/u; do
    pins+=("sif $p ctime @$T" "sif $p atime @$T" "sif $p mtime @$T")
  done
  dbg "$img" "${pins[@]}"
  local -A b
  for f in x y z w e u; do
    b[$f]=$(debugfs -R "bmap /data/$f 0" "$img" 2>/dev/null)
  done
  dbg "$img" "jo $jo" \
    "jw -b ${b[x]},${b[z]} $work/X1Z1" \
    "jw -r ${b[x]},${b[y]}" \
    "jw -b ${b[y]},${b[z]} $work/Y3Z3" \
    "jw -b ${b[e]},${b[w]} $work/E4W4" \
    "jw -c -b ${b[u]} $work/U5" \
    'jc'
}
cat "$work/X1" "$work/Z1" >"$work/X1Z1"
cat "$work/Y3" "$work/Z3" >"$work/Y3Z3"
cat "$work/E4" "$work/W4" >"$work/E4W4"

mk jbd2-csum3.img -c mkfs.ext4
jlog "$OUT/jbd2-csum3.img"
mk jbd2-csum2-32bit.img "-c -v 2" mkfs.ext4 -O ^64bit
jlog "$OUT/jbd2-csum2-32bit.img"
mk jbd2-csum1.img -c mkfs.ext4 -O ^metadata_csum
jlog "$OUT/jbd2-csum1.img"
mk jbd2-ext3.img "" mkfs.ext3
jlog "$OUT/jbd2-ext3.img"
mk jbd2-wrap.img -c mkfs.ext4
jlog "$OUT/jbd2-wrap.img" rotate=5
mk jbd2-async.img -c mkfs.ext4
jlog "$OUT/jbd2-async.img" async badcommit=4
mk jbd2-badcommit.img -c mkfs.ext4
jlog "$OUT/jbd2-badcommit.img" badcommit=3
mk jbd2-fastcommit.img -c mkfs.ext4 -O fast_commit
jlog "$OUT/jbd2-fastcommit.img" fastcommit

# Every fixture but the refusals replays cleanly with e2fsck.
for img in "$OUT"/*.img; do
  case $img in *badcommit*|*fastcommit*) continue ;; esac
  cp "$img" "$work/check.img"
  e2fsck -fy "$work/check.img" >"$work/fsck.out" 2>&1 || [ $? -le 1 ] || { cat "$work/fsck.out" >&2; exit 1; }
  if ! e2fsck -fn "$work/check.img" >"$work/fsck.out" 2>&1; then
    echo "$img: not clean after e2fsck's replay" >&2; cat "$work/fsck.out" >&2; exit 1
  fi
done
