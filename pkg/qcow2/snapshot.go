package qcow2

import (
	"errors"
	"io"
)

// maxSnapshotTableBytes bounds the snapshot table, like QEMU's
// QCOW_MAX_SNAPSHOTS_SIZE.
const maxSnapshotTableBytes = 1024 * maxSnapshots

// Snapshot describes one internal snapshot. Only the active L1 table is
// ever read; snapshots are parsed so that their bounds are checked and
// reported, and their clusters keep their refcounts on writes.
type Snapshot struct {
	ID            string
	Name          string
	L1TableOffset int64
	L1Size        int64
	VMStateSize   int64
	DateSec       uint32
}

// parseSnapshots decodes the snapshot table the header points to, reading
// each entry from r, and returns the snapshots and the table's length.
// The file size bounds the table and the snapshots' L1 tables.
func (h *header) parseSnapshots(r io.ReaderAt) ([]Snapshot, int64, error) {
	off, fileSize, nb := int64(h.SnapshotsOffset), h.fileSize, int(h.NbSnapshots)
	out := make([]Snapshot, 0, min(nb, 1024))
	pos := int64(0)
	limit := min(fileSize-off, maxSnapshotTableBytes)
	for i := 0; i < nb; i++ {
		at := off + pos
		if limit-pos < 40 {
			return nil, 0, corrupt(at, "snapshot table", "entry %d runs past the end of the table", i)
		}
		var fixed [40]byte
		if err := readAtFull(r, fixed[:], at); err != nil {
			return nil, 0, err
		}
		e := fixed[:]
		sh := snapshotHeader{
			L1TableOffset: be.Uint64(e),
			L1Size:        be.Uint32(e[8:]),
			IDStrSize:     be.Uint16(e[12:]),
			NameSize:      be.Uint16(e[14:]),
			DateSec:       be.Uint32(e[16:]),
			DateNsec:      be.Uint32(e[20:]),
			VMClockNsec:   be.Uint64(e[24:]),
			VMStateSize:   be.Uint32(e[32:]),
			ExtraDataSize: be.Uint32(e[36:]),
		}
		if sh.ExtraDataSize > maxSnapshotExtra {
			return nil, 0, corrupt(at, "snapshot table", "entry %d has %d bytes of extra data, more than %d", i, sh.ExtraDataSize, maxSnapshotExtra)
		}
		n := int64(40) + int64(sh.ExtraDataSize) + int64(sh.IDStrSize) + int64(sh.NameSize)
		if n > limit-pos {
			return nil, 0, corrupt(at, "snapshot table", "entry %d (%d bytes) runs past the end of the table", i, n)
		}
		rest := make([]byte, n-40)
		if err := readAtFull(r, rest, at+40); err != nil {
			return nil, 0, err
		}
		e = append(e, rest...)
		if int64(sh.L1Size)*8 > maxL1Bytes {
			return nil, 0, corrupt(at, "snapshot table", "entry %d has an L1 table of %d entries", i, sh.L1Size)
		}
		if sh.L1Size > 0 {
			l1 := int64(sh.L1TableOffset)
			if sh.L1TableOffset%uint64(h.clusterSize) != 0 || l1 < h.clusterSize || l1 > fileSize || int64(sh.L1Size)*8 > fileSize-l1 {
				return nil, 0, corrupt(at, "snapshot table", "entry %d's L1 table at %#x+%d is unaligned, in the header or past the end of the file", i, l1, int64(sh.L1Size)*8)
			}
		}
		s := Snapshot{L1TableOffset: int64(sh.L1TableOffset), L1Size: int64(sh.L1Size), VMStateSize: int64(sh.VMStateSize), DateSec: sh.DateSec}
		if sh.ExtraDataSize >= 8 {
			s.VMStateSize = int64(be.Uint64(e[40:]))
		}
		p := 40 + int64(sh.ExtraDataSize)
		s.ID = string(e[p : p+int64(sh.IDStrSize)])
		p += int64(sh.IDStrSize)
		s.Name = string(e[p : p+int64(sh.NameSize)])
		out = append(out, s)
		pos += (n + 7) &^ 7
	}
	return out, pos, nil
}

// readAtFull reads len(p) bytes at off; a short read is io.ErrUnexpectedEOF.
func readAtFull(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
