package guest

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/imgprep/imgprep/pkg/lvm"
)

// lvmState is what a layout knows of LVM2: the PVs found on its disks, the
// volume groups they form, and the UUID changes made to those.
type lvmState struct {
	pvs []*lvm.PV
	vgs []*lvm.VG
	// refuse says why a PV's LVs must not be written (its partition
	// overlaps another, or covers the partition table).
	refuse map[*lvm.PV]string
	// changed holds each VG's UUID changes, made at most once per layout.
	changed map[*lvm.VG][]lvm.IDChange
}

// readPV reads the PV on a partition whose signature says LVM2_member,
// recording it in the layout, or says in f.Why why it cannot be used.
func (l *Layout) readPV(f *Filesystem, dev lvm.Device, size int64, refuse string) {
	pv, err := lvm.ReadPV(dev, size, f.Desc())
	if err != nil {
		f.Why = "LVM2 PV: " + err.Error()
		return
	}
	f.pv = pv
	l.lvm.pvs = append(l.lvm.pvs, pv)
	if refuse != "" {
		if l.lvm.refuse == nil {
			l.lvm.refuse = map[*lvm.PV]string{}
		}
		l.lvm.refuse[pv] = refuse
	}
}

// addLVs assembles the layout's PVs into volume groups and adds a
// Filesystem for every visible LV of each VG not in skip (by VG UUID),
// probed and opened through the LV's mapping as partitions are. A VG with
// a PV missing gets no filesystems when incomplete is false (Scan of one
// disk, which Join may complete); its PVs say what is missing.
func (l *Layout) addLVs(opts Options, skip map[string]bool, incomplete bool) {
	byPV := map[*lvm.PV]*Filesystem{}
	for _, f := range l.Filesystems {
		if f.pv != nil {
			byPV[f.pv] = f
		}
	}
	vgs, problems := lvm.Assemble(l.lvm.pvs)
	for _, p := range problems {
		for _, pv := range p.PVs {
			if f := byPV[pv]; f != nil {
				f.Why = "LVM2 PV: " + p.Error()
			}
		}
	}
	l.lvm.vgs = vgs
	open := opts.openEngine
	if open == nil {
		open = openBuiltinEngine
	}
	for _, vg := range vgs {
		for _, info := range vg.PVs {
			if f := byPV[vg.Device(info.Key)]; f != nil {
				f.Why = "LVM2 PV of VG " + vg.Name
			}
		}
		if len(vg.Missing) > 0 {
			for _, info := range vg.PVs {
				if f := byPV[vg.Device(info.Key)]; f != nil {
					f.Why = fmt.Sprintf("LVM2 PV of VG %s, which lacks PV %s (on a disk not given?)", vg.Name, strings.Join(vg.Missing, ", "))
				}
			}
			if !incomplete {
				continue
			}
		}
		if skip[vg.ID] {
			continue
		}
		for _, lv := range vg.LVs {
			if !lv.Visible {
				continue
			}
			l.Filesystems = append(l.Filesystems, l.openLV(vg, lv, opts, open))
		}
	}
}

// openLV probes and opens the filesystem on one LV.
func (l *Layout) openLV(vg *lvm.VG, lv *lvm.LV, opts Options, open engineOpener) *Filesystem {
	f := &Filesystem{VG: vg.Name, LV: lv.Name, LVKind: lv.Kind, Size: lv.Size, vgID: vg.ID}
	v, err := vg.Volume(lv)
	if err != nil {
		f.Why = strings.TrimPrefix(strings.TrimPrefix(err.Error(), lvm.ErrUnsupported.Error()+": "), "lvm: ")
		if errors.Is(err, lvm.ErrBadMetadata) {
			f.Err = err
		}
		return f
	}
	pr, err := Probe(v, v.Size())
	if err != nil {
		f.Err = err
		return f
	}
	f.Type, f.UUID, f.Label = pr.Type, pr.UUID, pr.Label
	if f.Type == "" {
		return f
	}
	o, refuse := opts, ""
	for _, s := range lv.Segments {
		for _, st := range s.Stripes {
			if r := l.lvm.refuse[vg.Device(st.PV)]; r != "" {
				refuse = r
			}
		}
	}
	if refuse != "" {
		o.Writable = false
	}
	f.FS, f.Writable, f.Why, f.Err = open(f, v, v.Size(), o)
	if refuse != "" && opts.Writable {
		f.Why = refuse
	}
	return f
}

// joinLVM assembles the volume groups of a joined layout: VGs complete on
// one disk keep the filesystems Scan opened; VGs whose PVs span disks get
// theirs now.
func (l *Layout) joinLVM(disks []*Layout, opts Options) {
	complete := map[string]bool{}
	for _, d := range disks {
		l.lvm.pvs = append(l.lvm.pvs, d.lvm.pvs...)
		for pv, r := range d.lvm.refuse {
			if l.lvm.refuse == nil {
				l.lvm.refuse = map[*lvm.PV]string{}
			}
			l.lvm.refuse[pv] = r
		}
		for _, vg := range d.lvm.vgs {
			if len(vg.Missing) == 0 {
				complete[vg.ID] = true
			}
		}
	}
	l.addLVs(opts, complete, true)
}

// VolumeGroups returns the LVM2 volume groups found on the layout's disks.
func (l *Layout) VolumeGroups() []*lvm.VG { return append([]*lvm.VG(nil), l.lvm.vgs...) }

