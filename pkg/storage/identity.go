package storage

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// ErrUntrusted means a file imgprep would act on (a rollback journal) is
// owned by someone other than the user running imgprep or root, is
// writable by its group or by others, or is not a regular file: whoever
// planted it could make imgprep write arbitrary bytes.
var ErrUntrusted = errors.New("storage: file is not trusted")

// Identity says which host file an image is, in a way that survives
// renaming it and tells it from a file later created under its name.
type Identity struct {
	// Block is true for a block device.
	Block bool
	// Dev and Ino are st_dev and st_ino of a regular file; for a block
	// device, Dev is its st_rdev (major:minor) and Ino its size.
	Dev, Ino uint64
}

// IsZero reports whether the identity is unknown.
func (id Identity) IsZero() bool { return id == Identity{} }

// String is "device 8:1 size 1073741824" or "device 259:3 inode 1234".
func (id Identity) String() string {
	maj, mnr := strconv.FormatUint(uint64(unix.Major(id.Dev)), 10), strconv.FormatUint(uint64(unix.Minor(id.Dev)), 10)
	if id.Block {
		return "block device " + maj + ":" + mnr + " of " + strconv.FormatUint(id.Ino, 10) + " bytes"
	}
	return "file on device " + maj + ":" + mnr + " inode " + strconv.FormatUint(id.Ino, 10)
}

// Identity returns the identity of the open file.
func (o *OSFile) Identity() (Identity, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(o.f.Fd()), &st); err != nil {
		return Identity{}, &PathError{Op: "stat", Name: o.name, Err: err}
	}
	if st.Mode&unix.S_IFMT == unix.S_IFBLK {
		size, err := o.Size()
		if err != nil {
			return Identity{}, err
		}
		return Identity{Block: true, Dev: uint64(st.Rdev), Ino: uint64(size)}, nil
	}
	return Identity{Dev: uint64(st.Dev), Ino: st.Ino}, nil
}

// IsBlockDevice reports whether the open file is a block device.
func (o *OSFile) IsBlockDevice() bool {
	st, err := o.f.Stat()
	return err == nil && st.Mode()&os.ModeDevice != 0 && st.Mode()&os.ModeCharDevice == 0
}

// trusted checks that the open file f is a regular file owned by the
// effective user or root and writable by neither group nor others.
func trusted(f *os.File, path string) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return err
	}
	euid := uint32(os.Geteuid())
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return fmt.Errorf("%w: %s is not a regular file", ErrUntrusted, path)
	case st.Uid != euid && st.Uid != 0:
		return fmt.Errorf("%w: %s is owned by uid %d, neither you (uid %d) nor root; remove it if you know where it comes from", ErrUntrusted, path, st.Uid, euid)
	case st.Mode&0o022 != 0:
		return fmt.Errorf("%w: %s is writable by group or others (mode %04o); remove it if you know where it comes from", ErrUntrusted, path, st.Mode&0o7777)
	}
	return nil
}
