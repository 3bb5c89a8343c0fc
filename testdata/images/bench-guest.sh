#!/usr/bin/env bash
# A realistic guest for make bench (not a committed fixture: it is 1 GiB
# sparse, ~40 MiB of data): a synthetic Debian 12 tree of about 8,000
# files, laid out as a Debian install is (binaries, shared libraries,
# Python modules, docs, man pages, locales, dpkg's database, apt's cache,
# logs, temporary files, shell histories, SSH host and user keys, editor
# backups), with every identity file imgprep's default operations touch.
#
#   bench-guest.sh OUT.raw
#
# GPT: p1 ESP (FAT32, 64 MiB, /boot/efi), p2 ext4 root (768 MiB),
# p3 ext4 /var (190 MiB), each filesystem made by mkfs -d from the tree.
# Fixed UUIDs, hash seeds and names make the layout reproducible; the
# script is deterministic but its output is not compared (mkfs -d copies
# host ctimes).
set -euo pipefail
out=${1:?usage: bench-guest.sh OUT.raw}
export PATH=$PATH:/usr/sbin:/sbin LC_ALL=C TZ=UTC
export E2FSPROGS_FAKE_TIME=1700000000
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ROOT_UUID=0b0b0b0b-0000-4000-8000-000000000001
VAR_UUID=0b0b0b0b-0000-4000-8000-000000000002
ESP_PARTUUID=0b0b0b0b-1111-4000-8000-000000000001
HASH_SEED=0b0b0b0b-0000-4000-8000-0000000000ff

python3 - "$work/g" "$ROOT_UUID" "$VAR_UUID" "$ESP_PARTUUID" <<'EOF'
import os, random, sys
root, ruuid, vuuid, esp = sys.argv[1:5]
rng = random.Random(12)
count = 0

