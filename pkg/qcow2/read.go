package qcow2

import (
	"errors"
	"fmt"
	"io"
)

// ReadAt reads the virtual disk. Reads at or past the end return io.EOF.
func (img *Image) ReadAt(p []byte, off int64) (int, error) {
	img.mu.Lock()
	defer img.mu.Unlock()
	if img.closed {
		return 0, ErrClosed
	}
	if off < 0 {
		return 0, fmt.Errorf("%w: negative offset %d", ErrOutOfRange, off)
	}
	size := img.h.virtualSize()
	if off >= size {
		return 0, io.EOF
	}
	n := len(p)
	if int64(n) > size-off {
		n = int(size - off)
	}
	if err := img.readGuest(p[:n], off); err != nil {
		return 0, err
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// lookup returns the current mapping of guest cluster gc: a pending
// (uncommitted) write first, then the committed tables.
func (img *Image) lookup(gc int64) (mapping, error) {
	if e, ok := img.pending[gc]; ok {
		if img.h.extendedL2 {
			return mapping{kind: kindSubclusters, host: int64(e.word & offsetMask), alloc: ^uint32(0)}, nil
		}
		return mapping{kind: kindNormal, host: int64(e.word & offsetMask)}, nil
	}
	e, at, err := img.committedEntry(gc)
	if err != nil || at == 0 {
		return mapping{kind: kindUnallocated}, err
	}
	return img.h.decodeL2(e, at)
}

// committedEntry returns the L2 entry of guest cluster gc in the committed
// tables and its host offset (0 when no L2 table maps gc).
func (img *Image) committedEntry(gc int64) (l2Entry, int64, error) {
	h := img.h
	l1i := gc / h.l2Entries
	if l1i >= int64(len(img.l1)) {
		return l2Entry{}, 0, nil
	}
	words, l2off, err := img.l2Table(l1i)
	if err != nil || words == nil {
		return l2Entry{}, 0, err
	}
	i := gc % h.l2Entries
	if h.extendedL2 {
		return l2Entry{words[2*i], words[2*i+1]}, l2off + i*16, nil
	}
	return l2Entry{word: words[i]}, l2off + i*8, nil
}

// l2Table returns the committed L2 table of L1 entry l1i (nil if none)
// and its host offset. The slice belongs to the cache: do not modify it.
func (img *Image) l2Table(l1i int64) ([]uint64, int64, error) {
	h := img.h
	off, err := h.decodeL1(img.l1[l1i], int64(h.L1TableOffset)+l1i*8)
	if err != nil || off == 0 {
		return nil, 0, err
	}
	if w := img.l2.get(off); w != nil {
		return w, off, nil
	}
	buf := make([]byte, h.clusterSize)
	if err := img.readFull(buf, off, "L2 table"); err != nil {
		return nil, 0, err
	}
	w := make([]uint64, h.clusterSize/8)
	for i := range w {
		w[i] = be.Uint64(buf[i*8:])
	}
	img.l2.put(off, w)
	return w, off, nil
}

// readGuest fills p from guest offset off; the range is inside the
// virtual disk or inside the last (partial) guest cluster. A run of
// host-contiguous data clusters is read with one call.
func (img *Image) readGuest(p []byte, off int64) error {
	h := img.h
	cs := h.clusterSize
	var runStart, runLen, runHost int64
	flush := func() error {
		if runLen == 0 {
			return nil
		}
		err := img.readData(p[runStart:runStart+runLen], runHost)
		runLen = 0
		return err
	}
	for pos := int64(0); pos < int64(len(p)); {
		o := off + pos
		gc := o >> h.clusterBits
		within := o & (cs - 1)
		n := min(int64(len(p))-pos, cs-within)
		m, err := img.lookup(gc)
		if err != nil {
			return err
		}
		if m.kind == kindNormal || m.kind == kindSubclusters && m.alloc == ^uint32(0) {
			host := m.host + within
			if runLen > 0 && runHost+runLen == host {
				runLen += n
			} else {
				if err := flush(); err != nil {
					return err
				}
				runStart, runLen, runHost = pos, n, host
			}
		} else {
			if err := flush(); err != nil {
				return err
			}
			if err := img.readMapped(p[pos:pos+n], o, m); err != nil {
				return err
			}
		}
		pos += n
	}
	return flush()
}

// readData reads data clusters; past the end of the file reads zeros.
func (img *Image) readData(p []byte, host int64) error {
	n, err := img.r.ReadAt(p, host)
	if n == len(p) {
		return nil
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	clear(p[n:])
	return nil
}

// readMapped reads p (within one guest cluster) at guest offset off
// according to the cluster's mapping m.
func (img *Image) readMapped(p []byte, off int64, m mapping) error {
	h := img.h
	within := off & (h.clusterSize - 1)
	switch m.kind {
	case kindUnallocated:
		return img.readBacking(p, off)
	case kindZero:
		clear(p)
		return nil
	case kindNormal:
		return img.readData(p, m.host+within)
	case kindCompressed:
		c, err := img.decompress(m)
		if err != nil {
			return err
		}
		copy(p, c[within:])
		return nil
	}
	// Extended L2: subcluster by subcluster.
	sc := h.clusterSize / subclusters
	for len(p) > 0 {
		i := within / sc
		n := min(int64(len(p)), (i+1)*sc-within)
		bit := uint32(1) << i
		var err error
		switch {
		case m.alloc&bit != 0:
			err = img.readData(p[:n], m.host+within)
		case m.zero&bit != 0:
			clear(p[:n])
		default:
			err = img.readBacking(p[:n], off)
		}
		if err != nil {
			return err
		}
		p, off, within = p[n:], off+n, within+n
	}
	return nil
}

// readBacking reads an unallocated range: from the backing file, zeros
// past its end or without one.
func (img *Image) readBacking(p []byte, off int64) error {
	if img.backing == nil {
		clear(p)
		return nil
	}
	bs := img.backing.Size()
	if off >= bs {
		clear(p)
		return nil
	}
	n := min(int64(len(p)), bs-off)
	got, err := img.backing.ReadAt(p[:n], off)
	if int64(got) < n {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("backing file %q: %w", img.h.backingFile, err)
	}
	clear(p[n:])
	return nil
}

// extenter is a backing file that reports its extents.
type extenter interface {
	Extents(off, length int64) ([]Extent, error)
}

// Extents reports which parts of [off, off+length) hold data and which
// read as zeros (zero clusters, or unallocated without a backing file or
// past its end), merged into maximal runs. Data extents may still hold
// zeros; a zero extent never holds anything else.
func (img *Image) Extents(off, length int64) ([]Extent, error) {
	img.mu.Lock()
	defer img.mu.Unlock()
	if img.closed {
		return nil, ErrClosed
	}
	size := img.h.virtualSize()
	if off < 0 || length < 0 || off > size || length > size-off {
		return nil, fmt.Errorf("%w: extents %d+%d of a %d-byte disk", ErrOutOfRange, off, length, size)
	}
	var out []Extent
	add := func(o, n int64, zero bool) {
		if n <= 0 {
			return
		}
		if k := len(out); k > 0 && out[k-1].Zero == zero && out[k-1].Offset+out[k-1].Length == o {
			out[k-1].Length += n
			return
		}
		out = append(out, Extent{Offset: o, Length: n, Zero: zero})
	}
	addUnallocated := func(o, n int64) error {
		if img.backing == nil {
			add(o, n, true)
			return nil
		}
		bs := img.backing.Size()
		if o >= bs {
			add(o, n, true)
			return nil
		}
		in := min(n, bs-o)
		if bx, ok := img.backing.(extenter); ok {
			sub, err := bx.Extents(o, in)
			if err != nil {
				return err
			}
			for _, e := range sub {
				add(e.Offset, e.Length, e.Zero)
			}
		} else {
			add(o, in, false)
		}
		add(o+in, n-in, true)
		return nil
	}
	h := img.h
	cs := h.clusterSize
	end := off + length
	for off < end {
		gc := off >> h.clusterBits
		within := off & (cs - 1)
		// A whole L2 range without a table and without pending writes.
		if l1i := gc / h.l2Entries; l1i < int64(len(img.l1)) && img.l1[l1i]&offsetMask == 0 && !img.pendingIn(l1i) {
			rangeEnd := min(end, (l1i+1)*h.l2Entries*cs)
			if err := addUnallocated(off, rangeEnd-off); err != nil {
				return nil, err
			}
			off = rangeEnd
			continue
		}
		n := min(end-off, cs-within)
		m, err := img.lookup(gc)
		if err != nil {
			return nil, err
		}
		switch m.kind {
		case kindUnallocated:
			err = addUnallocated(off, n)
		case kindZero:
			add(off, n, true)
		case kindNormal, kindCompressed:
			add(off, n, false)
		default:
			sc := cs / subclusters
			for o := off; o < off+n; {
				i := (o & (cs - 1)) / sc
				sn := min(off+n-o, (i+1)*sc-(o&(cs-1)))
				bit := uint32(1) << i
				switch {
				case m.alloc&bit != 0:
					add(o, sn, false)
				case m.zero&bit != 0:
					add(o, sn, true)
				default:
					err = addUnallocated(o, sn)
				}
				if err != nil {
					return nil, err
				}
				o += sn
			}
		}
		if err != nil {
			return nil, err
		}
		off += n
	}
	return out, nil
}

// pendingIn reports whether any pending write falls in L1 entry l1i's
// range.
func (img *Image) pendingIn(l1i int64) bool {
	if len(img.pending) == 0 {
		return false
	}
	lo, hi := l1i*img.h.l2Entries, (l1i+1)*img.h.l2Entries
	if int64(len(img.pending)) < hi-lo {
		for gc := range img.pending {
			if gc >= lo && gc < hi {
				return true
			}
		}
		return false
	}
	for gc := lo; gc < hi; gc++ {
		if _, ok := img.pending[gc]; ok {
			return true
		}
	}
	return false
}
