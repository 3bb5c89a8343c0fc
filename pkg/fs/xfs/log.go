package xfs

import (
	"encoding/binary"
)

// Log constants (xfs_log_format.h).
const (
	logHeaderMagic   = 0xFEEDBABE
	logVersion2      = 2
	logHeaderCycle   = 32 << 10 // XLOG_HEADER_CYCLE_SIZE
	logUnmountTrans  = 0x20     // XLOG_UNMOUNT_TRANS
	logMaxRecordBBs  = (256 << 10) / 512
	logOpHeaderFlags = 9 // offset of oh_flags in xlog_op_header
)

// logClean reports whether the internal log is clean: its head follows
// an unmount record directly, as xlog_find_head and
// xlog_check_unmount_rec decide at mount.
func (f *FS) logClean() (bool, error) {
	start, err := f.fsbOffset(f.sb.LogStart, uint64(f.sb.LogBlocks), "log")
	if err != nil {
		return false, err
	}
	bbs := int64(f.sb.LogBlocks) << f.g.blockLog >> 9
	if bbs < 2 {
		return false, f.corruptAt(start, "log", "%d blocks", f.sb.LogBlocks)
	}
	read := func(bb int64) ([]byte, error) { return f.readAt(start+bb<<9, 512) }
	cycle := func(bb int64) (uint32, error) {
		b, err := read(bb)
		if err != nil {
			return 0, err
		}
		if binary.BigEndian.Uint32(b) == logHeaderMagic {
			return binary.BigEndian.Uint32(b[4:]), nil
		}
		return binary.BigEndian.Uint32(b), nil
	}
	first, err := cycle(0)
	if err != nil {
		return false, err
	}
	last, err := cycle(bbs - 1)
	if err != nil {
		return false, err
	}
	// The head is the first block still carrying the previous cycle.
	head := int64(0)
	if first != last {
		lo, hi := int64(0), bbs-1
		for hi-lo > 1 {
			mid := lo + (hi-lo)/2
			c, err := cycle(mid)
			if err != nil {
				return false, err
			}
			if c == first {
				lo = mid
			} else {
				hi = mid
			}
		}
		head = hi
	}
	// The last record header before the head, searching backwards.
	for i := int64(1); i <= min(bbs, logMaxRecordBBs+64); i++ {
		bb := ((head-i)%bbs + bbs) % bbs
		b, err := read(bb)
		if err != nil {
			return false, err
		}
		if binary.BigEndian.Uint32(b) != logHeaderMagic {
			continue
		}
		var h logRecordHeader
		if _, err := binary.Decode(b, binary.BigEndian, &h); err != nil {
			return false, err
		}
		hblks := int64(1)
		if h.Version&logVersion2 != 0 {
			if size := int64(binary.BigEndian.Uint32(b[320:])); size > logHeaderCycle {
				hblks = (size + logHeaderCycle - 1) / logHeaderCycle
			}
		}
		if h.Len > 1<<30 {
			return false, f.corruptAt(start+bb<<9, "log record header", "length %d", h.Len)
		}
		after := (bb + hblks + (int64(h.Len)+511)/512) % bbs
		if after != head || h.NumLogOps != 1 {
			return false, nil
		}
		op, err := read((bb + hblks) % bbs)
		if err != nil {
			return false, err
		}
		return op[logOpHeaderFlags]&logUnmountTrans != 0, nil
	}
	// No record header before the head: nothing says the log is clean.
	return false, nil
}
