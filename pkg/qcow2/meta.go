package qcow2

// metaKind names what a metadata cluster holds.
type metaKind uint8

const (
	metaHeader metaKind = iota + 1
	metaL1
	metaL2
	metaReftable
	metaRefblock
	metaSnapshotTable
	metaSnapshotL1
)

func (k metaKind) String() string {
	switch k {
	case metaHeader:
		return "header"
	case metaL1:
		return "L1 table"
	case metaL2:
		return "L2 table"
	case metaReftable:
		return "refcount table"
	case metaRefblock:
		return "refcount block"
	case metaSnapshotTable:
		return "snapshot table"
	case metaSnapshotL1:
		return "snapshot L1 table"
	}
	return "metadata"
}

// metaMap records which host clusters hold metadata in use, and the first
// cluster found claimed twice (an image whose structures overlap is
// corrupt and must not be written: freeing or rewriting one structure
// would destroy the other).
type metaMap struct {
	bits     uint32
	kinds    map[int64]metaKind
	conflict error
}

func (m *metaMap) add(c int64, k metaKind) {
	if old, ok := m.kinds[c]; ok && m.conflict == nil {
		m.conflict = corrupt(c<<m.bits, k.String(), "cluster is also the %s", old)
	}
	m.kinds[c] = k
}

// addRange adds the clusters of n bytes at off.
func (m *metaMap) addRange(off, n int64, k metaKind) {
	if n <= 0 {
		return
	}
	for c := off >> m.bits; c <= (off+n-1)>>m.bits; c++ {
		m.add(c, k)
	}
}

// buildMeta records the clusters of every metadata structure in use and
// checks that each has a non-zero refcount.
func (rc *refcounts) buildMeta() {
	img := rc.img
	h := img.h
	m := &metaMap{bits: h.clusterBits, kinds: map[int64]metaKind{}}
	m.add(0, metaHeader)
	m.addRange(int64(h.L1TableOffset), int64(h.L1Size)*8, metaL1)
	m.addRange(rc.tableOff, rc.tableEntries*8, metaReftable)
	fail := func(err error) {
		if m.conflict == nil {
			m.conflict = err
		}
	}
	for ri, e := range rc.table {
		off, err := rc.blockOffset(int64(ri))
		if err != nil {
			fail(err)
		} else if e != 0 {
			m.add(off>>h.clusterBits, metaRefblock)
		}
	}
	for i, e := range img.l1 {
		off, err := h.decodeL1(e, int64(h.L1TableOffset)+int64(i)*8)
		if err != nil {
			fail(err)
		} else if off != 0 {
			m.add(off>>h.clusterBits, metaL2)
		}
	}
	m.addRange(int64(h.SnapshotsOffset), img.snapshotTableBytes, metaSnapshotTable)
	for _, s := range img.snapshots {
		m.addRange(s.L1TableOffset, s.L1Size*8, metaSnapshotL1)
	}
	if m.conflict == nil {
		for c, k := range m.kinds {
			v, err := rc.get(c)
			if err != nil {
				m.conflict = err
				break
			}
			if v == 0 {
				m.conflict = corrupt(c<<h.clusterBits, k.String(), "cluster in use has refcount 0")
				break
			}
		}
	}
	rc.meta = m
}

// checkReplace verifies, before anything is written, that the committed
// clusters a write to guest cluster gc will dereference are sound: the
// entry decodes, its data is not metadata and has a non-zero refcount.
func (img *Image) checkReplace(gc int64) error {
	e, at, err := img.committedEntry(gc)
	if err != nil || at == 0 {
		return err
	}
	m, err := img.h.decodeL2(e, at)
	if err != nil {
		return err
	}
	first, n := img.h.hostClustersOf(m)
	for c := first; c < first+n; c++ {
		if k, ok := img.rc.meta.kinds[c]; ok {
			return corrupt(at, "L2 entry", "data cluster %#x is also the %s", c<<img.h.clusterBits, k)
		}
		v, err := img.rc.get(c)
		if err != nil {
			return err
		}
		if v == 0 {
			return corrupt(at, "L2 entry", "data cluster %#x is in use but has refcount 0", c<<img.h.clusterBits)
		}
	}
	return nil
}

// checkFrees verifies that every cluster has at least as many references
// as the commit is about to drop, so that no decrement after the switch
// can fail.
func (rc *refcounts) checkFrees(frees []release) error {
	count := map[int64]uint64{}
	for _, fr := range frees {
		for c := fr.first; c < fr.first+fr.n; c++ {
			count[c]++
		}
	}
	for c, n := range count {
		v, err := rc.get(c)
		if err != nil {
			return err
		}
		if v < n {
			return corrupt(c<<rc.img.h.clusterBits, "refcount", "cluster has refcount %d but %d references to it are being dropped", v, n)
		}
	}
	return nil
}
