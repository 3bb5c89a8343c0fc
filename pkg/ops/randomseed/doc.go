// Package randomseed holds the random-seed operation, which virt-sysprep
// lacks: it removes what systemd's "Building Images" guide
// (https://systemd.io/BUILDING_IMAGES/) says an image must not share
// between clones: /var/lib/systemd/random-seed,
// /var/lib/systemd/credential.secret, and systemd-boot's loader/random-seed
// on the ESP (mounted at /boot/efi, /efi or /boot).
package randomseed
