package ext4

import (
	"github.com/imgprep/imgprep/pkg/fs"
)

// setattr changes the attributes of inode ino that c selects, as
// chmod(2), chown(2) and utimes(2) do, sets ctime to now and writes it.
// Permission bits include setuid, setgid and sticky, and the type bits
// stay; uid and gid are 32-bit (high halves in l_i_uid_high and
// l_i_gid_high); a zero time leaves that time as it is, and nanoseconds
// and the epoch bits go in the extra fields when the inode is large
// enough.
func (f *FS) setattr(ino fs.Ino, c fs.AttrChange) error {
	in, err := f.inodeOf(ino)
	if err != nil {
		return err
	}
	if c.Set&fs.SetPerm != 0 {
		in.d.Mode = in.d.Mode&uint16(fs.ModeTypeMask) | uint16(c.Perm&fs.ModePermMask)
	}
	if c.Set&fs.SetOwner != 0 {
		in.setOwner(c.Owner)
	}
	if c.Set&fs.SetTimes != 0 {
		if !c.Times.Atime.IsZero() {
			in.setAtime(c.Times.Atime)
		}
		if !c.Times.Mtime.IsZero() {
			in.setMtime(c.Times.Mtime)
		}
	}
	in.setCtime(f.now())
	return f.writeInode(in)
}
