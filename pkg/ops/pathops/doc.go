// Package pathops is the table of imgprep's path-only operations: those
// that only remove or truncate guest paths matched by globs. Each is one
// row (a pathop.Spec) of one table sorted by name; adding such an
// operation is adding a row, and pkg/ops/catalog lists every row with no
// further code.
//
// The rows are virt-sysprep's operations of that kind, under its names and
// defaults and with its globs (libguestfs guestfs-tools,
// sysprep/sysprep_operation_*.ml,
// https://github.com/libguestfs/guestfs-tools/tree/master/sysprep), plus
// random-seed, which virt-sysprep lacks: it removes what systemd's
// "Building Images" guide (https://systemd.io/BUILDING_IMAGES/) says an
// image must not share between clones.
//
// virt-sysprep gates a few of these on the distribution it inspects (the
// package manager whose cache it cleans, Red Hat-only network files);
// imgprep does not inspect distributions and lets the paths decide: a path
// the guest lacks is simply left alone. package-manager-cache cleans every
// cache present (apt, dnf, yum, zypper) and keeps their directories, as
// virt-sysprep does.
//
// Operations that are real code (reading or editing files, creating
// files, walking trees by name) keep their own packages.
package pathops
