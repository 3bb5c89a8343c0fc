#!/usr/bin/env bash
# qcow2 fixtures: small qcow2 images made by qemu-img and qemu-io, for the
# read-parity, write, fault-injection and hostile-image tests in pkg/qcow2.
# Run through testdata/images/generate.sh, which sets $OUT.
#
# Every image's guest data comes from a raw "pattern" disk: sector s of a
# disk made with seed S holds 64 little-endian 64-bit words
# (S<<48 | s<<16 | word index), so a sector read from the wrong place is
# caught. Data sits in these ranges (zeros elsewhere):
#   [0, 64K)  [192K, 292K)  [1M+512, 1M+2048)  [2M+56K, 2M+72K) pseudo-random
#   [3M-8K, 3M+72K)  last 4K of the disk
#
# Readable images (virtual size 4 MiB unless noted):
#   qcow2-v2.qcow2        compat=0.10 (version 2), 64K clusters
#   qcow2-v3.qcow2        compat=1.1 (version 3), 64K clusters
#   qcow2-c512.qcow2      512-byte clusters
#   qcow2-c4k.qcow2       4K clusters
#   qcow2-c64k.qcow2      64K clusters, lazy_refcounts=on
#   qcow2-c2m.qcow2       2M clusters, 8 MiB virtual
#   qcow2-deflate.qcow2   convert -c (zlib), plus one incompressible cluster
#                         that qemu stores uncompressed
#   qcow2-zstd.qcow2      convert -c -o compression_type=zstd, same data
#   qcow2-zero.qcow2      v3 with zero clusters from qemu-io write -z:
#                         zero-allocated (write -z on data), zero-plain
#                         (write -z -u), zero on unallocated, and a partial
#                         write -z inside a data cluster
#   qcow2-chain-base.qcow2 <- qcow2-chain-mid.qcow2 <- qcow2-chain-top.qcow2
#                         relative backing names with -F qcow2; mid and top
#                         write different byte patterns (partial clusters
#                         too, so COW copies from below), mid zeroes a
#                         range of base with write -z, and top is 6 MiB over
#                         a 4 MiB chain (the tail reads as zeros)
#   qcow2-rawback-base.raw <- qcow2-rawback-top.qcow2   (-F raw)
#   qcow2-extl2.qcow2     extended_l2=on, 64K clusters (2K subclusters),
#                         subcluster writes and write -z via qemu-io
#   qcow2-extl2-top.qcow2 extended L2 over qcow2-chain-base.qcow2: subclusters
#                         written, zeroed, and left to the backing file
#   qcow2-v2-top.qcow2    compat=0.10 overlay over qcow2-chain-base.qcow2
#                         (version 2 has no zero flag)
#   qcow2-comp-top.qcow2  convert -c -B qcow2-chain-base.qcow2: compressed
#                         clusters where the data differs from the backing file
#   qcow2-prealloc.qcow2  preallocation=metadata (all clusters allocated),
#                         then two qemu-io writes
#   qcow2-rc1.qcow2       refcount_bits=1
#   qcow2-snapshot.qcow2  internal snapshot snap1 (its date fields fixed to
#                         SOURCE_DATE_EPOCH), then more writes after it so
#                         clusters shared with the snapshot get copied
#
# Hostile images (expected behaviour, asserted in hostile_test.go):
#   qcow2-hostile-l1size.qcow2    l1_size = 0x7fffffff      -> ErrTooLarge at Open
#   qcow2-hostile-l1past.qcow2    l1_table_offset past EOF  -> ErrCorrupt at Open
#   qcow2-hostile-l2past.qcow2    L1[0] -> L2 past EOF      -> ErrCorrupt (Open or read)
#   qcow2-hostile-l2hdr.qcow2     L1[0] -> 0x200, inside the header cluster,
#                                 not cluster aligned        -> ErrCorrupt (Open or read)
#   qcow2-hostile-datahdr.qcow2   L2[0] data -> 0x200 in the header, unaligned
#                                                            -> ErrCorrupt (Open or read)
#   qcow2-hostile-rcoverl1.qcow2  refcount_table_offset = l1_table_offset
#                                                            -> ErrCorrupt at Open
#   qcow2-hostile-rtpast.qcow2    refcount_table_offset past EOF -> ErrCorrupt for write
#   qcow2-hostile-snappast.qcow2  one snapshot, table past EOF -> ErrCorrupt at Open
#   qcow2-hostile-nbsnap.qcow2    nb_snapshots = 0xffffffff  -> ErrTooLarge at Open
#   qcow2-hostile-backingname.qcow2 backing name of 0xffffffff bytes -> ErrCorrupt at Open
#   qcow2-hostile-hdrlen.qcow2    header_length = 0xfffffff0 -> ErrCorrupt at Open
#   qcow2-hostile-comppast.qcow2  L2[0] compressed, data past EOF -> ErrCorrupt (read)
#   qcow2-hostile-datarc0.qcow2   refcount 0 for the data cluster L2[0] uses: a
#                                 write must not reuse it (refuse, or leave
#                                 guest cluster 0 intact)
#   qcow2-hostile-dataonl1.qcow2  L2[0] data -> the L1 table's cluster
#   qcow2-hostile-l2onrt.qcow2    L1[0] -> the refcount table's cluster as L2
#                                 (both: writes must be refused, or must not
#                                 free or overwrite the metadata)
#   qcow2-hostile-dirty.qcow2     incompatible bit 0 (dirty)  -> reads; ErrDirty for write
#   qcow2-hostile-bitmaps.qcow2   persistent bitmap b0        -> reads; ErrBitmaps for write
#   qcow2-hostile-extdata.qcow2   external data file          -> ErrExternalData at Open
#   qcow2-hostile-loop-a.qcow2 <-> qcow2-hostile-loop-b.qcow2  backing loop
#                                                            -> error, no stack overflow
#   qcow2-hostile-clusterbits.qcow2 cluster_bits = 40        -> ErrCorrupt at Open
#   qcow2-hostile-incompat.qcow2  unknown incompatible bit 20 -> ErrUnknownFeature
#   qcow2-hostile-corruptbit.qcow2 incompatible bit 1 set    -> ErrCorruptBit for write
#   qcow2-hostile-encrypted.qcow2 crypt_method = 1 (AES)     -> ErrEncrypted
set -euo pipefail
: "${OUT:?run through testdata/images/generate.sh}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$OUT"

