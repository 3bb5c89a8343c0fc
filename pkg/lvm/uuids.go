package lvm

import (
	"crypto/rand"
	"fmt"
	"io"
	"sort"
	"strconv"
)

// idAlphabet is the alphabet lvm2 draws new UUIDs from (lib/uuid/uuid.c
// uses the first 62 characters of its table: digits and letters).
const idAlphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// NewID returns a fresh 32-character UUID drawn from r (crypto/rand.Reader
// when nil), uniformly over lvm2's alphabet.
func NewID(r io.Reader) (string, error) {
	if r == nil {
		r = rand.Reader
	}
	out := make([]byte, 0, IDLen)
	var b [64]byte
	for len(out) < IDLen {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return "", fmt.Errorf("lvm: new UUID: %w", err)
		}
		for _, c := range b {
			// 248 = 4*62: reject the rest for a uniform draw.
			if c < 248 && len(out) < IDLen {
				out = append(out, idAlphabet[c%62])
			}
		}
	}
	return string(out), nil
}

// IDChange is a UUID that ChangeUUIDs replaced, both 32 characters.
type IDChange struct {
	What     string // "VG ubuntu-vg", "PV pv0 (partition 3 of vm.qcow2)"
	Old, New string
	// Device is the PV's device name (PV.Name) for a PV's change, empty
	// for the VG's.
	Device string
}

// ChangeUUIDs gives the VG and each of its PVs a new UUID drawn from r
// (crypto/rand when nil), as vgchange -u and pvchange -u do: the metadata,
// with the new UUIDs and seqno+1, is written into every metadata area of
// every PV (after the old copy in the circular buffer, with its checksum
// and the area header's), and each PV label gets its new UUID and CRC.
// It refuses a VG with a missing PV, whose metadata lvm2 could not then
// keep consistent. Every write goes through the PV devices.
func (vg *VG) ChangeUUIDs(r io.Reader) ([]IDChange, error) {
	if len(vg.Missing) > 0 {
		return nil, fmt.Errorf("%w: VG %s lacks PV %s: not changing its UUIDs", ErrMissingPV, vg.Name, vg.Missing[0])
	}
	type splice struct {
		n    *Node
		with string
	}
	newVG, err := NewID(r)
	if err != nil {
		return nil, err
	}
	changes := []IDChange{{What: "VG " + vg.Name, Old: vg.ID, New: newVG}}
	splices := []splice{{vg.idNode, strconv.Quote(FormatID(newVG))}, {vg.seqNode, strconv.FormatUint(vg.Seqno+1, 10)}}
	newPV := map[string]string{}
	for _, info := range vg.PVs {
		id, err := NewID(r)
		if err != nil {
			return nil, err
		}
		newPV[info.Key] = id
		changes = append(changes, IDChange{What: "PV " + info.Key + " (" + vg.devs[info.Key].Name + ")", Old: info.ID, New: id, Device: vg.devs[info.Key].Name})
		splices = append(splices, splice{info.idNode, strconv.Quote(FormatID(id))})
	}
	sort.Slice(splices, func(i, j int) bool { return splices[i].n.Start < splices[j].n.Start })
	var text []byte
	last := 0
	for _, s := range splices {
		text = append(text, vg.text[last:s.n.Start]...)
		text = append(text, s.with...)
		last = s.n.End
	}
	text = append(text, vg.text[last:]...)
	sum := crc(InitialCRC, text)
	// Check every area first, then write: a full area fails before
	// anything is written.
	type plan struct {
		pv  *PV
		m   *MDA
		off uint64
	}
	var plans []plan
	for _, info := range vg.PVs {
		pv := vg.devs[info.Key]
		for _, m := range pv.MDAs {
			if m.Ignored {
				continue
			}
			off, err := m.place(uint64(len(text)))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", pv.Name, err)
			}
			plans = append(plans, plan{pv, m, off})
		}
	}
	for _, p := range plans {
		done := uint64(0)
		for _, piece := range p.m.pieces(p.off, uint64(len(text))) {
			if _, err := p.pv.Dev.WriteAt(text[done:done+uint64(piece[1])], piece[0]); err != nil {
				return nil, fmt.Errorf("%s: writing metadata: %w", p.pv.Name, err)
			}
			done += uint64(piece[1])
		}
		hdr := p.m.withText(p.off, uint64(len(text)), sum)
		if _, err := p.pv.Dev.WriteAt(hdr[:], int64(p.m.Area.Offset)); err != nil {
			return nil, fmt.Errorf("%s: writing the metadata area header: %w", p.pv.Name, err)
		}
		p.m.raw = hdr
		p.m.Locn = RawLocn{Offset: p.off, Size: uint64(len(text)), Checksum: sum, Flags: p.m.Locn.Flags}
		p.m.Text = text
	}
	for _, info := range vg.PVs {
		pv := vg.devs[info.Key]
		sec := pv.Label.withUUID(newPV[info.Key])
		if _, err := pv.Dev.WriteAt(sec[:], pv.Label.Sector*SectorSize); err != nil {
			return nil, fmt.Errorf("%s: writing the PV label: %w", pv.Name, err)
		}
		pv.Label.raw, pv.Label.UUID = sec, newPV[info.Key]
	}
	// The in-memory VG now describes what is on disk.
	root, err := Parse(text)
	if err != nil {
		return nil, fmt.Errorf("lvm: re-reading the metadata written: %w", err)
	}
	fresh, err := DecodeVG(root, text)
	if err != nil {
		return nil, fmt.Errorf("lvm: re-reading the metadata written: %w", err)
	}
	devs := vg.devs
	*vg = *fresh
	vg.devs = devs
	for _, info := range vg.PVs {
		if pv := devs[info.Key]; pv != nil {
			pv.VG = vg
		}
	}
	return changes, nil
}
