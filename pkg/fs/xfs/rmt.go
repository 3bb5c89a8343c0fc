package xfs

import "encoding/binary"

// checkRmt checks the header of one block of a remote symlink or remote
// attribute value: magic, CRC, UUID, owner, block number, and that it
// holds want bytes from byte offset at.
func (f *FS) checkRmt(b []byte, off int64, magic, what string, owner uint64, at, want uint32) error {
	var h rmtHeader
	if _, err := binary.Decode(b, binary.BigEndian, &h); err != nil || string(h.Magic[:]) != magic {
		return f.corruptAt(off, what, "bad magic")
	}
	if err := f.checkCRC(b, rmtCRCOff, off, what); err != nil {
		return err
	}
	if err := f.checkUUID(h.UUID, off, what); err != nil {
		return err
	}
	if h.Owner != owner || h.BlkNo != uint64(off>>9) || h.Offset != at || h.Bytes != want {
		return f.corruptAt(off, what, "owner %d, daddr %d, bytes %d at %d (want inode %d, %d bytes at %d)", h.Owner, h.BlkNo, h.Bytes, h.Offset, owner, want, at)
	}
	return nil
}