qio() { # qio IMAGE FORMAT COMMAND...
  local img=$1 fmt=$2; shift 2
  local args=()
  for c in "$@"; do args+=(-c "$c"); done
  qemu-io -f "$fmt" "${args[@]}" "$img" >/dev/null
}

# pattern FILE SIZE SEED [EXTRA_RANDOM_OFFSET]: the raw pattern disk above.
pattern() {
  perl -e '
    use strict; use warnings; no warnings "portable";
    my ($file, $size, $seed, $extra) = @ARGV;
    open(my $fh, "+>", $file) or die "$file: $!";
    binmode $fh;
    truncate($fh, $size) or die;
    my $M = 1 << 20; my $K = 1024;
    my @ranges = ([0, 64*$K], [192*$K, 292*$K], [$M+512, $M+2048],
                  [3*$M-8*$K, 3*$M+72*$K], [$size-4*$K, $size]);
    for my $r (@ranges) {
      my ($a, $b) = @$r;
      next if $b > $size;
      for (my $s = $a/512; $s < $b/512; $s++) {
        my $buf = "";
        $buf .= pack("Q<", ($seed << 48) | ($s << 16) | $_) for 0..63;
        seek($fh, $s*512, 0); print $fh $buf;
      }
    }
    # xorshift64 bytes: incompressible, but reproducible everywhere.
    my $x = 0x9E3779B97F4A7C15 ^ $seed;
    my $rand = sub {
      my $n = shift; my $buf = "";
      for (1..$n/8) {
        $x ^= ($x << 13) & 0xFFFFFFFFFFFFFFFF; $x ^= $x >> 7;
        $x ^= ($x << 17) & 0xFFFFFFFFFFFFFFFF;
        $buf .= pack("Q<", $x);
      }
      return $buf;
    };
    seek($fh, 2*$M+56*$K, 0); print $fh $rand->(16*$K);
    if (defined $extra) { seek($fh, $extra, 0); print $fh $rand->(64*$K); }
    close($fh) or die;
  ' "$@"
}

