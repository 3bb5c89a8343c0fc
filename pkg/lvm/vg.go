package lvm

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// Bounds on what metadata may claim.
const (
	// MaxStripes is lvm2's limit on a striped segment's stripes.
	MaxStripes = 128
	// MaxSegments bounds one LV's segments.
	MaxSegments = 65536
	// MaxPVs bounds a VG's physical volumes.
	MaxPVs = 4096
	// MaxLVs bounds a VG's logical volumes.
	MaxLVs = 65536
)

// LV kinds. A segment type lvm2 has that imgprep does not map is reported
// as that type's name ("raid5", "vdo", "writecache", ...).
const (
	KindLinear   = "linear"
	KindStriped  = "striped"
	KindSnapshot = "snapshot" // the COW store of an old-style snapshot
	KindThin     = "thin"
)

// VG is a volume group as its metadata describes it.
type VG struct {
	Name       string
	ID         string // 32 characters, no dashes
	Seqno      uint64
	ExtentSize int64 // bytes
	PVs        []*PVInfo
	LVs        []*LV
	// Missing lists the UUIDs of PVs the metadata names that Assemble
	// did not find.
	Missing []string
	devs    map[string]*PV
	text    []byte
	idNode  *Node
	seqNode *Node
}

// PVInfo is one physical_volumes entry of the metadata.
type PVInfo struct {
	Key     string // "pv0"
	ID      string // 32 characters, no dashes
	Device  string // the device hint, "/dev/sda3"
	PEStart int64  // bytes
	PECount int64
	idNode  *Node
}

// LV is one logical volume.
type LV struct {
	Name     string
	ID       string
	Visible  bool
	Status   []string
	Segments []Segment
	// Kind is KindLinear, KindStriped, KindSnapshot, or the lvm2
	// segment type that makes it unmappable ("thin", "thin-pool",
	// "raid1", "mirror", "cache", ...).
	Kind string
	// Origin names the old-style snapshots of this LV: writing an origin
	// behind its snapshots' backs would corrupt them.
	SnapshotOf string   // for a snapshot's COW LV: the origin
	Snapshots  []string // for an origin: its snapshot LVs
	// Size is the LV's size in bytes.
	Size int64
}

// Segment is one segment of an LV.
type Segment struct {
	StartExtent int64
	ExtentCount int64
	Type        string // "striped" (also linear), "thin", "raid1", ...
	StripeSize  int64  // bytes, for striped segments of 2 or more stripes
	Stripes     []Stripe
	// Refs holds a non-striped segment's string keys: the LVs it uses
	// ("origin", "cow_store", "thin_pool", "pool", "metadata", ...).
	Refs map[string]string
}

// Stripe is one area of a striped segment: ExtentCount/len(Stripes)
// extents of a PV from StartExtent.
type Stripe struct {
	PV          string // the PVInfo key
	StartExtent int64
}

// Writable reports whether imgprep maps the LV, or why not.
func (lv *LV) Writable() (bool, string) {
	switch {
	case len(lv.Snapshots) > 0:
		return false, fmt.Sprintf("LV %s is the origin of the snapshot %s: imgprep does not write snapshot origins", lv.Name, strings.Join(lv.Snapshots, ", "))
	case lv.Kind == KindLinear || lv.Kind == KindStriped:
		return true, ""
	case lv.Kind == KindSnapshot:
		return false, fmt.Sprintf("LV %s is a snapshot of %s: imgprep does not write snapshots", lv.Name, lv.SnapshotOf)
	}
	return false, fmt.Sprintf("LV %s is a %s LV: imgprep maps only linear and striped LVs", lv.Name, lv.Kind)
}

