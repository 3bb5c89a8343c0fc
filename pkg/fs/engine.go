package fs

import (
	"errors"
	"fmt"
)

// Ino identifies an inode within one engine. Engines choose the numbers
// (ext4: the inode number; vfat: the byte offset of the directory entry);
// the walker only hands them back to the engine that gave them out.
type Ino uint64

// MaxNameLen is the longest file name component the walker passes to an
// engine, as Linux's NAME_MAX; a longer one is ErrNameTooLong.
const MaxNameLen = 255

// Engine is what a filesystem engine implements: steps at inode level, as
// e2fsprogs' ext2fs_lookup and gVisor's stepLocked. Engines know nothing
// of paths or symlink rules; the Walker in this package resolves paths,
// component by component, with Lookup and Readlink, and Tree provides the
// path-level ReadTree and WriteTree on top of it.
//
// Errors are the sentinels of this package (ErrNotExist, ErrNotDir, ...)
// or the engine's own corruption errors, without a path: the walker adds
// the operation and path (PathError).
type Engine interface {
	// Root returns the root directory.
	Root() Ino
	// Lookup finds name (never "." or "..", never longer than MaxNameLen)
	// in directory dir and returns its inode and attributes. A missing
	// name is ErrNotExist; a dir that is not a directory is ErrNotDir.
	Lookup(dir Ino, name string) (Ino, Attr, error)
	// Stat returns the attributes of ino.
	Stat(ino Ino) (Attr, error)
	// Readlink returns the target of symlink ino (ErrNotSymlink if it is
	// not one).
	Readlink(ino Ino) (string, error)
	// ReadDir calls fn for each entry of directory dir except "." and
	// "..", in the engine's order, until fn returns false. It holds no
	// more than a directory block's worth of entries at a time, so that
	// memory stays bounded whatever the directory size.
	ReadDir(dir Ino, fn func(DirEntry) bool) error
	// OpenFile opens regular file ino for reading. File.Size may exceed
	// the filesystem size only for a sparse file, and then the engine is
	// a FileReader.
	OpenFile(ino Ino) (File, error)
	// Xattrs returns every extended attribute of ino, keyed by full name.
	Xattrs(ino Ino) (map[string][]byte, error)
}

// WriteEngine is an Engine that can change its filesystem. Every method
// makes its whole change or returns an error. Names are single components
// that the walker has checked (not "." or "..", at most MaxNameLen bytes);
// every (dir, name) pair has dir a directory of this engine, reached
// without symlinks.
type WriteEngine interface {
	Engine
	// WriteFile creates name in dir as a regular file holding data, or,
	// when name is an existing regular file, overwrites it in place (see
	// WriteOptions).
	WriteFile(dir Ino, name string, data []byte, opts WriteOptions) error
	// Mkdir creates directory name in dir; ErrExist if name exists.
	Mkdir(dir Ino, name string, perm uint32, owner Owner) error
	// Symlink creates symlink name in dir pointing to target.
	Symlink(dir Ino, name, target string, owner Owner) error
	// Remove unlinks name from dir: a non-directory, or an empty
	// directory (ErrNotEmpty otherwise). The inode is freed with its last
	// link.
	Remove(dir Ino, name string) error
	// RemoveAll removes name from dir and, for a directory, everything
	// below it, all or nothing.
	RemoveAll(dir Ino, name string) error
	// Rename moves name in dir to newName in newDir, replacing a
	// non-directory or an empty directory there as rename(2) does.
	Rename(dir Ino, name string, newDir Ino, newName string) error
	// Setattr changes the attributes of ino that c selects.
	Setattr(ino Ino, c AttrChange) error
	// Truncate sets the size of regular file ino.
	Truncate(ino Ino, size int64) error
}

// AttrChange says what Setattr changes: the fields whose bit is in Set.
type AttrChange struct {
	Set   AttrMask
	Perm  uint32 // permission bits, with SetPerm
	Owner Owner  // with SetOwner
	// Times, with SetTimes: a zero time leaves that time as it is.
	Times Times
}

// AttrMask selects the fields of an AttrChange.
type AttrMask uint8

// The fields of an AttrChange.
const (
	SetPerm AttrMask = 1 << iota
	SetOwner
	SetTimes
)

// FileReader is an optional Engine extension for engines whose files can
// be sparse: ReadFile reads a whole regular file, refusing one larger than
// the filesystem before allocating it.
type FileReader interface {
	ReadFile(ino Ino) ([]byte, error)
}

// Mknoder is an optional WriteEngine extension: device nodes, fifos and
// sockets. mode holds the type bits and the permission bits.
type Mknoder interface {
	Mknod(dir Ino, name string, mode uint32, rdev uint32, owner Owner) error
}

// Linker is an optional WriteEngine extension: hard links. It makes name
// in dir another name of the non-directory ino.
type Linker interface {
	Link(ino Ino, dir Ino, name string) error
}

// CycleReporter is an optional Engine extension: the engine's own error
// for a directory entry that leads back to a directory above it on the
// way down (a corrupt filesystem; the walker refuses to descend).
type CycleReporter interface {
	DirCycle(dir Ino, name string, child Ino) error
}

// ErrRelativePath: paths given to the walker are absolute.
var ErrRelativePath = fmt.Errorf("fs: path is not absolute: %w", ErrInvalid)

// ErrDirCycle is the walker's error for a directory cycle when the engine
// is no CycleReporter.
var ErrDirCycle = errors.New("fs: directory cycle")

// PathError is the error of one path operation: the filesystem (or guest)
// it was made on, the operation and the path as given.
type PathError struct {
	FS   string // "ext4 on partition 2", "memfs"; "" for none
	Op   string // "remove"
	Path string
	Err  error
}

func (e *PathError) Error() string {
	s := e.Op + " " + e.Path + ": " + e.Err.Error()
	if e.FS != "" {
		s = e.FS + ": " + s
	}
	return s
}

// Unwrap returns the underlying error.
func (e *PathError) Unwrap() error { return e.Err }

// IsAbsent reports whether err means the path is not there for a guest:
// it, or a directory on the way, is missing or not a directory, a symlink
// chain on the way never ends, or a name is longer than any can be.
func IsAbsent(err error) bool {
	return errors.Is(err, ErrNotExist) || errors.Is(err, ErrNotDir) ||
		errors.Is(err, ErrLoop) || errors.Is(err, ErrNameTooLong)
}
