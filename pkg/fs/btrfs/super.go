package btrfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// superCopy is one superblock copy as read from the device.
type superCopy struct {
	sb     Superblock
	offset int64
	err    error // nil when the copy is valid
}

// readSupers reads every superblock copy that fits on the device. The
// primary is first. A copy past the device end is not returned.
func readSupers(r io.ReaderAt, size int64) ([]superCopy, error) {
	var out []superCopy
	for _, off := range superMirrors {
		if off+superSize > size {
			break
		}
		buf := make([]byte, superSize)
		if n, err := r.ReadAt(buf, off); err != nil && !(errors.Is(err, io.EOF) && n == superSize) {
			return nil, fmt.Errorf("btrfs: reading the superblock at byte %d: %w", off, err)
		}
		c := superCopy{offset: off}
		decode(buf, &c.sb)
		c.err = checkSuper(buf, &c.sb, off)
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: device of %d bytes is too small", ErrNotBtrfs, size)
	}
	return out, nil
}

// checkSuper validates one superblock copy read at byte off.
func checkSuper(buf []byte, sb *Superblock, off int64) error {
	if string(sb.Magic[:]) != superMagic {
		return fmt.Errorf("%w: no magic at byte %d", ErrNotBtrfs, off)
	}
	bad := func(format string, args ...any) error {
		return corrupt("superblock", -1, off, format, args...)
	}
	cs, err := newChecksummer(sb.CsumType)
	if err != nil {
		return err
	}
	if got := cs.sum(buf[csumSize:superSize]); !bytes.Equal(got[:cs.size], sb.Csum[:cs.size]) {
		e := bad("%s checksum mismatch", cs.name).(*FormatError)
		e.Checksum = true
		return e
	}
	if sb.Bytenr != uint64(off) {
		return bad("bytenr %d, expected %d", sb.Bytenr, off)
	}
	ss, ns := sb.SectorSize, sb.NodeSize
	if ss < 4096 || ss > 64<<10 || ss&(ss-1) != 0 {
		return bad("sector size %d", ss)
	}
	if ns < ss || ns > maxNodeSize || ns&(ns-1) != 0 {
		return bad("node size %d", ns)
	}
	if sb.SysChunkArraySize > sysChunkSize {
		return bad("sys_chunk_array_size %d", sb.SysChunkArraySize)
	}
	if sb.RootLevel >= maxLevel || sb.ChunkRootLevel >= maxLevel || sb.LogRootLevel >= maxLevel {
		return bad("tree level out of range")
	}
	for _, a := range []uint64{sb.Root, sb.ChunkRoot} {
		if a == 0 || a%uint64(ss) != 0 {
			return bad("tree root %d not aligned to the sector size", a)
		}
	}
	if sb.NumDevices == 0 {
		return bad("no devices")
	}
	return nil
}

// pickSuper chooses the superblock to read: the primary when it is valid,
// as the kernel mounts; otherwise the valid mirror with the highest
// generation, as btrfs-progs' recovery does. note says what was found
// wrong with the copies ("" when they all agree).
func pickSuper(copies []superCopy) (*Superblock, string, error) {
	prim := copies[0]
	var notes []string
	for _, c := range copies[1:] {
		switch {
		case errors.Is(c.err, ErrNotBtrfs):
			// mkfs of a small device writes no mirror; a device grown
			// later has none at the new offset until the next commit.
		case c.err != nil:
			notes = append(notes, fmt.Sprintf("superblock mirror at byte %d is bad (%v)", c.offset, c.err))
		case prim.err == nil && c.sb.FSID != prim.sb.FSID:
			notes = append(notes, fmt.Sprintf("superblock mirror at byte %d belongs to another filesystem", c.offset))
		case prim.err == nil && c.sb.Generation != prim.sb.Generation:
			notes = append(notes, fmt.Sprintf("superblock mirror at byte %d has generation %d, the primary %d", c.offset, c.sb.Generation, prim.sb.Generation))
		}
	}
	if prim.err == nil {
		return &prim.sb, joinNotes(notes), nil
	}
	if errors.Is(prim.err, ErrUnsupported) || errors.Is(prim.err, ErrNotBtrfs) {
		return nil, "", prim.err
	}
	best := -1
	for i, c := range copies[1:] {
		if c.err == nil && (best < 0 || c.sb.Generation > copies[best].sb.Generation) {
			best = i + 1
		}
	}
	if best < 0 {
		return nil, "", prim.err
	}
	notes = append(notes, fmt.Sprintf("primary superblock is bad (%v); read through the mirror at byte %d", prim.err, copies[best].offset))
	return &copies[best].sb, joinNotes(notes), nil
}

func joinNotes(n []string) string {
	s := ""
	for i, x := range n {
		if i > 0 {
			s += "; "
		}
		s += x
	}
	return s
}