// DecodeVG reads a VG from parsed metadata text: the one top-level
// section, with its physical and logical volumes. It checks what a mapping
// relies on: segments in order, covering the LV without gaps or overlap;
// stripes within their PVs; no two LVs sharing an extent; sizes that fit
// in 64 bits.
func DecodeVG(root *Node, text []byte) (*VG, error) {
	var sec *Node
	for _, c := range root.Children {
		if c.Kind == KindSection {
			if sec != nil {
				return nil, fmt.Errorf("%w: two volume groups (%s, %s) in one text", ErrBadMetadata, sec.Key, c.Key)
			}
			sec = c
		}
	}
	if sec == nil {
		return nil, fmt.Errorf("%w: no volume group section", ErrBadMetadata)
	}
	vg := &VG{Name: sec.Key, text: text}
	d := decoder{where: "VG " + sec.Key}
	vg.idNode = d.str(sec, "id")
	vg.ID = d.id(vg.idNode)
	vg.seqNode = d.node(sec, "seqno", KindInt)
	seq := d.int(sec, "seqno", 0, math.MaxInt64)
	vg.Seqno = uint64(seq)
	ext := d.int(sec, "extent_size", 1, 1<<32)
	vg.ExtentSize = ext * SectorSize
	if d.err != nil {
		return nil, d.err
	}
	if err := vg.decodePVs(sec.Child("physical_volumes")); err != nil {
		return nil, err
	}
	if err := vg.decodeLVs(sec.Child("logical_volumes")); err != nil {
		return nil, err
	}
	if err := vg.checkAreas(); err != nil {
		return nil, err
	}
	return vg, nil
}

func (vg *VG) decodePVs(sec *Node) error {
	if sec == nil || sec.Kind != KindSection || len(sec.Children) == 0 {
		return fmt.Errorf("%w: VG %s has no physical_volumes", ErrBadMetadata, vg.Name)
	}
	if len(sec.Children) > MaxPVs {
		return fmt.Errorf("%w: VG %s has more than %d PVs", ErrLimit, vg.Name, MaxPVs)
	}
	ids := map[string]bool{}
	for _, c := range sec.Children {
		if c.Kind != KindSection {
			return fmt.Errorf("%w: VG %s: physical_volumes holds %q, not a section", ErrBadMetadata, vg.Name, c.Key)
		}
		d := decoder{where: "VG " + vg.Name + " PV " + c.Key}
		pv := &PVInfo{Key: c.Key}
		pv.idNode = d.str(c, "id")
		pv.ID = d.id(pv.idNode)
		if dev := c.Child("device"); dev != nil && dev.Kind == KindString {
			pv.Device = dev.Str
		}
		pv.PEStart = d.int(c, "pe_start", 0, math.MaxInt64/SectorSize) * SectorSize
		pv.PECount = d.int(c, "pe_count", 0, math.MaxInt64)
		if d.err != nil {
			return d.err
		}
		if pv.PECount > (math.MaxInt64-pv.PEStart)/vg.ExtentSize {
			return fmt.Errorf("%w: VG %s PV %s: %d extents of %d bytes overflow", ErrBadMetadata, vg.Name, c.Key, pv.PECount, vg.ExtentSize)
		}
		if ids[pv.ID] {
			return fmt.Errorf("%w: VG %s lists PV %s twice", ErrBadMetadata, vg.Name, FormatID(pv.ID))
		}
		ids[pv.ID] = true
		vg.PVs = append(vg.PVs, pv)
	}
	return nil
}

// PV returns the PV with metadata key k, or nil.
func (vg *VG) PV(k string) *PVInfo {
	for _, p := range vg.PVs {
		if p.Key == k {
			return p
		}
	}
	return nil
}

// LV returns the LV named name, or nil.
func (vg *VG) LV(name string) *LV {
	for _, l := range vg.LVs {
		if l.Name == name {
			return l
		}
	}
	return nil
}

func (vg *VG) decodeLVs(sec *Node) error {
	if sec == nil {
		return nil
	}
	if sec.Kind != KindSection {
		return fmt.Errorf("%w: VG %s: logical_volumes is not a section", ErrBadMetadata, vg.Name)
	}
	if len(sec.Children) > MaxLVs {
		return fmt.Errorf("%w: VG %s has more than %d LVs", ErrLimit, vg.Name, MaxLVs)
	}
	for _, c := range sec.Children {
		if c.Kind != KindSection {
			return fmt.Errorf("%w: VG %s: logical_volumes holds %q, not a section", ErrBadMetadata, vg.Name, c.Key)
		}
		lv, err := vg.decodeLV(c)
		if err != nil {
			return err
		}
		vg.LVs = append(vg.LVs, lv)
	}
	// Old-style snapshots: a hidden LV of type "snapshot" ties an origin
	// to its COW store.
	for _, l := range vg.LVs {
		for _, s := range l.Segments {
			if s.Type != "snapshot" {
				continue
			}
			origin, cow := vg.LV(s.Refs["origin"]), vg.LV(s.Refs["cow_store"])
			if origin == nil || cow == nil {
				return fmt.Errorf("%w: VG %s: snapshot %s names a missing origin or COW LV", ErrBadMetadata, vg.Name, l.Name)
			}
			// lvm2 stores the COW LV without VISIBLE and shows it as
			// the snapshot.
			cow.Kind, cow.SnapshotOf, cow.Visible = KindSnapshot, origin.Name, true
			origin.Snapshots = append(origin.Snapshots, cow.Name)
		}
	}
	return nil
}

