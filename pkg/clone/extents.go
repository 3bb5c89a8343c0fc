package clone

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"

	"github.com/imgprep/imgprep/pkg/image"
	"github.com/imgprep/imgprep/pkg/qcow2"
)

// extentSource is the template as a full clone's copy reads it: data
// through the image handle, the map of data and zero extents from the
// template file itself, so that image.Copy skips what holds no data
// instead of reading the whole virtual disk. (*image.Handle reports no
// extents yet; once it does, this goes.)
type extentSource struct {
	*image.Handle
	extents func(off, length int64) ([]image.Extent, error)
}

func (s extentSource) Extents(off, length int64) ([]image.Extent, error) {
	return s.extents(off, length)
}

// copySource returns what image.Copy should read for the template open
// in h, and a function releasing it. Only a template without a backing
// file has its map read here (a qcow2's tables through pkg/qcow2, a raw
// file's holes through SEEK_DATA); otherwise h is read whole.
func copySource(template string, h *image.Handle) (image.CopySource, func()) {
	none := func() {}
	if len(h.Chain()) != 1 {
		return h, none
	}
	f, err := os.Open(template)
	if err != nil {
		return h, none
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return h, none
	}
	switch h.Format() {
	case image.FormatQcow2:
		img, err := qcow2.Open(f, fi.Size(), qcow2.Options{Name: template})
		if err != nil || img.Size() != h.Size() {
			f.Close()
			return h, none
		}
		return extentSource{h, img.Extents}, func() { img.Close(); f.Close() }
	case image.FormatRaw:
		if fi.Size() != h.Size() {
			f.Close()
			return h, none
		}
		return extentSource{h, func(off, length int64) ([]image.Extent, error) { return holes(f, off, length) }}, func() { f.Close() }
	}
	f.Close()
	return h, none
}

// holes maps [off, off+length) of a raw file into data and zero (hole)
// extents with SEEK_DATA and SEEK_HOLE. A filesystem without them makes
// it all data.
func holes(f *os.File, off, length int64) ([]image.Extent, error) {
	end := off + length
	var out []image.Extent
	add := func(o, l int64, zero bool) {
		if l <= 0 {
			return
		}
		if k := len(out); k > 0 && out[k-1].Zero == zero && out[k-1].Offset+out[k-1].Length == o {
			out[k-1].Length += l
			return
		}
		out = append(out, image.Extent{Offset: o, Length: l, Zero: zero})
	}
	for pos := off; pos < end; {
		data, err := f.Seek(pos, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			add(pos, end-pos, true)
			break
		}
		if err != nil {
			return []image.Extent{{Offset: off, Length: length}}, nil
		}
		data = min(data, end)
		add(pos, data-pos, true)
		if data >= end {
			break
		}
		hole, err := f.Seek(data, unix.SEEK_HOLE)
		if err != nil {
			return []image.Extent{{Offset: off, Length: length}}, nil
		}
		hole = min(hole, end)
		add(data, hole-data, false)
		pos = hole
	}
	return out, nil
}
