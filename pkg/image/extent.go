package image

import (
	"fmt"

	"github.com/imgprep/imgprep/pkg/qcow2"
)

// Extent is a run of a virtual disk that holds data or reads as zeros
// (Zero). It is the qcow2 package's type, so that a *qcow2.Image reports
// extents that Copy understands without pkg/qcow2 importing this package.
type Extent = qcow2.Extent

// Extenter is a virtual disk that can report its extents, as
// (*qcow2.Image).Extents does. Data extents may still hold zeros; zero
// extents never hold anything else.
type Extenter interface {
	Extents(off, length int64) ([]Extent, error)
}

var _ Extenter = (*Handle)(nil)

// Extents maps [off, off+length) of the virtual disk into data and zero
// extents, in order, covering the range exactly, staged writes included.
// A qcow2 image reports its cluster tables, down its backing chain (a
// raw backing file as its holes); a raw image reports the holes of its
// host file (lseek SEEK_DATA/SEEK_HOLE), every staged write as data, and
// all data where the host filesystem cannot tell. A data extent may still
// read as zeros; a zero extent never reads as anything else.
func (h *Handle) Extents(off, length int64) ([]Extent, error) {
	if err := h.live(); err != nil {
		return nil, err
	}
	size := h.disk.Size()
	if off < 0 || length < 0 || off > size || length > size-off {
		return nil, fmt.Errorf("%w: %s: extents %d+%d of a %d-byte disk", ErrOutOfRange, h.path, off, length, size)
	}
	switch d := h.disk.(type) {
	case *qcow2.Image:
		ext, err := d.Extents(off, length)
		if err != nil {
			return nil, fmt.Errorf("image: %s: %w", h.path, err)
		}
		return ext, nil
	case *rawDisk:
		ext := []Extent{{Offset: off, Length: length}}
		if hm, ok := h.file.(holeMapper); ok {
			ext = fileExtents(hm, off, length)
		}
		if h.tx != nil {
			for _, r := range h.tx.Regions() {
				ext = markData(ext, r.Off, r.Len)
			}
		}
		return ext, nil
	}
	return []Extent{{Offset: off, Length: length}}, nil
}

// holeMapper is a host file that can say where its holes are
// (*storage.OSFile).
type holeMapper interface {
	SeekData(off int64) (int64, error)
	SeekHole(off int64) (int64, error)
}

// fileExtents maps [off, off+length) of a host file, which must cover it,
// into data and hole (zero) extents. Any failure of the hole map (a
// filesystem without SEEK_DATA) makes the rest of the range data.
func fileExtents(f holeMapper, off, length int64) []Extent {
	end := off + length
	var out extentList
	for pos := off; pos < end; {
		data, err := f.SeekData(pos)
		if err != nil {
			out.add(pos, end-pos, false)
			break
		}
		data = min(max(data, pos), end)
		out.add(pos, data-pos, true)
		if data >= end {
			break
		}
		hole, err := f.SeekHole(data)
		if err != nil || hole <= data {
			out.add(data, end-data, false)
			break
		}
		hole = min(hole, end)
		out.add(data, hole-data, false)
		pos = hole
	}
	return out
}

// markData returns ext (in order, contiguous) with [lo, lo+n) made data.
func markData(ext []Extent, lo, n int64) []Extent {
	hi := lo + n
	var out extentList
	for _, e := range ext {
		eEnd := e.Offset + e.Length
		if !e.Zero || hi <= e.Offset || eEnd <= lo {
			out.add(e.Offset, e.Length, e.Zero)
			continue
		}
		a, b := max(e.Offset, lo), min(eEnd, hi)
		out.add(e.Offset, a-e.Offset, true)
		out.add(a, b-a, false)
		out.add(b, eEnd-b, true)
	}
	return out
}

// extentList builds an extent map, merging neighbours of the same kind.
type extentList []Extent

func (l *extentList) add(off, n int64, zero bool) {
	if n <= 0 {
		return
	}
	if k := len(*l); k > 0 && (*l)[k-1].Zero == zero && (*l)[k-1].Offset+(*l)[k-1].Length == off {
		(*l)[k-1].Length += n
		return
	}
	*l = append(*l, Extent{Offset: off, Length: n, Zero: zero})
}
