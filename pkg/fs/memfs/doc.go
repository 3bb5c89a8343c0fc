// Package memfs is an in-memory fs.WritableFS: a test double for the layers
// above the filesystem engines (pkg/guest, pkg/ops, pkg/sysprep) and a
// conformance reference for the path rules of pkg/fs.
//
// It follows those rules exactly (see the pkg/fs package documentation and
// Linux's path_resolution(7), which they mirror):
//
//   - paths are absolute and slash-separated; a relative path is
//     fs.ErrInvalid, a component longer than 255 bytes fs.ErrNameTooLong;
//   - an absolute symlink target is resolved from this filesystem's root,
//     ".." never climbs above "/";
//   - more than fs.MaxSymlinkHops symlinks in one resolution is fs.ErrLoop;
//   - Lstat, Readlink, Xattrs, Remove, RemoveAll, Rename, Mkdir, Symlink,
//     Mknod and Link never follow the final component; Stat, Open,
//     ReadFile, Truncate, WriteFile, Chmod, Chown and Utimes do.
//
// Inodes carry numbers, link counts (hard links and directory link counts
// as on ext4: 2 + subdirectories), modes, owners, times and xattrs. Setting
// ReadOnly makes every change fail with fs.ErrReadOnly. The builder methods
// (AddFile, AddDir, AddSymlink, …) ignore ReadOnly and panic on a bad
// path: they are for setting up tests.
//
// There is no on-disk format, so there is no byte order to state.
package memfs
