package lvm

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// memDev is an in-memory PV device.
type memDev []byte

func (m memDev) ReadAt(p []byte, off int64) (int, error) {
	return bytes.NewReader(m).ReadAt(p, off)
}

func (m memDev) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(m)) {
		return 0, errors.New("memDev: write outside")
	}
	return copy(m[off:], p), nil
}

// FuzzLabel reads a label from the first sectors of a device.
func FuzzLabel(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := ReadLabel(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		if !validID([]byte(l.UUID)) || len(l.DataAreas) == 0 {
			t.Fatalf("accepted a label with UUID %q and %d data areas", l.UUID, len(l.DataAreas))
		}
		// A new UUID keeps the label valid.
		sec := l.withUUID(strings.Repeat("Z", IDLen))
		dev := memDev(bytes.Clone(data))
		copy(dev[l.Sector*SectorSize:], sec[:])
		l2, err := ReadLabel(dev, int64(len(dev)))
		if err != nil || l2.UUID != strings.Repeat("Z", IDLen) {
			t.Fatalf("relabelled: %v %q", err, l2.UUID)
		}
	})
}

// fuzzArea is the metadata area FuzzMDA reads: its input, zero-padded,
// at the start of a device of this size.
const fuzzArea = 8 << 10

// FuzzMDA reads a metadata area header and its text, then writes new
// text after it as ChangeUUIDs does and reads that back.
func FuzzMDA(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		dev := make(memDev, fuzzArea)
		copy(dev, data)
		a := DiskLocn{Offset: 0, Size: fuzzArea}
		m, err := ReadMDA(dev, fuzzArea, a)
		if err != nil || m.Text == nil {
			return
		}
		text := append(bytes.Clone(m.Text), '#')
		off, err := m.place(uint64(len(text)))
		if err != nil {
			return
		}
		done := int64(0)
		for _, p := range m.pieces(off, uint64(len(text))) {
			copy(dev[p[0]:p[0]+p[1]], text[done:done+p[1]])
			done += p[1]
		}
		hdr := m.withText(off, uint64(len(text)), crc(InitialCRC, text))
		copy(dev, hdr[:])
		m2, err := ReadMDA(dev, fuzzArea, a)
		if err != nil || !bytes.Equal(m2.Text, text) {
			t.Fatalf("rewritten text does not read back: %v", err)
		}
	})
}

// FuzzMetadata parses metadata text, decodes the VG and maps every LV
// over in-memory PVs.
func FuzzMetadata(f *testing.F) {
	f.Fuzz(func(t *testing.T, text []byte) {
		root, err := Parse(text)
		if err != nil {
			return
		}
		vg, err := DecodeVG(root, text)
		if err != nil {
			return
		}
		vg.devs = map[string]*PV{}
		for _, info := range vg.PVs {
			size := min(info.PEStart+info.PECount*vg.ExtentSize, 1<<20)
			vg.devs[info.Key] = &PV{Name: info.Key, Dev: make(memDev, size), Size: size}
		}
		for _, lv := range vg.LVs {
			v, err := vg.Volume(lv)
			if err != nil {
				continue
			}
			b := make([]byte, 2)
			if _, err := v.ReadAt(b, 0); err != nil && v.Size() >= 2 {
				t.Fatalf("LV %s: %v", lv.Name, err)
			}
			if _, err := v.WriteAt(b[:1], v.Size()-1); err != nil {
				t.Fatalf("LV %s: %v", lv.Name, err)
			}
		}
	})
}