func (vg *VG) decodeLV(sec *Node) (*LV, error) {
	where := "VG " + vg.Name + " LV " + sec.Key
	d := decoder{where: where}
	lv := &LV{Name: sec.Key}
	lv.ID = d.id(d.str(sec, "id"))
	lv.Status = d.strings(sec, "status")
	for _, s := range lv.Status {
		if s == "VISIBLE" {
			lv.Visible = true
		}
	}
	n := d.int(sec, "segment_count", 1, MaxSegments)
	if d.err != nil {
		return nil, d.err
	}
	next := int64(0)
	for i := int64(1); i <= n; i++ {
		s := sec.Child(fmt.Sprintf("segment%d", i))
		if s == nil || s.Kind != KindSection {
			return nil, fmt.Errorf("%w: %s has no segment%d", ErrBadMetadata, where, i)
		}
		seg, err := vg.decodeSegment(s, where)
		if err != nil {
			return nil, err
		}
		if seg.StartExtent != next {
			return nil, fmt.Errorf("%w: %s segment%d starts at extent %d, not %d (segments overlap or leave a gap)", ErrBadMetadata, where, i, seg.StartExtent, next)
		}
		next += seg.ExtentCount
		if next > math.MaxInt64/vg.ExtentSize {
			return nil, fmt.Errorf("%w: %s is too large", ErrBadMetadata, where)
		}
		lv.Segments = append(lv.Segments, seg)
	}
	lv.Size = next * vg.ExtentSize
	lv.Kind = KindLinear
	for _, s := range lv.Segments {
		if s.Type != "striped" {
			lv.Kind = s.Type
			break
		}
		if len(s.Stripes) > 1 {
			lv.Kind = KindStriped
		}
	}
	return lv, nil
}

func (vg *VG) decodeSegment(s *Node, where string) (Segment, error) {
	where += " " + s.Key
	d := decoder{where: where}
	seg := Segment{
		StartExtent: d.int(s, "start_extent", 0, math.MaxInt64),
		ExtentCount: d.int(s, "extent_count", 1, math.MaxInt64),
	}
	if t := d.str(s, "type"); t != nil {
		seg.Type = t.Str
	}
	if d.err != nil {
		return seg, d.err
	}
	if seg.StartExtent > math.MaxInt64-seg.ExtentCount {
		return seg, fmt.Errorf("%w: %s: extents overflow", ErrBadMetadata, where)
	}
	if seg.Type != "striped" {
		// Name the LVs it refers to (origin, cow_store, thin_pool, ...).
		seg.Refs = map[string]string{}
		for _, c := range s.Children {
			if c.Kind == KindString && c.Key != "type" {
				seg.Refs[c.Key] = c.Str
			}
		}
		return seg, nil
	}
	count := d.int(s, "stripe_count", 1, MaxStripes)
	if count > 1 {
		seg.StripeSize = d.int(s, "stripe_size", 1, 1<<22) * SectorSize
	}
	list := d.node(s, "stripes", KindList)
	if d.err != nil {
		return seg, d.err
	}
	if int64(len(list.List)) != 2*count {
		return seg, fmt.Errorf("%w: %s: %d stripes need %d list items, not %d", ErrBadMetadata, where, count, 2*count, len(list.List))
	}
	if seg.ExtentCount%count != 0 {
		return seg, fmt.Errorf("%w: %s: %d extents do not divide into %d stripes", ErrBadMetadata, where, seg.ExtentCount, count)
	}
	if count > 1 && (seg.StripeSize&(seg.StripeSize-1) != 0 || vg.ExtentSize%seg.StripeSize != 0) {
		return seg, fmt.Errorf("%w: %s: stripe size %d bytes does not divide the %d-byte extent", ErrBadMetadata, where, seg.StripeSize, vg.ExtentSize)
	}
	per := seg.ExtentCount / count
	for i := 0; i < len(list.List); i += 2 {
		name, start := list.List[i], list.List[i+1]
		if name.Kind != KindString || start.Kind != KindInt || start.Int < 0 {
			return seg, fmt.Errorf("%w: %s: stripe %d is not a PV name and an extent", ErrBadMetadata, where, i/2)
		}
		pv := vg.PV(name.Str)
		if pv == nil {
			return seg, fmt.Errorf("%w: %s: stripe %d is on %q, which is not a PV of the VG", ErrBadMetadata, where, i/2, name.Str)
		}
		if start.Int > pv.PECount || per > pv.PECount-start.Int {
			return seg, fmt.Errorf("%w: %s: stripe %d (extents %d+%d) lies outside PV %s's %d extents", ErrBadMetadata, where, i/2, start.Int, per, pv.Key, pv.PECount)
		}
		seg.Stripes = append(seg.Stripes, Stripe{PV: pv.Key, StartExtent: start.Int})
	}
	return seg, nil
}

