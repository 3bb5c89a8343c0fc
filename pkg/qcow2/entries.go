package qcow2

// Table entry decoding, shared by the read and the write paths.

// clusterKind is what an L2 entry says about its guest cluster.
type clusterKind uint8

const (
	kindUnallocated clusterKind = iota // reads from the backing file, or zeros
	kindZero                           // reads as zeros (possibly with a preallocated host cluster)
	kindNormal                         // data at host
	kindCompressed                     // compressed data at host, csize bytes
	kindSubclusters                    // extended L2: per-subcluster alloc/zero bitmaps
)

// l2Entry is one L2 table entry; bitmap is used with extended L2 only.
type l2Entry struct {
	word   uint64
	bitmap uint64
}

// mapping is a decoded, validated L2 entry.
type mapping struct {
	kind  clusterKind
	host  int64  // host offset of the data cluster (0 if none)
	csize int64  // compressed: length of the compressed data in bytes
	alloc uint32 // kindSubclusters: subclusters holding data at host
	zero  uint32 // kindSubclusters: subclusters reading as zeros
}

// decodeL1 validates an L1 entry and returns the L2 table offset (0 when
// unallocated). at is the entry's own host offset, for errors.
func (h *header) decodeL1(e uint64, at int64) (int64, error) {
	fileSize := h.fileSize
	if e&l1Reserved != 0 {
		return 0, corrupt(at, "L1 entry", "reserved bits set in %#016x", e)
	}
	off := int64(e & offsetMask)
	if off == 0 {
		return 0, nil
	}
	if off%h.clusterSize != 0 {
		return 0, corrupt(at, "L1 entry", "L2 table offset %#x is not cluster aligned", off)
	}
	if off < h.clusterSize {
		return 0, corrupt(at, "L1 entry", "L2 table offset %#x points into the header cluster", off)
	}
	if off > fileSize-h.clusterSize {
		return 0, corrupt(at, "L1 entry", "L2 table at %#x runs past the end of the file (%d bytes)", off, fileSize)
	}
	return off, nil
}

// decodeL2 validates an L2 entry. at is the entry's host offset.
func (h *header) decodeL2(e l2Entry, at int64) (mapping, error) {
	fileSize := h.fileSize
	if e.word&entryCompressed != 0 {
		return h.decodeCompressed(e.word, at)
	}
	if e.word&l2StdReserved != 0 {
		return mapping{}, corrupt(at, "L2 entry", "reserved bits set in %#016x", e.word)
	}
	host := int64(e.word & offsetMask)
	if host != 0 {
		if host%h.clusterSize != 0 {
			return mapping{}, corrupt(at, "L2 entry", "data offset %#x is not cluster aligned", host)
		}
		if host < h.clusterSize {
			return mapping{}, corrupt(at, "L2 entry", "data offset %#x points into the header cluster", host)
		}
		if host >= fileSize {
			return mapping{}, corrupt(at, "L2 entry", "data offset %#x is past the end of the file (%d bytes)", host, fileSize)
		}
	}
	if h.extendedL2 {
		alloc := uint32(e.bitmap & subAllocMask)
		zero := uint32(e.bitmap >> 32)
		if alloc&zero != 0 {
			return mapping{}, corrupt(at, "L2 entry", "subclusters %#08x are both allocated and zero", alloc&zero)
		}
		if alloc != 0 && host == 0 {
			return mapping{}, corrupt(at, "L2 entry", "allocated subclusters %#08x without a data offset", alloc)
		}
		return mapping{kind: kindSubclusters, host: host, alloc: alloc, zero: zero}, nil
	}
	if e.word&entryZero != 0 {
		return mapping{kind: kindZero, host: host}, nil
	}
	if host == 0 {
		return mapping{kind: kindUnallocated}, nil
	}
	return mapping{kind: kindNormal, host: host}, nil
}

// csizeShift is the bit where a compressed descriptor's sector count
// starts: x = 62 - (cluster_bits - 8).
func (h *header) csizeShift() uint32 { return 62 - (h.clusterBits - 8) }

func (h *header) decodeCompressed(w uint64, at int64) (mapping, error) {
	fileSize := h.fileSize
	shift := h.csizeShift()
	off := int64(w & (uint64(1)<<shift - 1))
	sectors := int64((w>>shift)&(uint64(1)<<(h.clusterBits-8)-1)) + 1
	csize := sectors*512 - off&511
	if off < h.clusterSize {
		return mapping{}, corrupt(at, "L2 entry", "compressed data offset %#x points into the header cluster", off)
	}
	if off >= fileSize {
		return mapping{}, corrupt(at, "L2 entry", "compressed data offset %#x is past the end of the file (%d bytes)", off, fileSize)
	}
	return mapping{kind: kindCompressed, host: off, csize: csize}, nil
}

// compressedClusters returns the first host cluster and the number of
// host clusters a compressed descriptor's data touches; each holds one
// reference for it.
func (h *header) compressedClusters(m mapping) (first, n int64) {
	// QEMU frees (offset & ~511, nb_csectors * 512), which ends at
	// offset + csize.
	first = m.host >> h.clusterBits
	last := (m.host + m.csize - 1) >> h.clusterBits
	return first, last - first + 1
}

// hostClustersOf lists the host clusters an entry references (for freeing).
func (h *header) hostClustersOf(m mapping) (first, n int64) {
	switch m.kind {
	case kindCompressed:
		return h.compressedClusters(m)
	case kindNormal, kindZero, kindSubclusters:
		if m.host != 0 {
			return m.host >> h.clusterBits, 1
		}
	}
	return 0, 0
}