# be FILE OFFSET BYTES VALUE: write VALUE big-endian in BYTES bytes.
be() {
  perl -e '
    my ($file, $off, $n, $v) = @ARGV;
    $v = oct($v) if $v =~ /^0/;
    open(my $fh, "+<", $file) or die "$file: $!"; binmode $fh;
    my $p = $n == 8 ? pack("Q>", $v) : $n == 4 ? pack("L>", $v) : pack("n", $v);
    seek($fh, $off, 0); print $fh $p; close($fh) or die;
  ' "$@"
}

# rbe FILE OFFSET BYTES: read a big-endian field.
rbe() {
  perl -e '
    my ($file, $off, $n) = @ARGV;
    open(my $fh, "<", $file) or die; binmode $fh; seek($fh, $off, 0);
    read($fh, my $b, $n) == $n or die "short read";
    print $n == 8 ? unpack("Q>", $b) : $n == 4 ? unpack("L>", $b) : unpack("n", $b);
  ' "$@"
}

M=$((1 << 20))
pattern "$tmp/p4m.raw" $((4 * M)) 1
pattern "$tmp/p8m.raw" $((8 * M)) 2
pattern "$tmp/p4m-comp.raw" $((4 * M)) 3 $((1 * M + 64 * 1024))

conv() { # conv SRC DST OPTIONS...
  local src=$1 dst=$2; shift 2
  qemu-img convert -f raw -O qcow2 "$@" "$src" "$dst"
}

conv "$tmp/p4m.raw" qcow2-v2.qcow2 -o compat=0.10
conv "$tmp/p4m.raw" qcow2-v3.qcow2 -o compat=1.1
conv "$tmp/p4m.raw" qcow2-c512.qcow2 -o cluster_size=512
conv "$tmp/p4m.raw" qcow2-c4k.qcow2 -o cluster_size=4096
conv "$tmp/p4m.raw" qcow2-c64k.qcow2 -o cluster_size=65536,lazy_refcounts=on
conv "$tmp/p8m.raw" qcow2-c2m.qcow2 -o cluster_size=2M
conv "$tmp/p4m-comp.raw" qcow2-deflate.qcow2 -c
conv "$tmp/p4m-comp.raw" qcow2-zstd.qcow2 -c -o compression_type=zstd

# Zero clusters.
conv "$tmp/p4m.raw" qcow2-zero.qcow2 -o compat=1.1
qio qcow2-zero.qcow2 qcow2 \
  "write -z 0 64k" \
  "write -z -u 3136k 64k" \
  "write -z 2560k 128k" \
  "write -z 200k 8k"

# A three-deep chain with relative backing names.
conv "$tmp/p4m.raw" qcow2-chain-base.qcow2
qemu-img create -q -f qcow2 -b qcow2-chain-base.qcow2 -F qcow2 qcow2-chain-mid.qcow2 4M
qio qcow2-chain-mid.qcow2 qcow2 \
  "write -P 0x4d 0 4k" \
  "write -P 0x4e 256k 80k" \
  "write -P 0x4f 1536k 64k" \
  "write -z 3072k 64k"
qemu-img create -q -f qcow2 -b qcow2-chain-mid.qcow2 -F qcow2 qcow2-chain-top.qcow2 6M
qio qcow2-chain-top.qcow2 qcow2 \
  "write -P 0x54 60k 8k" \
  "write -P 0x55 1600k 4k" \
  "write -P 0x56 3000k 200k" \
  "write -P 0x57 5M 64k"

