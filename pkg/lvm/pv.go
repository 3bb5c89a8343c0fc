package lvm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
)

// Device is the storage a PV lies on: a partition, or a whole disk.
type Device interface {
	io.ReaderAt
	io.WriterAt
}

// PV is a physical volume found on a device.
type PV struct {
	Name  string // names the device in messages: "partition 3 of vm.qcow2"
	Dev   Device
	Size  int64
	Label *Label
	MDAs  []*MDA
	// VG is the newest valid metadata the PV's own areas hold; nil for a
	// PV without metadata areas, or one in no VG.
	VG *VG
	// MDAErr is why a metadata area was skipped while another one was
	// good, for reports.
	MDAErr error
}

// ReadPV reads the PV on dev (size bytes): its label, its metadata areas,
// and the newest metadata among them (by seqno, checksum checked). One bad
// metadata area is tolerated when the other is good, as lvm2 does.
func ReadPV(dev Device, size int64, name string) (*PV, error) {
	l, err := ReadLabel(dev, size)
	if err != nil {
		return nil, err
	}
	pv := &PV{Name: name, Dev: dev, Size: size, Label: l}
	var errs []error
	for _, a := range l.MetadataAreas {
		m, err := ReadMDA(dev, size, a)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		pv.MDAs = append(pv.MDAs, m)
		if m.Text == nil {
			continue
		}
		root, err := Parse(m.Text)
		if err == nil {
			var vg *VG
			if vg, err = DecodeVG(root, m.Text); err == nil {
				if pv.VG == nil || vg.Seqno > pv.VG.Seqno {
					pv.VG = vg
				}
				continue
			}
		}
		errs = append(errs, &FormatError{Offset: int64(a.Offset), What: "metadata text", Err: err})
	}
	if len(errs) > 0 {
		if pv.VG == nil {
			return nil, errors.Join(errs...)
		}
		pv.MDAErr = errors.Join(errs...)
	}
	return pv, nil
}

// Problem is a VG Assemble could not use, or a PV it could not place.
type Problem struct {
	VG  string // the VG's name, "" when unknown
	PVs []*PV
	Err error
}

func (p Problem) Error() string {
	if p.VG == "" {
		return p.Err.Error()
	}
	return "VG " + p.VG + ": " + p.Err.Error()
}

// Assemble groups PVs (of one disk or of several disks of one guest) into
// volume groups, each described by the newest metadata any of its PVs
// holds. A VG some of whose PVs are absent is returned with Missing set:
// the LVs on its present PVs map, the others do not. VGs whose metadata
// conflicts (two texts with one seqno, one PV UUID on two devices) are
// problems, not VGs.
func Assemble(pvs []*PV) ([]*VG, []Problem) {
	groups := map[string][]*PV{}
	var order []string
	for _, pv := range pvs {
		if pv.VG == nil {
			continue
		}
		if _, ok := groups[pv.VG.ID]; !ok {
			order = append(order, pv.VG.ID)
		}
		groups[pv.VG.ID] = append(groups[pv.VG.ID], pv)
	}
	var out []*VG
	var problems []Problem
	for _, id := range order {
		members := groups[id]
		vg, err := newest(members)
		if err == nil {
			err = vg.bind(pvs)
		}
		if err != nil {
			name := ""
			if vg != nil {
				name = vg.Name
			}
			problems = append(problems, Problem{VG: name, PVs: members, Err: err})
			continue
		}
		out = append(out, vg)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, problems
}

// newest returns the metadata with the highest seqno among the PVs.
func newest(members []*PV) (*VG, error) {
	best := members[0].VG
	for _, pv := range members[1:] {
		switch v := pv.VG; {
		case v.Seqno > best.Seqno:
			best = v
		case v.Seqno == best.Seqno && !bytes.Equal(bytes.TrimRight(v.text, "\x00"), bytes.TrimRight(best.text, "\x00")):
			return best, fmt.Errorf("%w: two different metadata texts with seqno %d", ErrBadMetadata, v.Seqno)
		}
	}
	return best, nil
}

// bind finds each of the VG's PVs among pvs by UUID.
func (vg *VG) bind(pvs []*PV) error {
	vg.devs = map[string]*PV{}
	vg.Missing = nil
	for _, info := range vg.PVs {
		for _, pv := range pvs {
			if pv.Label.UUID != info.ID {
				continue
			}
			if prev := vg.devs[info.Key]; prev != nil {
				return fmt.Errorf("%w: PV %s is both %s and %s", ErrDuplicatePV, FormatID(info.ID), prev.Name, pv.Name)
			}
			vg.devs[info.Key] = pv
		}
		if vg.devs[info.Key] == nil {
			vg.Missing = append(vg.Missing, FormatID(info.ID))
		}
	}
	return nil
}

// Device returns the PV holding the VG's metadata key k ("pv0"), or nil
// when it is missing.
func (vg *VG) Device(k string) *PV { return vg.devs[k] }
