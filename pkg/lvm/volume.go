package lvm

import (
	"fmt"
	"io"
	"sort"
)

// Volume is a mapped logical volume: reads and writes at LV offsets go to
// the PV devices the metadata assigns, so a write through it is part of
// whatever transaction those devices belong to.
type Volume struct {
	name string
	size int64
	segs []vseg
}

// vseg is one segment: LV bytes [start, end), in chunks of chunk bytes
// spread round-robin over areas (one area: chunk is the segment's length).
type vseg struct {
	start, end int64
	chunk      int64
	areas      []varea
}

// varea is one stripe's area: its device and the byte offset it starts at.
type varea struct {
	dev Device
	off int64
}

// Volume maps lv. It fails with ErrUnsupported for an LV imgprep does not
// map (thin, RAID, cache, snapshots and their origins), and with
// ErrMissingPV when the LV uses a PV that is not there.
func (vg *VG) Volume(lv *LV) (*Volume, error) {
	if ok, why := lv.Writable(); !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnsupported, why)
	}
	v := &Volume{name: vg.Name + "/" + lv.Name, size: lv.Size}
	for _, s := range lv.Segments {
		k := int64(len(s.Stripes))
		per := s.ExtentCount / k * vg.ExtentSize
		vs := vseg{start: s.StartExtent * vg.ExtentSize, end: (s.StartExtent + s.ExtentCount) * vg.ExtentSize, chunk: s.StripeSize}
		if k == 1 {
			vs.chunk = vs.end - vs.start
		}
		for _, st := range s.Stripes {
			pv := vg.devs[st.PV]
			info := vg.PV(st.PV)
			if pv == nil {
				return nil, fmt.Errorf("%w: LV %s uses PV %s, which is not on the disks", ErrMissingPV, v.name, FormatID(info.ID))
			}
			off := info.PEStart + st.StartExtent*vg.ExtentSize
			if off > pv.Size || per > pv.Size-off {
				return nil, fmt.Errorf("%w: LV %s: extents %d+%d of PV %s reach past the end of %s (%d bytes)",
					ErrBadMetadata, v.name, st.StartExtent, s.ExtentCount/k, FormatID(info.ID), pv.Name, pv.Size)
			}
			vs.areas = append(vs.areas, varea{dev: pv.Dev, off: off})
		}
		v.segs = append(v.segs, vs)
	}
	return v, nil
}

// Name returns "VG/LV".
func (v *Volume) Name() string { return v.name }

// Size returns the LV's size in bytes.
func (v *Volume) Size() int64 { return v.size }

// locate returns where LV byte off lies and how many bytes from there are
// contiguous on that device.
func (v *Volume) locate(off int64) (Device, int64, int64) {
	i := sort.Search(len(v.segs), func(i int) bool { return v.segs[i].end > off })
	s := v.segs[i]
	rel := off - s.start
	n := int64(len(s.areas))
	chunk, within := rel/s.chunk, rel%s.chunk
	a := s.areas[chunk%n]
	return a.dev, a.off + (chunk/n)*s.chunk + within, min(s.chunk-within, s.end-off)
}

// ReadAt reads as io.ReaderAt does: a read reaching past the LV's end
// returns the bytes before it and io.EOF.
func (v *Volume) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("%w: read at negative offset %d", ErrOutsideVolume, off)
	}
	if off >= v.size {
		return 0, io.EOF
	}
	short := false
	if rest := v.size - off; int64(len(p)) > rest {
		p, short = p[:rest], true
	}
	done := 0
	for done < len(p) {
		dev, doff, n := v.locate(off + int64(done))
		n = min(n, int64(len(p)-done))
		got, err := dev.ReadAt(p[done:done+int(n)], doff)
		done += got
		if err != nil && !(err == io.EOF && int64(got) == n) {
			return done, err
		}
	}
	if short {
		return done, io.EOF
	}
	return done, nil
}

// WriteAt writes all of p at off, or, when p would reach past the LV's
// end, nothing, with an error wrapping ErrOutsideVolume.
func (v *Volume) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off > v.size || int64(len(p)) > v.size-off {
		return 0, fmt.Errorf("%w: write of %d bytes at offset %d, LV %s has %d bytes", ErrOutsideVolume, len(p), off, v.name, v.size)
	}
	done := 0
	for done < len(p) {
		dev, doff, n := v.locate(off + int64(done))
		n = min(n, int64(len(p)-done))
		got, err := dev.WriteAt(p[done:done+int(n)], doff)
		done += got
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// Extent is one contiguous piece of an LV on a device, for tools that
// address the device directly (losetup --offset --sizelimit).
type Extent struct {
	PV     string // the PV's metadata key
	Offset int64  // bytes on the PV device
	Size   int64
}

// Extents lists the LV's pieces in LV order; a striped segment gives one
// piece per chunk.
func (vg *VG) Extents(lv *LV) ([]Extent, error) {
	v, err := vg.Volume(lv)
	if err != nil {
		return nil, err
	}
	var out []Extent
	for off := int64(0); off < v.size; {
		dev, doff, n := v.locate(off)
		key := ""
		for k, pv := range vg.devs {
			if pv.Dev == dev {
				key = k
			}
		}
		if len(out) > 0 && out[len(out)-1].PV == key && out[len(out)-1].Offset+out[len(out)-1].Size == doff {
			out[len(out)-1].Size += n
		} else {
			out = append(out, Extent{PV: key, Offset: doff, Size: n})
		}
		off += n
	}
	return out, nil
}