# A raw-backed overlay.
cp "$tmp/p4m.raw" qcow2-rawback-base.raw
qemu-img create -q -f qcow2 -b qcow2-rawback-base.raw -F raw qcow2-rawback-top.qcow2 4M
qio qcow2-rawback-top.qcow2 qcow2 \
  "write -P 0x61 2k 1k" \
  "write -P 0x62 1M 128k" \
  "write -z 3M 64k"

# Extended L2 entries with subcluster writes.
qemu-img create -q -f qcow2 -o extended_l2=on,cluster_size=64k qcow2-extl2.qcow2 4M
qio qcow2-extl2.qcow2 qcow2 \
  "write -P 0x71 0 2k" \
  "write -P 0x72 6k 4k" \
  "write -P 0x73 62k 4k" \
  "write -P 0x74 1M 64k" \
  "write -z 1M 2k" \
  "write -z 2M 8k" \
  "write -P 0x75 3102k 1k"

# Extended L2 over a backing file: unallocated subclusters read from below.
qemu-img create -q -f qcow2 -o extended_l2=on,cluster_size=64k -b qcow2-chain-base.qcow2 -F qcow2 qcow2-extl2-top.qcow2 4M
qio qcow2-extl2-top.qcow2 qcow2 \
  "write -P 0x91 2k 2k" \
  "write -P 0x92 200k 6k" \
  "write -z 220k 4k" \
  "write -P 0x93 3080k 2k"
# A version 2 overlay (no zero flag: zeros over backed data are written).
qemu-img create -q -f qcow2 -o compat=0.10 -b qcow2-chain-base.qcow2 -F qcow2 qcow2-v2-top.qcow2 4M
qio qcow2-v2-top.qcow2 qcow2 \
  "write -P 0xa1 10k 4k" \
  "write -z 192k 64k" \
  "write -P 0xa2 3M 8k"
# Compressed clusters over a backing file (convert -c -B).
conv "$tmp/p4m-comp.raw" qcow2-comp-top.qcow2 -c -B qcow2-chain-base.qcow2 -F qcow2

# Preallocated metadata: every L2 entry allocated, clusters read as zeros.
qemu-img create -q -f qcow2 -o preallocation=metadata qcow2-prealloc.qcow2 4M
qio qcow2-prealloc.qcow2 qcow2 "write -P 0xb1 100k 8k" "write -P 0xb2 3M 64k"
# One-bit refcounts (refcount_order 0).
conv "$tmp/p4m.raw" qcow2-rc1.qcow2 -o refcount_bits=1

# An internal snapshot, then writes after it.
conv "$tmp/p4m.raw" qcow2-snapshot.qcow2
qemu-img snapshot -c snap1 qcow2-snapshot.qcow2
qio qcow2-snapshot.qcow2 qcow2 \
  "write -P 0x81 4k 4k" \
  "write -P 0x82 200k 64k" \
  "write -P 0x83 2M 64k"
# Fix the snapshot's date_sec/date_nsec (entry bytes 16-23) for determinism.
snapoff=$(rbe qcow2-snapshot.qcow2 64 8)
be qcow2-snapshot.qcow2 $((snapoff + 16)) 4 "${SOURCE_DATE_EPOCH:-1700000000}"
be qcow2-snapshot.qcow2 $((snapoff + 20)) 4 0
[ "$(qemu-img snapshot -l qcow2-snapshot.qcow2 | grep -c snap1)" = 1 ]

# ---- Hostile images, each a patched copy of a small valid image. ----
qemu-img create -q -f qcow2 -o compat=1.1 "$tmp/h.qcow2" 1M
qio "$tmp/h.qcow2" qcow2 "write -P 0x5a 0 64k" "write -P 0x5b 512k 4k"
l1=$(rbe "$tmp/h.qcow2" 40 8)
l2=$(( $(rbe "$tmp/h.qcow2" "$l1" 8) & 0x00fffffffffffe00 ))

