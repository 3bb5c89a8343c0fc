// Package fs defines the filesystem layer of imgprep: the inode-level
// Engine interface that filesystem engines implement (ext2/3/4 in
// pkg/fs/ext4, FAT in pkg/fs/vfat, the in-memory pkg/fs/memfs), the one
// Walker that resolves paths over engines, and the path-level ReadTree and
// WriteTree that Tree provides on top of it for the layers above.
//
// Paths are absolute, slash-separated ("/etc/machine-id"). The Walker
// resolves them as the kernel would with the root engine mounted at "/"
// (openat2 with RESOLVE_IN_ROOT): an absolute symlink target is relative
// to the root, ".." never climbs above "/", and a chain of more than
// MaxSymlinkHops symlinks fails with ErrLoop. Lstat, Readlink, Xattrs,
// Remove, RemoveAll, Rename, Mkdir, Symlink, Mknod and Link never follow
// the final component; Stat, Open, ReadFile, ReadDir, Truncate, WriteFile,
// Chmod, Chown and Utimes do. No path can ever reach a host file.
//
// Each engine's FS type embeds a Tree over its own engine. pkg/guest
// embeds one over the guest's root engine with itself as the MountTable,
// so that a guest path is resolved once, component by component, across
// mount points. A new engine implements Engine (and WriteEngine, and the
// optional Mknoder, Linker, FileReader, CycleReporter as it can), embeds
// a Tree, and passes the suite of pkg/fs/conformance.
package fs

import (
	"errors"
	"io"
	"time"
)

// MaxSymlinkHops is the number of symlinks followed while resolving one
// path before giving up with ErrLoop, as Linux's MAXSYMLINKS.
const MaxSymlinkHops = 40

// Sentinel errors. Engines wrap them with %w and context (the filesystem,
// the path); callers test them with errors.Is.
var (
	ErrNotExist    = errors.New("fs: file does not exist")
	ErrExist       = errors.New("fs: file already exists")
	ErrNotDir      = errors.New("fs: not a directory")
	ErrIsDir       = errors.New("fs: is a directory")
	ErrNotEmpty    = errors.New("fs: directory not empty")
	ErrLoop        = errors.New("fs: too many levels of symbolic links")
	ErrInvalid     = errors.New("fs: invalid argument")
	ErrNoSpace     = errors.New("fs: no space left on filesystem")
	ErrReadOnly    = errors.New("fs: filesystem is read-only")
	ErrNotSymlink  = errors.New("fs: not a symbolic link")
	ErrCrossDev    = errors.New("fs: rename across filesystems")
	ErrNameTooLong = errors.New("fs: file name too long")
)

// Unix file type bits of Attr.Mode, as in the kernel's stat.h.
const (
	ModeTypeMask = 0o170000
	ModeSocket   = 0o140000
	ModeSymlink  = 0o120000
	ModeRegular  = 0o100000
	ModeBlock    = 0o060000
	ModeDir      = 0o040000
	ModeChar     = 0o020000
	ModeFIFO     = 0o010000
	ModePermMask = 0o7777 // permission bits plus setuid, setgid and sticky
)

// FileType is the type of a directory entry.
type FileType uint8

// File types.
const (
	TypeUnknown FileType = iota
	TypeRegular
	TypeDir
	TypeChar
	TypeBlock
	TypeFIFO
	TypeSocket
	TypeSymlink
)

func (t FileType) String() string {
	switch t {
	case TypeRegular:
		return "file"
	case TypeDir:
		return "dir"
	case TypeChar:
		return "char"
	case TypeBlock:
		return "block"
	case TypeFIFO:
		return "fifo"
	case TypeSocket:
		return "socket"
	case TypeSymlink:
		return "symlink"
	}
	return "unknown"
}

// TypeOfMode returns the FileType of a Unix st_mode value.
func TypeOfMode(mode uint32) FileType {
	switch mode & ModeTypeMask {
	case ModeRegular:
		return TypeRegular
	case ModeDir:
		return TypeDir
	case ModeChar:
		return TypeChar
	case ModeBlock:
		return TypeBlock
	case ModeFIFO:
		return TypeFIFO
	case ModeSocket:
		return TypeSocket
	case ModeSymlink:
		return TypeSymlink
	}
	return TypeUnknown
}

// Attr is what stat(2) reports about one inode.
type Attr struct {
	Ino   uint64
	Mode  uint32 // st_mode: type bits and permission bits
	Nlink uint32
	UID   uint32
	GID   uint32
	Size  int64
	Rdev  uint32 // for device nodes: Linux's new_encode_dev value
	Atime time.Time
	Mtime time.Time
	Ctime time.Time
	// Crtime is the creation time, zero when the filesystem has none.
	Crtime time.Time
}

// Type returns the file type encoded in Mode.
func (a Attr) Type() FileType { return TypeOfMode(a.Mode) }

// Perm returns the permission bits of Mode, including setuid/setgid/sticky.
func (a Attr) Perm() uint32 { return a.Mode & ModePermMask }

