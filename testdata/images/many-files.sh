#!/usr/bin/env bash
# A guest whose /tmp holds COUNT empty files (default 200,000), for the
# bounded-memory test (cmd/imgprep TestRemoveManyFilesBoundedRSS): a
# partitionless ext4 (Debian 12 os-release, fstab naming it as /) with
# /tmp/many/dNNNN/fNN, 100 files a directory, made by mkfs.ext4 -d.
# Generated at test time (not committed: it is 1 GiB sparse).
#
#   many-files.sh OUT.img [COUNT]
set -euo pipefail
out=${1:?usage: many-files.sh OUT.img [COUNT]}
count=${2:-200000}
export PATH=$PATH:/usr/sbin:/sbin LC_ALL=C TZ=UTC
export E2FSPROGS_FAKE_TIME=1700000000
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
t=$work/t
mkdir -p "$t/etc" "$t/usr/lib" "$t/var" "$t/tmp/many"
printf 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n' >"$t/usr/lib/os-release"
ln -s ../usr/lib/os-release "$t/etc/os-release"
echo 'LABEL=many / ext4 defaults 0 1' >"$t/etc/fstab"
echo 4c8ab9d6b1d24a0c9e0f3b2a1c5d7e9f >"$t/etc/machine-id"
chmod 1777 "$t/tmp"
python3 - "$t/tmp/many" "$count" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    sub = os.path.join(d, "d%04d" % (i // 100))
    if i % 100 == 0:
        os.mkdir(sub)
    os.close(os.open(os.path.join(sub, "f%02d" % (i % 100)), os.O_CREAT | os.O_WRONLY, 0o644))
PY
rm -f "$out"; truncate -s 1G "$out"
mkfs.ext4 -q -F -N $((count + 4096)) -L many -U 0c0c0c0c-0000-4000-8000-000000000001 \
  -E hash_seed=0c0c0c0c-0000-4000-8000-0000000000ff,root_owner=0:0 -d "$t" "$out"
