package btrfs

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/bits"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// checksummer computes the filesystem's checksum of a byte range into the
// first size bytes of a 32-byte array, as btrfs stores it.
type checksummer struct {
	kind uint16
	size int
	name string
}

// newChecksummer returns the checksum the superblock's csum_type names,
// or an error naming an algorithm this package does not compute.
func newChecksummer(kind uint16) (checksummer, error) {
	switch kind {
	case csumCRC32C:
		return checksummer{kind, 4, "crc32c"}, nil
	case csumXXHash64:
		return checksummer{kind, 8, "xxhash64"}, nil
	case csumSHA256:
		return checksummer{kind, 32, "sha256"}, nil
	case csumBlake2b:
		return checksummer{}, fmt.Errorf("%w: blake2b checksums", ErrUnsupported)
	}
	return checksummer{}, fmt.Errorf("%w: checksum type %d", ErrUnsupported, kind)
}

// sum returns the checksum of p, zero-padded to 32 bytes.
func (c checksummer) sum(p []byte) [csumSize]byte {
	var out [csumSize]byte
	switch c.kind {
	case csumCRC32C:
		binary.LittleEndian.PutUint32(out[:], crc32.Checksum(p, castagnoli))
	case csumXXHash64:
		binary.LittleEndian.PutUint64(out[:], xxhash64(p))
	case csumSHA256:
		out = sha256.Sum256(p)
	}
	return out
}

// nameHash is btrfs_name_hash: the kernel's crc32c(~1, name), which
// neither inverts its input nor its output.
func nameHash(name []byte) uint32 {
	return ^crc32.Update(^uint32(0xFFFFFFFE), castagnoli, name)
}

// xxhash64 is XXH64 with seed 0 (the algorithm of the xxHash
// specification, doc/xxhash_spec.md).
func xxhash64(p []byte) uint64 {
	var (
		p1 uint64 = 11400714785074694791
		p2 uint64 = 14029467366897019727
		p3 uint64 = 1609587929392839161
		p4 uint64 = 9650029242287828579
		p5 uint64 = 2870177450012600261
	)
	round := func(acc, in uint64) uint64 {
		return bits.RotateLeft64(acc+in*p2, 31) * p1
	}
	merge := func(acc, v uint64) uint64 {
		return (acc^round(0, v))*p1 + p4
	}
	n := uint64(len(p))
	var h uint64
	if len(p) >= 32 {
		v1, v2, v3, v4 := p1+p2, p2, uint64(0), -p1
		for len(p) >= 32 {
			v1 = round(v1, binary.LittleEndian.Uint64(p))
			v2 = round(v2, binary.LittleEndian.Uint64(p[8:]))
			v3 = round(v3, binary.LittleEndian.Uint64(p[16:]))
			v4 = round(v4, binary.LittleEndian.Uint64(p[24:]))
			p = p[32:]
		}
		h = bits.RotateLeft64(v1, 1) + bits.RotateLeft64(v2, 7) + bits.RotateLeft64(v3, 12) + bits.RotateLeft64(v4, 18)
		h = merge(h, v1)
		h = merge(h, v2)
		h = merge(h, v3)
		h = merge(h, v4)
	} else {
		h = p5
	}
	h += n
	for len(p) >= 8 {
		h ^= round(0, binary.LittleEndian.Uint64(p))
		h = bits.RotateLeft64(h, 27)*p1 + p4
		p = p[8:]
	}
	if len(p) >= 4 {
		h ^= uint64(binary.LittleEndian.Uint32(p)) * p1
		h = bits.RotateLeft64(h, 23)*p2 + p3
		p = p[4:]
	}
	for _, b := range p {
		h ^= uint64(b) * p5
		h = bits.RotateLeft64(h, 11) * p1
	}
	h ^= h >> 33
	h *= p2
	h ^= h >> 29
	h *= p3
	h ^= h >> 32
	return h
}
