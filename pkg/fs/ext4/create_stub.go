package ext4

import (
	"errors"
	"fmt"

	"github.com/imgprep/imgprep/pkg/fs"
)

// The create side of fs.WriteTree. These stubs are replaced by the
// create-side implementation (create*.go, rename*.go, attr_write*.go),
// built on the primitives documented in write.go.

func (f *FS) notImplemented(op, p string) error {
	if err := f.checkWrite(); err != nil {
		return f.pathErr(op, p, err)
	}
	return f.pathErr(op, p, fmt.Errorf("not implemented: %w", errors.ErrUnsupported))
}

// WriteFile is not implemented yet.
func (f *FS) WriteFile(p string, data []byte, opts fs.WriteOptions) error {
	return f.notImplemented("writefile", p)
}

// Mkdir is not implemented yet.
func (f *FS) Mkdir(p string, perm uint32, owner fs.Owner) error {
	return f.notImplemented("mkdir", p)
}

// Symlink is not implemented yet.
func (f *FS) Symlink(target, p string, owner fs.Owner) error {
	return f.notImplemented("symlink", p)
}

// Mknod is not implemented yet.
func (f *FS) Mknod(p string, mode uint32, rdev uint32, owner fs.Owner) error {
	return f.notImplemented("mknod", p)
}

// Link is not implemented yet.
func (f *FS) Link(oldPath, newPath string) error {
	return f.notImplemented("link", newPath)
}

// Chmod is not implemented yet.
func (f *FS) Chmod(p string, perm uint32) error {
	return f.notImplemented("chmod", p)
}

// Chown is not implemented yet.
func (f *FS) Chown(p string, owner fs.Owner) error {
	return f.notImplemented("chown", p)
}

// Utimes is not implemented yet.
func (f *FS) Utimes(p string, t fs.Times) error {
	return f.notImplemented("utimes", p)
}

// Rename is not implemented yet.
func (f *FS) Rename(oldPath, newPath string) error {
	return f.notImplemented("rename", oldPath)
}
