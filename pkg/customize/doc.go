// Package customize implements virt-customize-style customizations
// (virt-customize(1), "CUSTOMIZATION OPTIONS"; libguestfs guestfs-tools
// mlcustomize/customize_run.ml): --hostname, --write, --upload, --delete,
// --truncate, --truncate-recursive, --mkdir, --chmod, --link, --touch,
// --append-line, --timezone, --root-password, --password, --ssh-inject,
// --firstboot, --firstboot-command and --selinux-relabel: those that need
// no running guest.
//
// Each customization is a Step, parsed from its option's argument with
// Parse, and is an ops.Operation named after its option ("write",
// "append-line"), so that pkg/sysprep runs and reports it like an
// operation, dry run included. Steps run after the operations, in the
// order given on the command line, as virt-customize runs them.
//
// Guest paths are absolute and resolved inside the guest; a step never
// follows a final symlink it removes or replaces (--delete, --link,
// --timezone), and --write, --upload, --truncate and --append-line refuse a
// final symlink rather than write through it. --append-line adds a newline
// first when the file lacks a final one, as virt-customize does.
// --hostname writes /etc/hostname and sets the 127.0.1.1 line of
// /etc/hosts (Debian's convention, hosts(5)) to "FQDN SHORT" (or NAME).
// --timezone makes /etc/localtime a symlink to
// /usr/share/zoneinfo/ZONE, which must exist in the guest.
//
// --root-password and --password put a SHA-512 crypt hash
// (internal/shacrypt) or "*" in the user's /etc/shadow line, changing no
// other byte. --ssh-inject adds keys to ~USER/.ssh/authorized_keys, home
// and owner from the guest's /etc/passwd. --firstboot and
// --firstboot-command install virt-customize's firstboot layout (see
// FirstbootDir). WithRelabel appends the --selinux-relabel step, by
// default only for a guest whose /etc/selinux/config leaves SELinux on.
//
// A Step's Arg may hold a secret; Shown and Description, and every error
// and change, name paths, users and byte counts only.
package customize