// ErrReadOnly: the layout was scanned read-only.
var ErrReadOnly = errors.New("guest: the image is opened read-only")

// ChangeLVMUUIDs gives every volume group of the layout and each of its PVs
// new UUIDs (lvm.VG.ChangeUUIDs, drawing from r, crypto/rand when nil),
// once per layout: a later call returns the changes already made. It
// refuses, before writing anything, when a VG lacks a PV or a PV's
// partition must not be written.
func (l *Layout) ChangeLVMUUIDs(r io.Reader) ([]VGChange, error) {
	if !l.opts.Writable {
		return nil, ErrReadOnly
	}
	for _, vg := range l.lvm.vgs {
		if l.lvm.changed[vg] != nil {
			continue
		}
		if len(vg.Missing) > 0 {
			return nil, fmt.Errorf("%w: VG %s lacks PV %s", lvm.ErrMissingPV, vg.Name, vg.Missing[0])
		}
		for _, info := range vg.PVs {
			if why := l.lvm.refuse[vg.Device(info.Key)]; why != "" {
				return nil, fmt.Errorf("VG %s: %s", vg.Name, why)
			}
		}
	}
	var out []VGChange
	for _, vg := range l.lvm.vgs {
		if l.lvm.changed[vg] == nil {
			ch, err := vg.ChangeUUIDs(r)
			if err != nil {
				return nil, fmt.Errorf("VG %s: %w", vg.Name, err)
			}
			if l.lvm.changed == nil {
				l.lvm.changed = map[*lvm.VG][]lvm.IDChange{}
			}
			l.lvm.changed[vg] = ch
			l.followLVMUUIDs(ch)
		}
		out = append(out, VGChange{VG: vg.Name, Seqno: vg.Seqno, IDs: l.lvm.changed[vg]})
	}
	return out, nil
}

// followLVMUUIDs brings the layout's filesystems along after a VG's UUID
// changes: a PV's UUID (as blkid shows it) and an LV's VG.
func (l *Layout) followLVMUUIDs(ch []lvm.IDChange) {
	for _, c := range ch {
		for _, f := range l.Filesystems {
			switch {
			case f.pv != nil && f.pv.Label.UUID == c.New:
				f.UUID = lvm.FormatID(c.New)
			case f.LV != "" && f.vgID == c.Old:
				f.vgID = c.New
			}
		}
	}
}

// VGChange is what ChangeLVMUUIDs did to one volume group.
type VGChange struct {
	VG    string
	Seqno uint64 // the metadata's new seqno
	IDs   []lvm.IDChange
}

// ChangeLVMUUIDs is Layout.ChangeLVMUUIDs for the layout the guest is on.
func (g *Guest) ChangeLVMUUIDs(r io.Reader) ([]VGChange, error) {
	return g.layout.ChangeLVMUUIDs(r)
}

// VolumeGroups returns the volume groups on the guest's disks.
func (g *Guest) VolumeGroups() []*lvm.VG { return g.layout.VolumeGroups() }

// lvDevice parses the device names udev gives an LV: /dev/VG/LV,
// /dev/mapper/VG-LV (a dash inside a name doubled) and
// /dev/disk/by-id/dm-name-VG-LV.
func lvDevice(spec string) (vg, lv string, ok bool) {
	for _, pre := range []string{"/dev/mapper/", "/dev/disk/by-id/dm-name-"} {
		if rest, found := strings.CutPrefix(spec, pre); found {
			return splitDMName(rest)
		}
	}
	rest, found := strings.CutPrefix(spec, "/dev/")
	if !found {
		return "", "", false
	}
	vg, lv, found = strings.Cut(rest, "/")
	if !found || vg == "" || lv == "" || strings.Contains(lv, "/") || vg == "disk" || vg == "mapper" {
		return "", "", false
	}
	return vg, lv, true
}

// splitDMName splits a device-mapper name VG-LV, in which lvm2 doubles
// every dash of the VG and LV names, at its one single dash.
func splitDMName(s string) (vg, lv string, ok bool) {
	var b strings.Builder
	split := -1
	for i := 0; i < len(s); i++ {
		if s[i] != '-' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '-' {
			b.WriteByte('-')
			i++
			continue
		}
		if split >= 0 {
			return "", "", false
		}
		split = b.Len()
		b.WriteByte('/')
	}
	name := b.String()
	if split <= 0 || split == len(name)-1 {
		return "", "", false
	}
	return name[:split], name[split+1:], true
}

// resolveDMUUID resolves /dev/disk/by-id/dm-uuid-LVM-<VG UUID><LV UUID>,
// the name udev gives an LV by its UUIDs (without dashes).
func (l *Layout) resolveDMUUID(spec string) (*Filesystem, string, bool) {
	ids, ok := strings.CutPrefix(spec, "/dev/disk/by-id/dm-uuid-LVM-")
	if !ok || len(ids) != 2*lvm.IDLen {
		return nil, "", false
	}
	for _, vg := range l.lvm.vgs {
		if vg.ID != ids[:lvm.IDLen] {
			continue
		}
		for _, lv := range vg.LVs {
			if lv.ID == ids[lvm.IDLen:] {
				f, why := l.match(spec, func(f *Filesystem) bool { return f.vgID == vg.ID && f.LV == lv.Name })
				return f, why, true
			}
		}
	}
	return nil, "no LV " + l.where() + " has the UUIDs of " + spec, true
}