// checkAreas fails when two stripes, of one LV or two, share a PV extent.
func (vg *VG) checkAreas() error {
	type area struct {
		pv         string
		start, end int64
		lv         string
	}
	var areas []area
	for _, lv := range vg.LVs {
		for _, s := range lv.Segments {
			if len(s.Stripes) == 0 {
				continue
			}
			per := s.ExtentCount / int64(len(s.Stripes))
			for _, st := range s.Stripes {
				areas = append(areas, area{st.PV, st.StartExtent, st.StartExtent + per, lv.Name})
			}
		}
	}
	sort.Slice(areas, func(i, j int) bool {
		if areas[i].pv != areas[j].pv {
			return areas[i].pv < areas[j].pv
		}
		return areas[i].start < areas[j].start
	})
	for i := 1; i < len(areas); i++ {
		a, b := areas[i-1], areas[i]
		if a.pv == b.pv && b.start < a.end {
			return fmt.Errorf("%w: VG %s: LVs %s and %s both use extent %d of PV %s", ErrBadMetadata, vg.Name, a.lv, b.lv, b.start, a.pv)
		}
	}
	return nil
}

// decoder reads typed keys of sections; the first error sticks.
type decoder struct {
	where string
	err   error
}

func (d *decoder) node(sec *Node, key string, kind Kind) *Node {
	if d.err != nil {
		return nil
	}
	n := sec.Child(key)
	if n == nil || n.Kind != kind {
		d.err = fmt.Errorf("%w: %s: %s is missing or of the wrong type", ErrBadMetadata, d.where, key)
		return nil
	}
	return n
}

func (d *decoder) str(sec *Node, key string) *Node { return d.node(sec, key, KindString) }

func (d *decoder) int(sec *Node, key string, lo, hi int64) int64 {
	n := d.node(sec, key, KindInt)
	if n == nil {
		return 0
	}
	if n.Int < lo || n.Int > hi {
		d.err = fmt.Errorf("%w: %s: %s = %d is outside [%d, %d]", ErrBadMetadata, d.where, key, n.Int, lo, hi)
		return 0
	}
	return n.Int
}

func (d *decoder) id(n *Node) string {
	if n == nil || d.err != nil {
		return ""
	}
	id, ok := ParseID(n.Str)
	if !ok {
		d.err = fmt.Errorf("%w: %s: id %q is not an lvm2 UUID", ErrBadMetadata, d.where, n.Str)
	}
	return id
}

func (d *decoder) strings(sec *Node, key string) []string {
	n := sec.Child(key)
	if n == nil || n.Kind != KindList {
		return nil
	}
	var out []string
	for _, it := range n.List {
		if it.Kind == KindString {
			out = append(out, it.Str)
		}
	}
	return out
}
