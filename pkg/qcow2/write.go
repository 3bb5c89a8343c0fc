package qcow2

import (
	"fmt"
	"sort"
)

// WriteAt writes p at guest offset off. The data goes to newly allocated
// host clusters at once, but the tables that make it visible are only
// committed by Flush (or Close); see doc.go. A write past the virtual size
// writes nothing and fails.
func (img *Image) WriteAt(p []byte, off int64) (int, error) {
	img.mu.Lock()
	defer img.mu.Unlock()
	if err := img.checkWrite(); err != nil {
		return 0, err
	}
	size := img.h.virtualSize()
	if off < 0 || off > size || int64(len(p)) > size-off {
		return 0, fmt.Errorf("%w: write of %d bytes at %d, virtual size is %d", ErrOutOfRange, len(p), off, size)
	}
	rc, err := img.loadRefcounts()
	if err != nil {
		return 0, err
	}
	if rc.meta.conflict != nil {
		return 0, rc.meta.conflict
	}
	// Check every cluster this write will replace before writing any.
	cs := img.h.clusterSize
	for gc := off >> img.h.clusterBits; gc < (off+int64(len(p))+cs-1)>>img.h.clusterBits; gc++ {
		if _, ok := img.pending[gc]; !ok {
			if err := img.checkReplace(gc); err != nil {
				return 0, err
			}
		}
	}
	if err := img.writeGuest(p, off); err != nil {
		// Part of p may be staged: poison the image so that nothing of
		// this call is ever committed.
		img.writeErr = err
		return 0, err
	}
	return len(p), nil
}

func (img *Image) checkWrite() error {
	switch {
	case img.closed:
		return ErrClosed
	case img.f == nil || img.readOnly:
		return ErrReadOnly
	case img.writeErr != nil:
		return fmt.Errorf("qcow2: an earlier write or commit failed, the image takes no more writes: %w", img.writeErr)
	}
	return nil
}

// writeGuest writes p at off cluster by cluster. Clusters already written
// since the last commit are overwritten in place (they are not visible
// yet); others get a new host cluster holding the merged old contents.
// Whole-cluster writes to host-contiguous new clusters go out in one call.
func (img *Image) writeGuest(p []byte, off int64) error {
	h := img.h
	cs := h.clusterSize
	var runStart, runLen, runHost int64
	flush := func() error {
		if runLen == 0 {
			return nil
		}
		err := img.writeFile(p[runStart:runStart+runLen], runHost)
		runLen = 0
		return err
	}
	for pos := int64(0); pos < int64(len(p)); {
		o := off + pos
		gc := o >> h.clusterBits
		within := o & (cs - 1)
		n := min(int64(len(p))-pos, cs-within)
		if e, ok := img.pending[gc]; ok {
			if err := flush(); err != nil {
				return err
			}
			if err := img.writeFile(p[pos:pos+n], int64(e.word&offsetMask)+within); err != nil {
				return err
			}
			pos += n
			continue
		}
		host, err := img.rc.alloc(1)
		if err != nil {
			return err
		}
		if n == cs {
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
			if img.clusterIO == nil {
				img.clusterIO = make([]byte, cs)
			}
			buf := img.clusterIO
			if err := img.readGuest(buf, gc<<h.clusterBits); err != nil {
				img.rc.set(host>>h.clusterBits, 0)
				return err
			}
			copy(buf[within:], p[pos:pos+n])
			if err := img.writeFile(buf, host); err != nil {
				return err
			}
		}
		e := l2Entry{word: uint64(host) | entryCopied}
		if h.extendedL2 {
			e.bitmap = subAllocMask
		}
		img.pending[gc] = e
		pos += n
	}
	return flush()
}

// Flush commits every write since the last commit, atomically, and makes
// it durable.
func (img *Image) Flush() error {
	img.mu.Lock()
	defer img.mu.Unlock()
	if img.closed {
		return ErrClosed
	}
	if img.f == nil || img.readOnly {
		return nil
	}
	if img.writeErr != nil {
		return img.checkWrite()
	}
	return img.flushLocked()
}

