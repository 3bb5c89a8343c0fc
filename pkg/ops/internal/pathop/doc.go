// Package pathop holds what imgprep's path-based operations share: a
// table-driven Operation built from virt-sysprep's globs (the rules of
// libguestfs' guestfs-tools sysprep/sysprep_operation_*.ml, with
// guestfs_glob_expand's semantics as fs.Glob implements them), and a
// Session that removes, truncates and rewrites guest paths while recording
// each change as an ops.Change.
//
// Every helper works on guest paths, never follows a final symlink (a
// symlink is removed as itself, never through), treats a missing path, a
// missing or non-directory parent and a symlink loop as "nothing to do",
// and bounds its directory walks (MaxWalk).
package pathop
