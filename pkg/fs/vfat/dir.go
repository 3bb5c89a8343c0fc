package vfat

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/imgprep/imgprep/pkg/fs"
)

// node is one directory entry as the reader sees it.
type node struct {
	name    string
	attr    uint8
	cluster uint32
	size    int64
	mtime   time.Time
	crtime  time.Time
	atime   time.Time
	off     int64 // byte offset of the short entry, its inode number
	// ents are the byte offsets of the entry's long-name entries and, last,
	// its short entry: what a removal marks deleted.
	ents []int64
}

func (n *node) isDir() bool { return n.attr&AttrDirectory != 0 }

// root is the root directory's node.
func (f *FS) root() *node {
	return &node{name: "/", attr: AttrDirectory, cluster: f.rootCluster, off: 1}
}

// maxDirBytes bounds one directory: 65536 entries, as the kernel's
// FAT_MAX_DIR_ENTRIES.
const maxDirBytes = 65536 * dirEntrySize

// dirData reads a directory's entries, and returns a function giving the
// device offset of each byte of them.
func (f *FS) dirData(d *node) ([]byte, func(i int) int64, error) {
	if d.off == 1 && f.fatType != 32 {
		b := make([]byte, f.rootEntries*dirEntrySize)
		if _, err := f.r.ReadAt(b, f.rootOffset); err != nil && !errors.Is(err, io.EOF) {
			return nil, nil, fmt.Errorf("vfat: reading the root directory: %w", err)
		}
		return b, func(i int) int64 { return f.rootOffset + int64(i) }, nil
	}
	cl, err := f.chain(d.cluster, maxDirBytes/f.clusterSize+1)
	if err != nil {
		return nil, nil, err
	}
	b := make([]byte, int64(len(cl))*f.clusterSize)
	for i, c := range cl {
		if _, err := f.r.ReadAt(b[int64(i)*f.clusterSize:int64(i+1)*f.clusterSize], f.clusterOffset(c)); err != nil && !errors.Is(err, io.EOF) {
			return nil, nil, fmt.Errorf("vfat: reading directory cluster %d: %w", c, err)
		}
	}
	return b, func(i int) int64 { return f.clusterOffset(cl[int64(i)/f.clusterSize]) + int64(i)%f.clusterSize }, nil
}

// list returns the entries of directory d, without "." and "..".
func (f *FS) list(d *node) ([]*node, error) {
	data, offsetOf, err := f.dirData(d)
	if err != nil {
		return nil, err
	}
	var out []*node
	var lfn []uint16
	var lfnOffs []int64
	var lfnSum uint8
	lfnNext := 0 // the sequence number the next long entry must carry, 0: none pending
	for i := 0; i+dirEntrySize <= len(data); i += dirEntrySize {
		raw := data[i : i+dirEntrySize]
		if raw[0] == 0x00 {
			break
		}
		if raw[0] == 0xE5 {
			lfnNext = 0
			continue
		}
		if raw[11]&attrLongMask == AttrLongName {
			var l LFNEntry
			_ = binary.Read(bytes.NewReader(raw), binary.LittleEndian, &l)
			seq := int(l.Ord &^ lfnLast)
			switch {
			case l.Ord&lfnLast != 0 && seq >= 1 && seq <= 20:
				lfn = make([]uint16, seq*13)
				lfnSum, lfnNext, lfnOffs = l.Chksum, seq, nil
			case lfnNext > 0 && seq == lfnNext && l.Chksum == lfnSum:
			default:
				lfnNext = 0
				continue
			}
			units := append(append(l.Name1[:], l.Name2[:]...), l.Name3[:]...)
			copy(lfn[(seq-1)*13:], units)
			lfnOffs = append(lfnOffs, offsetOf(i))
			lfnNext = seq - 1
			if lfnNext == 0 {
				lfnNext = -1 // complete: applies to the next short entry
			}
			continue
		}
		var e DirEntry
		_ = binary.Read(bytes.NewReader(raw), binary.LittleEndian, &e)
		long, ents := "", []int64{offsetOf(i)}
		if lfnNext == -1 && checksum(e.Name) == lfnSum {
			long = decodeLFN(lfn)
			ents = append(lfnOffs, ents...)
		}
		lfnNext = 0
		if e.Attr&AttrVolumeID != 0 {
			continue
		}
		name := long
		if name == "" {
			name = shortName(e)
		}
		if name == "." || name == ".." || name == "" || strings.ContainsAny(name, "/\x00") {
			continue
		}
		out = append(out, f.newNode(e, name, offsetOf(i), ents))
	}
	return out, nil
}

