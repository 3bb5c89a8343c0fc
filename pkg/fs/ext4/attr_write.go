package ext4

import (
	"github.com/imgprep/imgprep/pkg/fs"
)

// Chmod, Chown and Utimes change one inode's attributes, following a
// final symlink as chmod(2), chown(2) and utimes(2) do. Each sets ctime
// to now.

// setAttr resolves p and applies change to its inode, then sets ctime and
// writes it.
func (f *FS) setAttr(op, p string, change func(in *inode)) error {
	if err := f.checkWrite(); err != nil {
		return f.pathErr(op, p, err)
	}
	in, err := f.resolve(p, true)
	if err != nil {
		return f.pathErr(op, p, err)
	}
	change(in)
	in.setCtime(f.now())
	if err := f.writeInode(in); err != nil {
		return f.pathErr(op, p, err)
	}
	return nil
}

// Chmod sets the permission bits (with setuid, setgid and sticky) of p;
// the file type bits stay.
func (f *FS) Chmod(p string, perm uint32) error {
	return f.setAttr("chmod", p, func(in *inode) {
		in.d.Mode = in.d.Mode&uint16(fs.ModeTypeMask) | uint16(perm&fs.ModePermMask)
	})
}

// Chown sets the owner of p, 32-bit uid and gid (high halves in
// l_i_uid_high/l_i_gid_high).
func (f *FS) Chown(p string, owner fs.Owner) error {
	return f.setAttr("chown", p, func(in *inode) { in.setOwner(owner) })
}

// Utimes sets the atime and mtime of p; a zero time leaves that time as
// it is. Nanoseconds and the epoch bits go in the extra fields when the
// inode is large enough.
func (f *FS) Utimes(p string, t fs.Times) error {
	return f.setAttr("utimes", p, func(in *inode) {
		if !t.Atime.IsZero() {
			in.setAtime(t.Atime)
		}
		if !t.Mtime.IsZero() {
			in.setMtime(t.Mtime)
		}
	})
}
