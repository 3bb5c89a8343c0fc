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
		n := &node{name: name, attr: e.Attr, cluster: uint32(e.FstClusHI)<<16 | uint32(e.FstClusLO),
			size: int64(e.FileSize), off: offsetOf(i), ents: ents,
			mtime: fatTime(e.WrtDate, e.WrtTime, 0), crtime: fatTime(e.CrtDate, e.CrtTime, e.CrtTimeTenth), atime: fatTime(e.LstAccDate, 0, 0)}
		if f.fatType != 32 {
			n.cluster = uint32(e.FstClusLO)
		}
		if n.isDir() {
			n.size = 0
		}
		out = append(out, n)
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

// lookup resolves an absolute path inside the filesystem. FAT has no
// symlinks, so every lookup is the same with or without follow; names
// compare case-insensitively as Linux's vfat does.
func (f *FS) lookup(op, p string) (*node, error) {
	n, _, err := f.lookupParent(op, p)
	return n, err
}

// lookupParent is lookup that also returns the directory holding the
// entry (nil for the root itself).
func (f *FS) lookupParent(op, p string) (n, parent *node, err error) {
	if !strings.HasPrefix(p, "/") {
		return nil, nil, perr(op, p, fs.ErrInvalid)
	}
	stack := []*node{f.root()}
	for _, c := range strings.Split(p, "/") {
		switch c {
		case "", ".":
			continue
		case "..":
			if len(stack) > 1 {
				stack = stack[:len(stack)-1]
			}
			continue
		}
		cur := stack[len(stack)-1]
		if !cur.isDir() {
			return nil, nil, perr(op, p, fs.ErrNotDir)
		}
		if len(c) > 255 {
			return nil, nil, perr(op, p, fs.ErrNameTooLong)
		}
		ents, err := f.list(cur)
		if err != nil {
			return nil, nil, perr(op, p, err)
		}
		var found *node
		for _, e := range ents {
			if strings.EqualFold(e.name, c) {
				found = e
				break
			}
		}
		if found == nil {
			return nil, nil, perr(op, p, fs.ErrNotExist)
		}
		stack = append(stack, found)
	}
	if len(stack) == 1 {
		return stack[0], nil, nil
	}
	return stack[len(stack)-1], stack[len(stack)-2], nil
}

// PathError is the error of one operation on one path.
type PathError struct {
	Op, Path string
	Err      error
}

func (e *PathError) Error() string { return "vfat: " + e.Op + " " + e.Path + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *PathError) Unwrap() error { return e.Err }

func perr(op, p string, err error) error { return &PathError{Op: op, Path: p, Err: err} }