// checksum is the short-name checksum stored in long-name entries.
func checksum(name [11]byte) uint8 {
	var s uint8
	for _, c := range name {
		s = (s&1)<<7 + s>>1 + c
	}
	return s
}

func decodeLFN(u []uint16) string {
	for i, c := range u {
		if c == 0x0000 || c == 0xFFFF {
			u = u[:i]
			break
		}
	}
	return string(utf16.Decode(u))
}

// shortName renders an 8.3 name as Linux does with the NTRes case flags.
func shortName(e DirEntry) string {
	n := e.Name
	if n[0] == 0x05 {
		n[0] = 0xE5
	}
	base := strings.TrimRight(string(n[:8]), " ")
	ext := strings.TrimRight(string(n[8:]), " ")
	base, ext = decodeOEM(base), decodeOEM(ext)
	if e.NTRes&ntresLowerBas != 0 {
		base = strings.ToLower(base)
	}
	if e.NTRes&ntresLowerExt != 0 {
		ext = strings.ToLower(ext)
	}
	if ext == "" {
		return base
	}
	return base + "." + ext
}

// fatTime decodes a FAT date and time (local time of the writer; read as
// UTC, as a guest with its clock in UTC would).
func fatTime(date, tm uint16, tenth uint8) time.Time {
	if date == 0 {
		return time.Time{}
	}
	return time.Date(1980+int(date>>9), time.Month(date>>5&0xF), int(date&0x1F),
		int(tm>>11), int(tm>>5&0x3F), int(tm&0x1F)*2+int(tenth)/100, int(tenth)%100*10_000_000, time.UTC)
}

// entry decodes the short directory entry at byte offset off into a
// node; the root directory is offset 1. This is how an inode number (the
// entry's offset, as Linux's i_pos) becomes a node again.
func (f *FS) entry(off int64) (*node, error) {
	if off == 1 {
		return f.root(), nil
	}
	first := f.dataOffset
	if f.fatType != 32 {
		first = f.rootOffset
	}
	if off < first || off%dirEntrySize != 0 || off+dirEntrySize > f.size {
		return nil, fmt.Errorf("%w: inode %d", fs.ErrInvalid, off)
	}
	raw := make([]byte, dirEntrySize)
	if _, err := f.r.ReadAt(raw, off); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if raw[0] == 0 || raw[0] == 0xE5 || raw[11]&attrLongMask == AttrLongName {
		return nil, fmt.Errorf("%w: no directory entry at byte %d", fs.ErrNotExist, off)
	}
	var e DirEntry
	_ = binary.Read(bytes.NewReader(raw), binary.LittleEndian, &e)
	return f.newNode(e, shortName(e), off, []int64{off}), nil
}

// newNode is the node of short entry e at off, named name, whose entries
// (long-name ones, then the short one) are at ents.
func (f *FS) newNode(e DirEntry, name string, off int64, ents []int64) *node {
	n := &node{name: name, attr: e.Attr, cluster: uint32(e.FstClusHI)<<16 | uint32(e.FstClusLO),
		size: int64(e.FileSize), off: off, ents: ents,
		mtime: fatTime(e.WrtDate, e.WrtTime, 0), crtime: fatTime(e.CrtDate, e.CrtTime, e.CrtTimeTenth), atime: fatTime(e.LstAccDate, 0, 0)}
	if f.fatType != 32 {
		n.cluster = uint32(e.FstClusLO)
	}
	if n.isDir() {
		n.size = 0
	}
	return n
}

// dirNode returns directory ino.
func (f *FS) dirNode(ino fs.Ino) (*node, error) {
	d, err := f.entry(int64(ino))
	if err == nil && !d.isDir() {
		err = fs.ErrNotDir
	}
	return d, err
}

// find returns the entry of directory d named name, compared
// case-insensitively as Linux's vfat does.
func (f *FS) find(d *node, name string) (*node, error) {
	ents, err := f.list(d)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		if strings.EqualFold(e.name, name) {
			return e, nil
		}
	}
	return nil, fs.ErrNotExist
}

// child returns directory dir and its entry name.
func (f *FS) child(dir fs.Ino, name string) (d, n *node, err error) {
	if d, err = f.dirNode(dir); err != nil {
		return nil, nil, err
	}
	n, err = f.find(d, name)
	return d, n, err
}