// DirEntry is one entry of a directory, as readdir(3) returns it. The
// entries "." and ".." are never returned.
type DirEntry struct {
	Name string
	Ino  uint64
	Type FileType
}

// File is an open regular file.
type File interface {
	io.Reader
	io.ReaderAt
	io.Closer
	Size() int64
}

// ReadTree is a tree of files that can be read by path: one filesystem, or
// a whole guest assembled from several (pkg/guest).
type ReadTree interface {
	Lstat(path string) (Attr, error)
	Stat(path string) (Attr, error)
	ReadDir(path string) ([]DirEntry, error)
	Open(path string) (File, error)
	// ReadFile reads a whole regular file. Engines bound it by the file
	// size they have validated against the filesystem size.
	ReadFile(path string) ([]byte, error)
	Readlink(path string) (string, error)
	// Xattrs returns every extended attribute of the file at path, without
	// following a final symlink, keyed by full name ("security.selinux",
	// "user.foo", "system.posix_acl_access").
	Xattrs(path string) (map[string][]byte, error)
}

// FS is a filesystem that can be read.
type FS interface {
	ReadTree
	// Type names the filesystem type as mount(8) would: "ext2", "ext3",
	// "ext4".
	Type() string
	// Info describes the filesystem.
	Info() Info
}

// Info describes a filesystem.
type Info struct {
	Type  string // "ext4"
	UUID  string // canonical lower-case form, "" if none
	Label string
	// BlockSize is the filesystem block size in bytes.
	BlockSize int
	// Size is the filesystem size in bytes.
	Size int64
	// FreeBytes is the free space as the superblock counts it.
	FreeBytes int64
	// Writable reports whether the engine can write this filesystem, and
	// if not, WhyReadOnly says why ("needs journal recovery").
	Writable    bool
	WhyReadOnly string
	// Note says what the engine did to present the filesystem as the
	// guest would see it, "" if nothing: "journal replayed in memory (2
	// transactions, 14 blocks)".
	Note string
}

// Owner is a uid/gid pair.
type Owner struct {
	UID uint32
	GID uint32
}

// WriteOptions says how WriteFile creates a new file. When the file exists
// it is overwritten in place: the inode, its xattrs, mode and ownership are
// kept, and only Mtime/Ctime change (to Times.Mtime if set, else now).
type WriteOptions struct {
	Perm  uint32 // permission bits for a new file
	Owner Owner
	// Times, when non-zero, are stored as atime/mtime/ctime of the file.
	Times Times
}

// Times holds timestamps to set; a zero time means "leave as is" in Utimes
// and "now" in creation.
type Times struct {
	Atime time.Time
	Mtime time.Time
}

// WriteTree is a ReadTree that can also be changed. Every method either
// makes its whole change or returns an error.
type WriteTree interface {
	ReadTree
	// Remove unlinks a file, symlink, device node, fifo or socket, or
	// removes an empty directory. It never follows a final symlink. With
	// hard links only this name goes; the inode is freed with its last
	// link.
	Remove(path string) error
	// RemoveAll removes path and, for a directory, everything below it.
	// A missing path is not an error.
	RemoveAll(path string) error
	// Truncate sets a regular file's size, freeing blocks past it.
	Truncate(path string, size int64) error
	// WriteFile creates or overwrites a regular file with data.
	WriteFile(path string, data []byte, opts WriteOptions) error
	Mkdir(path string, perm uint32, owner Owner) error
	// Symlink creates a symlink at path pointing to target.
	Symlink(target, path string, owner Owner) error
	// Mknod creates a device node, fifo or socket; mode includes the type
	// bits.
	Mknod(path string, mode uint32, rdev uint32, owner Owner) error
	// Link creates a hard link newPath to the existing non-directory
	// oldPath.
	Link(oldPath, newPath string) error
	Chmod(path string, perm uint32) error
	Chown(path string, owner Owner) error
	Utimes(path string, t Times) error
	// Rename moves oldPath to newPath within this filesystem, replacing a
	// non-directory or empty directory at newPath as rename(2) does.
	Rename(oldPath, newPath string) error
}

// WritableFS is a filesystem that can also be changed. A filesystem left
// by any sequence of successful calls is consistent (e2fsck -fn clean) once
// Sync has returned.
type WritableFS interface {
	FS
	WriteTree
	// Sync writes every pending change to the underlying device.
	Sync() error
}

// UUIDSetter is implemented by writable engines that can give their
// filesystem a new identity, as tune2fs -U random or mlabel -n do. It is
// optional: callers type-assert a WritableFS to it.
type UUIDSetter interface {
	// SetRandomUUID draws a new UUID (a volume ID, for FAT) from r and
	// gives it to the filesystem, keeping consistent everything that
	// depends on it (checksums). The change is written like any other, by
	// Sync. It returns Info().UUID before and after.
	SetRandomUUID(r io.Reader) (old, new string, err error)
}