func (img *Image) flushLocked() error {
	if len(img.pending) == 0 {
		return img.f.Sync()
	}
	if err := img.commit(); err != nil {
		img.writeErr = err
		return err
	}
	return nil
}

// release is a run of host clusters to dereference after a commit.
type release struct {
	first int64 // host cluster index
	n     int64 // number of clusters
}

// commit makes the pending writes visible; see doc.go for the order.
func (img *Image) commit() error {
	h := img.h
	rc := img.rc
	cs := h.clusterSize

	// 1. Copy-on-write L2 tables holding the new entries.
	gcs := make([]int64, 0, len(img.pending))
	for gc := range img.pending {
		gcs = append(gcs, gc)
	}
	sort.Slice(gcs, func(i, j int) bool { return gcs[i] < gcs[j] })
	frees, err := img.commitFrees(gcs)
	if err != nil {
		return err
	}
	if err := rc.checkFrees(frees); err != nil {
		return err
	}
	newL1 := append([]uint64(nil), img.l1...)
	var oldL2s []int64
	buf := make([]byte, cs)
	for i := 0; i < len(gcs); {
		l1i := gcs[i] / h.l2Entries
		old, oldOff, err := img.l2Table(l1i)
		if err != nil {
			return err
		}
		words := make([]uint64, cs/8)
		copy(words, old)
		for ; i < len(gcs) && gcs[i]/h.l2Entries == l1i; i++ {
			gc := gcs[i]
			idx := gc % h.l2Entries
			e := img.pending[gc]
			if h.extendedL2 {
				words[2*idx], words[2*idx+1] = e.word, e.bitmap
			} else {
				words[idx] = e.word
			}
		}
		at, err := rc.alloc(1)
		if err != nil {
			return err
		}
		for k, w := range words {
			be.PutUint64(buf[k*8:], w)
		}
		if err := img.writeFile(buf, at); err != nil {
			return err
		}
		newL1[l1i] = uint64(at) | entryCopied
		if oldOff != 0 {
			oldL2s = append(oldL2s, oldOff)
		}
	}

	// 2. A new L1 table.
	l1Bytes := int64(len(newL1)) * 8
	l1Clusters := ceilDiv(l1Bytes, cs)
	l1At, err := rc.alloc(l1Clusters)
	if err != nil {
		return err
	}
	l1buf := make([]byte, l1Clusters*cs)
	for k, w := range newL1 {
		be.PutUint64(l1buf[k*8:], w)
	}
	if err := img.writeFile(l1buf, l1At); err != nil {
		return err
	}

	// 3. A bigger refcount table if new blocks do not fit the old one.
	var newTableAt, newTableClusters int64
	if int64(len(rc.table)) > rc.tableEntries {
		for {
			want := int64(len(rc.table)) + int64(len(rc.table))/2 + 1
			clusters := ceilDiv(want*8, cs)
			if clusters*cs > maxReftableBytes {
				return fmt.Errorf("%w: refcount table would need %d clusters", ErrTooLarge, clusters)
			}
			at, err := rc.alloc(clusters)
			if err != nil {
				return err
			}
			if int64(len(rc.table)) <= clusters*cs/8 {
				newTableAt, newTableClusters = at, clusters
				break
			}
			// Allocating the table needed more blocks than it holds.
			if err := rc.decrement(release{at >> h.clusterBits, clusters}); err != nil {
				return err
			}
		}
	}

	// 4. Refcount blocks (increments only), then the table entries or the
	// new table, each after a sync of what it points to.
	if err := rc.writeBlocks(); err != nil {
		return err
	}
	if err := img.orderingSync(); err != nil {
		return err
	}
	if newTableAt != 0 {
		tbuf := make([]byte, newTableClusters*cs)
		for k, w := range rc.table {
			be.PutUint64(tbuf[k*8:], w)
		}
		if err := img.writeFile(tbuf, newTableAt); err != nil {
			return err
		}
		if err := img.orderingSync(); err != nil {
			return err
		}
		var hb [12]byte
		be.PutUint64(hb[0:], uint64(newTableAt))
		be.PutUint32(hb[8:], uint32(newTableClusters))
		if err := img.writeFile(hb[:], offRefcountTable); err != nil {
			return err
		}
		frees = append(frees, release{rc.tableOff >> h.clusterBits, rc.tableEntries * 8 / cs})
		rc.tableOff, rc.tableEntries = newTableAt, newTableClusters*cs/8
		h.RefcountTableOffset, h.RefcountTableClusters = uint64(newTableAt), uint32(newTableClusters)
		clear(rc.dirtyEntries)
	} else if len(rc.dirtyEntries) > 0 {
		idx := make([]int64, 0, len(rc.dirtyEntries))
		for ri := range rc.dirtyEntries {
			idx = append(idx, ri)
		}
		sort.Slice(idx, func(i, j int) bool { return idx[i] < idx[j] })
		var eb [8]byte
		for _, ri := range idx {
			be.PutUint64(eb[:], rc.table[ri])
			if err := img.writeFile(eb[:], rc.tableOff+ri*8); err != nil {
				return err
			}
		}
		clear(rc.dirtyEntries)
	}
	if err := img.orderingSync(); err != nil {
		return err
	}

	// 5. The switch: one 12-byte write of l1_size and l1_table_offset.
	var hb [12]byte
	be.PutUint32(hb[0:], uint32(len(newL1)))
	be.PutUint64(hb[4:], uint64(l1At))
	if err := img.writeFile(hb[:], offL1Size); err != nil {
		return err
	}
	if err := img.orderingSync(); err != nil {
		return err
	}
	img.l1 = newL1
	h.L1TableOffset = uint64(l1At)
	clear(img.pending)
	for _, off := range oldL2s {
		img.l2.drop(off)
	}
	img.cbufHost = -1

	// 6. Drop the references the old tables held. A crash from here on
	// leaks clusters at worst.
	for _, fr := range frees {
		if err := rc.decrement(fr); err != nil {
			return err
		}
	}
	if err := rc.writeBlocks(); err != nil {
		return err
	}
	rc.trim()
	rc.buildMeta()
	return img.f.Sync()
}