hostile() { cp "$tmp/h.qcow2" "qcow2-hostile-$1.qcow2"; }
hostile l1size;      be qcow2-hostile-l1size.qcow2 36 4 0x7fffffff
hostile l1past;      be qcow2-hostile-l1past.qcow2 40 8 0x40000000
hostile l2past;      be qcow2-hostile-l2past.qcow2 "$l1" 8 0x8000000040000000
hostile l2hdr;       be qcow2-hostile-l2hdr.qcow2 "$l1" 8 0x8000000000000200
hostile datahdr;     be qcow2-hostile-datahdr.qcow2 "$l2" 8 0x8000000000000200
hostile rcoverl1;    be qcow2-hostile-rcoverl1.qcow2 48 8 "$l1"
hostile clusterbits; be qcow2-hostile-clusterbits.qcow2 20 4 40
hostile incompat;    be qcow2-hostile-incompat.qcow2 72 8 0x100000
hostile corruptbit;  be qcow2-hostile-corruptbit.qcow2 72 8 0x2
hostile encrypted;   be qcow2-hostile-encrypted.qcow2 32 4 1
hostile rtpast;      be qcow2-hostile-rtpast.qcow2 48 8 0x40000000
hostile snappast;    be qcow2-hostile-snappast.qcow2 60 4 1
                     be qcow2-hostile-snappast.qcow2 64 8 0x40000000
hostile nbsnap;      be qcow2-hostile-nbsnap.qcow2 60 4 0xffffffff
                     be qcow2-hostile-nbsnap.qcow2 64 8 "$(rbe "$tmp/h.qcow2" "$l2" 8)"
hostile backingname; be qcow2-hostile-backingname.qcow2 8 8 0x200
                     be qcow2-hostile-backingname.qcow2 16 4 0xffffffff
hostile hdrlen;      be qcow2-hostile-hdrlen.qcow2 100 4 0xfffffff0
hostile comppast;    be qcow2-hostile-comppast.qcow2 "$l2" 8 0x4000000040000000
# The first data cluster's refcount set to 0 while L2[0] still uses it.
rt=$(rbe "$tmp/h.qcow2" 48 8)
rb=$(rbe "$tmp/h.qcow2" "$rt" 8)
d=$(( $(rbe "$tmp/h.qcow2" "$l2" 8) & 0x00fffffffffffe00 ))
hostile datarc0;     be qcow2-hostile-datarc0.qcow2 $((rb + 2 * (d >> 16))) 2 0
hostile dataonl1;    be qcow2-hostile-dataonl1.qcow2 "$l2" 8 $((0x8000000000000000 | l1))
hostile l2onrt;      be qcow2-hostile-l2onrt.qcow2 "$l1" 8 $((0x8000000000000000 | rt))

hostile dirty;       be qcow2-hostile-dirty.qcow2 72 8 0x1
# A persistent dirty bitmap (autoclear bit 0 and the bitmaps extension).
cp "$tmp/h.qcow2" qcow2-hostile-bitmaps.qcow2
qemu-img bitmap -q --add qcow2-hostile-bitmaps.qcow2 b0 2>/dev/null || qemu-img bitmap --add qcow2-hostile-bitmaps.qcow2 b0
# An external data file (incompatible bit 2); the data file itself is not
# committed.
( cd "$tmp" && qemu-img create -q -f qcow2 -o data_file=ext.raw ext.qcow2 1M )
cp "$tmp/ext.qcow2" qcow2-hostile-extdata.qcow2

# A backing loop: a -> b -> a.
qemu-img create -q -f qcow2 qcow2-hostile-loop-a.qcow2 1M
qemu-img create -q -f qcow2 -b qcow2-hostile-loop-a.qcow2 -F qcow2 -u qcow2-hostile-loop-b.qcow2 1M
qemu-img rebase -q -u -f qcow2 -b qcow2-hostile-loop-b.qcow2 -F qcow2 qcow2-hostile-loop-a.qcow2
