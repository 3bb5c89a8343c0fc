package txn

import (
	"fmt"
	"io"
	"slices"

	"github.com/imgprep/imgprep/pkg/storage"
)

// The staged bytes live in pages of pageSize bytes of the file, each with
// a mask saying which of its bytes are staged (a staged byte is exact:
// Regions and Stats count bytes, not pages). Past Options.MemoryLimit,
// pages move to a spill file beside the journal, unlinked as soon as it
// is made, so that memory does not grow with what a run changes.

const (
	pageSize = 4096
	maskSize = pageSize / 8
	slotSize = pageSize + maskSize // a page and its mask, in memory and in the spill file
)

// page is one page of staged bytes: buf holds the data then the mask,
// nil while the page is spilled to slot.
type page struct {
	buf  []byte
	slot int64 // the page's slot in the spill file, -1 before its first spill
	n    int   // staged bytes in the page
}

func (p *page) staged(i int) bool { return p.buf[pageSize+i/8]&(1<<(i%8)) != 0 }

// stagedPages is the set of staged pages.
type stagedPages struct {
	pages map[int64]*page // by page index (offset / pageSize)
	inMem int             // pages whose buf is in memory
	limit int             // pages kept in memory before spilling
	spill storage.File    // nil until the first spill
	slots int64           // slots used in the spill file
	free  []int64         // slots of dropped pages
	open  func() (storage.File, error)
}

func newStagedPages(limit int64, open func() (storage.File, error)) stagedPages {
	return stagedPages{pages: map[int64]*page{}, limit: max(1, int(limit/slotSize)), open: open}
}

// reset drops every staged page and the spill file.
func (s *stagedPages) reset() {
	s.pages = map[int64]*page{}
	s.inMem, s.slots, s.free = 0, 0, nil
	if s.spill != nil {
		s.spill.Close()
		s.spill = nil
	}
}

// load returns p's buffer: its own, or a copy of its spilled slot read
// into scratch (which must hold slotSize bytes).
func (s *stagedPages) load(p *page, scratch []byte) ([]byte, error) {
	if p.buf != nil {
		return p.buf, nil
	}
	if _, err := s.spill.ReadAt(scratch[:slotSize], p.slot*slotSize); err != nil {
		return nil, fmt.Errorf("txn: reading staged bytes back from the spill file: %w", err)
	}
	return scratch[:slotSize], nil
}

// write stages data at off.
func (s *stagedPages) write(data []byte, off int64) error {
	for len(data) > 0 {
		idx, in := off/pageSize, int(off%pageSize)
		n := min(len(data), pageSize-in)
		p := s.pages[idx]
		if p == nil {
			p = &page{slot: -1}
			s.pages[idx] = p
		}
		if p.buf == nil {
			buf := make([]byte, slotSize)
			if p.slot >= 0 {
				if _, err := s.load(p, buf); err != nil {
					return err
				}
			}
			p.buf = buf
			s.inMem++
		}
		copy(p.buf[in:], data[:n])
		mask := p.buf[pageSize:]
		if n == pageSize {
			for i := range mask {
				mask[i] = 0xff
			}
			p.n = pageSize
		} else {
			for i := in; i < in+n; i++ {
				if mask[i/8]&(1<<(i%8)) == 0 {
					mask[i/8] |= 1 << (i % 8)
					p.n++
				}
			}
		}
		data, off = data[n:], off+int64(n)
	}
	if s.inMem > s.limit {
		return s.spillSome()
	}
	return nil
}

// spillSome writes in-memory pages to the spill file until half the
// limit remains in memory.
func (s *stagedPages) spillSome() error {
	if s.spill == nil {
		f, err := s.open()
		if err != nil {
			return fmt.Errorf("txn: making the spill file for staged writes: %w", err)
		}
		s.spill = f
	}
	for _, p := range s.pages {
		if s.inMem <= s.limit/2 {
			break
		}
		if p.buf == nil {
			continue
		}
		if p.slot < 0 {
			if n := len(s.free); n > 0 {
				p.slot, s.free = s.free[n-1], s.free[:n-1]
			} else {
				p.slot = s.slots
				s.slots++
			}
		}
		if _, err := s.spill.WriteAt(p.buf, p.slot*slotSize); err != nil {
			return fmt.Errorf("txn: spilling staged bytes: %w", err)
		}
		p.buf = nil
		s.inMem--
	}
	return nil
}

// drop forgets page idx.
func (s *stagedPages) drop(idx int64) {
	p := s.pages[idx]
	if p == nil {
		return
	}
	if p.buf != nil {
		s.inMem--
	}
	if p.slot >= 0 {
		s.free = append(s.free, p.slot)
	}
	delete(s.pages, idx)
}