// orderingSync is a sync that orders two commit steps.
func (img *Image) orderingSync() error {
	if img.noOrderingSync {
		return nil
	}
	return img.f.Sync()
}

// commitFrees lists the references a commit of the pending entries (gcs,
// sorted) drops once the new tables are in place: the data the new
// entries replace, the old L2 tables and the old L1 table.
func (img *Image) commitFrees(gcs []int64) ([]release, error) {
	h := img.h
	var frees []release
	for i := 0; i < len(gcs); {
		l1i := gcs[i] / h.l2Entries
		words, oldOff, err := img.l2Table(l1i)
		if err != nil {
			return nil, err
		}
		for ; i < len(gcs) && gcs[i]/h.l2Entries == l1i; i++ {
			if oldOff == 0 {
				continue
			}
			idx := gcs[i] % h.l2Entries
			prev := l2Entry{word: words[idx]}
			if h.extendedL2 {
				prev = l2Entry{words[2*idx], words[2*idx+1]}
			}
			m, err := h.decodeL2(prev, oldOff+idx*h.l2EntryBytes)
			if err != nil {
				return nil, err
			}
			if first, n := h.hostClustersOf(m); n > 0 {
				frees = append(frees, release{first, n})
			}
		}
		if oldOff != 0 {
			frees = append(frees, release{oldOff >> h.clusterBits, 1})
		}
	}
	if old := int64(h.L1TableOffset); old != 0 && h.L1Size > 0 {
		frees = append(frees, release{old >> h.clusterBits, ceilDiv(int64(h.L1Size)*8, h.clusterSize)})
	}
	return frees, nil
}