def put(path, size=None, data=None, mode=0o644):
    global count
    p = os.path.join(root, path.lstrip("/"))
    os.makedirs(os.path.dirname(p), exist_ok=True)
    if data is None:
        n = size if size is not None else rng.choice((120, 700, 1800, 3500, 6000, 14000))
        data = bytes(rng.getrandbits(8) for _ in range(min(n, 64))) * (n // 64 + 1)
        data = data[:n]
    if isinstance(data, str):
        data = data.encode()
    with open(p, "wb") as f:
        f.write(data)
    os.chmod(p, mode)
    count += 1

def link(path, target):
    global count
    p = os.path.join(root, path.lstrip("/"))
    os.makedirs(os.path.dirname(p), exist_ok=True)
    os.symlink(target, p)
    count += 1

words = ("acl apt attr base bash bsd coreutils cron dash dbus debconf debian "
         "diff dpkg e2fs file find gcc grep grub gzip host init iproute kmod "
         "less libc login lsb man mawk mount nano ncurses net netbase openssl "
         "pam perl procps python readline sed sensible shadow ssh sudo systemd "
         "tar tzdata udev util vim wget xz zlib").split()
pkgs = sorted({f"{rng.choice(words)}{rng.choice(('', '-base', '-utils', '-common', '-data', '6', '3', '-bin', '1'))}{rng.randrange(100)}" for _ in range(600)})[:420]

for i in range(620):
    put(f"/usr/bin/{rng.choice(words)}{i}", mode=0o755)
for i in range(160):
    put(f"/usr/sbin/{rng.choice(words)}d{i}", mode=0o755)
for i in range(900):
    n = f"lib{rng.choice(words)}{i}.so"
    put(f"/usr/lib/x86_64-linux-gnu/{n}.{i % 7}.0.0")
    if i % 2 == 0:
        link(f"/usr/lib/x86_64-linux-gnu/{n}.{i % 7}", f"{n}.{i % 7}.0.0")
for i in range(260):
    put(f"/usr/lib/modules/6.1.0-13-amd64/kernel/drivers/{rng.choice(words)}/{rng.choice(words)}{i}.ko")
for m in range(40):
    d = f"/usr/lib/python3/dist-packages/{rng.choice(words)}{m}"
    for i in range(22):
        put(f"{d}/{rng.choice(words)}_{i}.py")
    put(f"{d}/__init__.py", data="")
for p in pkgs:
    put(f"/usr/share/doc/{p}/copyright")
    put(f"/usr/share/doc/{p}/changelog.Debian.gz")
for s in range(1, 9):
    for i in range(180):
        put(f"/usr/share/man/man{s}/{rng.choice(words)}{i}.{s}.gz")
for lang in ("ca cs da de el es eu fi fr gl hu id it ja ko nb nl pl pt pt_BR ro ru sk sl sr sv tr uk vi zh_CN zh_TW".split()):
    for i in range(24):
        put(f"/usr/share/locale/{lang}/LC_MESSAGES/{pkgs[i * 7 % len(pkgs)]}.mo")
for i in range(300):
    put(f"/usr/share/zoneinfo/{rng.choice(('Europe', 'America', 'Asia', 'Africa'))}/{rng.choice(words).title()}{i}")

# /etc
for i in range(260):
    put(f"/etc/{rng.choice(('', 'default/', 'init.d/', 'apt/apt.conf.d/', 'systemd/system/', 'security/', 'profile.d/'))}{rng.choice(words)}{i}.conf", size=400)
for i in range(30):
    put(f"/etc/{rng.choice(words)}{i}.conf~", size=300)  # editor backups
put("/etc/machine-id", data="4c8ab9d6b1d24a0c9e0f3b2a1c5d7e9f\n")
put("/etc/hostname", data="template\n")
put("/etc/hosts", data="127.0.0.1\tlocalhost\n127.0.1.1\ttemplate\n")
put("/usr/lib/os-release", data='PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\n')
link("/etc/os-release", "../usr/lib/os-release")
put("/etc/passwd", data="root:x:0:0:root:/root:/bin/bash\nuser:x:1000:1000:user:/home/user:/bin/bash\n")
put("/etc/passwd-", data="root:x:0:0:root:/root:/bin/bash\n")
put("/etc/group", data="root:x:0:\nuser:x:1000:\n")
put("/etc/group-", data="root:x:0:\n")
put("/etc/shadow-", data="root:*:19000:0:99999:7:::\n", mode=0o600)
put("/etc/fstab", data=f"UUID={ruuid} / ext4 errors=remount-ro 0 1\nUUID={vuuid} /var ext4 defaults 0 2\nPARTUUID={esp} /boot/efi vfat umask=0077 0 1\n")
for k in ("rsa", "ecdsa", "ed25519"):
    put(f"/etc/ssh/ssh_host_{k}_key", size=1800, mode=0o600)
    put(f"/etc/ssh/ssh_host_{k}_key.pub", size=400)
put("/etc/ssh/sshd_config", data="Port 22\n")
# homes
for h in ("/root", "/home/user"):
    put(f"{h}/.bash_history", size=3000, mode=0o600)
    put(f"{h}/.ssh/authorized_keys", size=400, mode=0o600)
    put(f"{h}/.ssh/known_hosts", size=900, mode=0o600)
    put(f"{h}/.bashrc", size=3500)
for i in range(40):
    put(f"/home/user/src/project/{rng.choice(words)}{i}.c")
    if i % 5 == 0:
        put(f"/home/user/src/project/{rng.choice(words)}{i}.c~")
# /tmp on root
for i in range(60):
    put(f"/tmp/tmp{i:04x}", size=200)
for d in ("boot/efi", "proc", "sys", "dev", "run", "mnt", "srv", "media", "opt", "var"):
    os.makedirs(os.path.join(root, d), exist_ok=True)
os.chmod(os.path.join(root, "tmp"), 0o1777)

# /var (its own filesystem)
for p in pkgs:
    put(f"/var/lib/dpkg/info/{p}.list", size=900)
    put(f"/var/lib/dpkg/info/{p}.md5sums", size=1400)
put("/var/lib/dpkg/status", size=400000)
put("/var/lib/dpkg/status-old", size=400000)
for i in range(180):
    put(f"/var/cache/apt/archives/{pkgs[i]}_1.{i}_amd64.deb", size=20000)
put("/var/cache/apt/pkgcache.bin", size=200000)
put("/var/cache/apt/srcpkgcache.bin", size=200000)
for i in range(120):
    put(f"/var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_i18n_Translation-{i}", size=30000)
for i in range(200):
    put(f"/var/cache/man/{rng.choice(('', 'fr/', 'de/'))}cat{i % 8 + 1}/{rng.choice(words)}{i}.1.gz")
for n in ("syslog", "auth.log", "kern.log", "daemon.log", "dpkg.log", "messages", "alternatives.log"):
    for r in ("", ".1", ".2.gz", ".3.gz"):
        put(f"/var/log/{n}{r}", size=30000)
for i in range(40):
    put(f"/var/log/journal/4c8ab9d6b1d24a0c9e0f3b2a1c5d7e9f/system@{i:032x}.journal", size=65536)
for i in range(10):
    put(f"/var/log/apt/history.log.{i}.gz", size=5000)
put("/var/log/wtmp", size=20000)
put("/var/log/btmp", size=0)
put("/var/log/lastlog", size=2000)
put("/var/lib/dbus/machine-id", data="4c8ab9d6b1d24a0c9e0f3b2a1c5d7e9f\n")
put("/var/lib/systemd/random-seed", size=512, mode=0o600)
put("/var/lib/dhcp/dhclient.eth0.leases", size=700)
put("/var/spool/cron/crontabs/user", size=200, mode=0o600)
put("/var/mail/user", size=3000)
for i in range(80):
    put(f"/var/tmp/systemd-private-{i:08x}/tmp/f{i}", size=100)
for i in range(400):
    put(f"/var/lib/{rng.choice(words)}/{rng.choice(words)}{i}.db", size=4000)
os.makedirs(os.path.join(root, "var/tmp"), exist_ok=True)
os.chmod(os.path.join(root, "var/tmp"), 0o1777)
print(f"bench-guest: {count} files and links", file=sys.stderr)
EOF

g=$work/g
mv "$g/var" "$work/var"
mkdir "$g/var"
ln -s /run "$work/var/run"
ln -s ../run/lock "$work/var/lock"
find "$g" "$work/var" -exec touch -h -d @1700000000 {} +
mkext() {
  rm -f "$1"; truncate -s "$2" "$1"
  mkfs.ext4 -q -F -U "$3" -L "$4" -E "hash_seed=$HASH_SEED,root_owner=0:0" -d "$5" "$1"
}
mkext "$work/root.img" 768M "$ROOT_UUID" root "$g"
mkext "$work/var.img" 190M "$VAR_UUID" var "$work/var"
truncate -s 64M "$work/esp.img"
mkfs.vfat --invariant -i 0B0B0B0B -n ESP -F 32 "$work/esp.img" >/dev/null
printf 'MZ fake EFI loader\n' >"$work/BOOTX64.EFI"
printf 'esp-random-seed\n' >"$work/random-seed"
mmd -i "$work/esp.img" ::/EFI ::/EFI/BOOT ::/EFI/debian ::/loader
mcopy -i "$work/esp.img" "$work/BOOTX64.EFI" ::/EFI/BOOT/BOOTX64.EFI
mcopy -i "$work/esp.img" "$work/BOOTX64.EFI" ::/EFI/debian/shimx64.efi
mcopy -i "$work/esp.img" "$work/random-seed" ::/loader/random-seed
rm -f "$out"; truncate -s 1G "$out"
sgdisk -o -U 0b0b0b0b-2222-4000-8000-000000000000 \
  -n 1:2048:+64M -t 1:ef00 -c 1:EFI -u 1:"$ESP_PARTUUID" \
  -n 2:0:+768M -t 2:8304 -c 2:root -u 2:0b0b0b0b-1111-4000-8000-000000000002 \
  -n 3:0:+190M -t 3:8300 -c 3:var -u 3:0b0b0b0b-1111-4000-8000-000000000003 "$out" >/dev/null
off() { echo $(($(sgdisk -i "$2" "$1" | awk '/First sector/ {print $3}') * 512)); }
for p in 1:esp 2:root 3:var; do
  dd if="$work/${p#*:}.img" of="$out" bs=1M seek="$(off "$out" "${p%:*}")" oflag=seek_bytes conv=notrunc,sparse status=none
done
for p in 2 3; do
  e2fsck -fn "$out?offset=$(off "$out" $p)" >/dev/null 2>&1 || { echo "bench-guest.sh: partition $p fails e2fsck -fn" >&2; exit 1; }
done