// truncate forgets every staged byte at or past size.
func (s *stagedPages) truncate(size int64) error {
	last := size / pageSize
	for idx := range s.pages {
		if idx > last || (idx == last && size%pageSize == 0) {
			s.drop(idx)
		}
	}
	p := s.pages[last]
	if p == nil || size%pageSize == 0 {
		return nil
	}
	if p.buf == nil {
		buf := make([]byte, slotSize)
		if _, err := s.load(p, buf); err != nil {
			return err
		}
		p.buf = buf
		s.inMem++
	}
	for i := int(size % pageSize); i < pageSize; i++ {
		if p.staged(i) {
			p.buf[pageSize+i/8] &^= 1 << (i % 8)
			p.n--
		}
	}
	if p.n == 0 {
		s.drop(last)
	}
	return nil
}

// overlay copies the staged bytes of [off, off+len(q)) over q.
func (s *stagedPages) overlay(q []byte, off int64) error {
	if len(s.pages) == 0 {
		return nil
	}
	var scratch []byte
	end := off + int64(len(q))
	for idx := off / pageSize; idx*pageSize < end; idx++ {
		p := s.pages[idx]
		if p == nil {
			continue
		}
		if p.buf == nil && scratch == nil {
			scratch = make([]byte, slotSize)
		}
		buf, err := s.load(p, scratch)
		if err != nil {
			return err
		}
		base := idx * pageSize
		lo, hi := int(max(off, base)-base), int(min(end, base+pageSize)-base)
		if p.n == pageSize {
			copy(q[base+int64(lo)-off:], buf[lo:hi])
			continue
		}
		for i := lo; i < hi; i++ {
			if buf[pageSize+i/8]&(1<<(i%8)) != 0 {
				q[base+int64(i)-off] = buf[i]
			}
		}
	}
	return nil
}

// bytes returns how many bytes are staged.
func (s *stagedPages) bytes() int64 {
	var n int64
	for _, p := range s.pages {
		n += int64(p.n)
	}
	return n
}

// runs calls fn for each maximal run of staged bytes in increasing order,
// with the run's data in pieces: fn(off, data, more) where more says the
// run goes on in the next call. data is valid during the call only.
func (s *stagedPages) runs(fn func(off int64, data []byte, more bool) error) error {
	idxs := make([]int64, 0, len(s.pages))
	for idx := range s.pages {
		idxs = append(idxs, idx)
	}
	slices.Sort(idxs)
	scratch := make([]byte, slotSize)
	// pending is a piece whose run may continue into the next page.
	var pendOff int64 = -1
	var pend []byte
	flush := func(more bool) error {
		if pendOff < 0 {
			return nil
		}
		err := fn(pendOff, pend, more)
		pendOff, pend = -1, nil
		return err
	}
	for _, idx := range idxs {
		p := s.pages[idx]
		buf, err := s.load(p, scratch)
		if err != nil {
			return err
		}
		base := idx * pageSize
		for i := 0; i < pageSize; {
			if buf[pageSize+i/8]&(1<<(i%8)) == 0 {
				i++
				continue
			}
			j := i
			for j < pageSize && buf[pageSize+j/8]&(1<<(j%8)) != 0 {
				j++
			}
			off := base + int64(i)
			if err := flush(pendOff >= 0 && pendOff+int64(len(pend)) == off); err != nil {
				return err
			}
			pendOff, pend = off, buf[i:j]
			i = j
		}
		// A piece is handed over before the next page is loaded into
		// scratch; more says whether the next page continues it.
		next := pendOff >= 0 && pendOff+int64(len(pend)) == base+pageSize && s.pages[idx+1] != nil &&
			s.startsStaged(s.pages[idx+1])
		if err := flush(next); err != nil {
			return err
		}
	}
	return nil
}

// startsStaged reports whether p's first byte is staged.
func (s *stagedPages) startsStaged(p *page) bool {
	if p.buf != nil {
		return p.staged(0)
	}
	var b [1]byte
	_, err := s.spill.ReadAt(b[:], p.slot*slotSize+pageSize)
	return err == nil && b[0]&1 != 0
}

// regions returns the maximal runs of staged bytes.
func (s *stagedPages) regions() ([]Region, error) {
	var rs []Region
	cont := false
	err := s.runs(func(off int64, data []byte, more bool) error {
		if cont {
			rs[len(rs)-1].Len += int64(len(data))
		} else {
			rs = append(rs, Region{Off: off, Len: int64(len(data))})
		}
		cont = more
		return nil
	})
	return rs, err
}

// writeTo writes the staged bytes to f, joining the pieces of a run
// into writes of up to bufSize bytes.
func (s *stagedPages) writeTo(f storage.File, bufSize int) error {
	buf := make([]byte, 0, bufSize)
	var at int64
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		n, err := f.WriteAt(buf, at)
		if err == nil && n != len(buf) {
			err = io.ErrShortWrite
		}
		buf = buf[:0]
		return err
	}
	err := s.runs(func(off int64, data []byte, _ bool) error {
		if len(buf) > 0 && (at+int64(len(buf)) != off || len(buf)+len(data) > cap(buf)) {
			if err := flush(); err != nil {
				return err
			}
		}
		if len(buf) == 0 {
			at = off
		}
		if len(data) > cap(buf) {
			n, err := f.WriteAt(data, off)
			if err == nil && n != len(data) {
				err = io.ErrShortWrite
			}
			return err
		}
		buf = append(buf, data...)
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}
