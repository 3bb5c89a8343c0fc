package btrfs

import (
	"bytes"
	"fmt"
)

// csumTree returns the checksum tree's root; ok is false when the
// filesystem has none.
func (v *Volume) csumTree() (treeRoot, bool, error) {
	ri, ok, err := v.readRoot(csumTreeObjectID)
	if err != nil || !ok {
		return treeRoot{}, false, err
	}
	return treeRoot{id: csumTreeObjectID, bytenr: ri.Bytenr, level: ri.Level}, true, nil
}

// dataCsums returns the stored checksum of each of the n sectors from
// logical address a (nil where the checksum tree has none).
func (v *Volume) dataCsums(a uint64, n int) ([][]byte, error) {
	out := make([][]byte, n)
	root, ok, err := v.csumTree()
	if err != nil || !ok {
		return out, err
	}
	ss := uint64(v.sb.SectorSize)
	cs := v.csum.size
	// An item covers at most as many sectors as checksums fit in a leaf.
	cover := uint64(v.sb.NodeSize) / uint64(cs) * ss
	lo := Key{ObjectID: extentCsumObjectID, Type: typeExtentCsum}
	if a > cover {
		lo.Offset = a - cover
	}
	end := a + uint64(n)*ss
	hi := Key{ObjectID: extentCsumObjectID, Type: typeExtentCsum, Offset: end - 1}
	err = v.walk(root, lo, hi, func(k Key, d []byte, p int64) (bool, error) {
		if len(d)%cs != 0 {
			return false, corrupt("checksum item", int64(k.Offset), p, "%d bytes is not a whole number of %d-byte checksums", len(d), cs)
		}
		for j := 0; j < len(d)/cs; j++ {
			s := k.Offset + uint64(j)*ss
			if s >= a && s < end && (s-a)%ss == 0 {
				out[(s-a)/ss] = d[j*cs : (j+1)*cs]
			}
		}
		return true, nil
	})
	return out, err
}

// readData reads len(dst) bytes of data at logical address extent+rel,
// verifying each whole sector against the checksum tree unless nodatasum,
// and trying the other copies of a DUP or RAID1 chunk on a mismatch.
func (v *Volume) readData(dst []byte, extent, rel uint64, nodatasum bool, what string) error {
	ss := uint64(v.sb.SectorSize)
	for len(dst) > 0 {
		l := extent + rel
		a := l &^ (ss - 1)
		stop := min(l+uint64(len(dst)), a+readChunk)
		b := (stop + ss - 1) &^ (ss - 1)
		buf := make([]byte, b-a)
		var check func([]byte, int64) error
		if !nodatasum {
			sums, err := v.dataCsums(a, len(buf)/int(ss))
			if err != nil {
				return err
			}
			check = func(got []byte, phys int64) error {
				for i, want := range sums {
					if want == nil {
						continue
					}
					sec := got[uint64(i)*ss : uint64(i+1)*ss]
					if s := v.csum.sum(sec); !bytes.Equal(s[:v.csum.size], want) {
						e := corrupt(what, int64(a+uint64(i)*ss), phys+int64(uint64(i)*ss), "%s data checksum mismatch", v.csum.name).(*FormatError)
						e.Checksum = true
						return e
					}
				}
				return nil
			}
		}
		if err := v.readLogical(buf, a, what, check); err != nil {
			return fmt.Errorf("%w", err)
		}
		copy(dst, buf[l-a:stop-a])
		dst = dst[stop-l:]
		rel += stop - l
	}
	return nil
}
