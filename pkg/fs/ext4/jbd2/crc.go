package jbd2

import "hash/crc32"

// crc32c is the kernel's crc32c(seed, p), without final inversion, as
// jbd2_chksum uses it.
func crc32c(seed uint32, p []byte) uint32 {
	return ^crc32.Update(^seed, crc32.MakeTable(crc32.Castagnoli), p)
}

// beTable is the table of crc32BE, built by newBETable.
type beTable [256]uint32

func newBETable() *beTable {
	var t beTable
	for i := range t {
		c := uint32(i) << 24
		for range 8 {
			if c&0x80000000 != 0 {
				c = c<<1 ^ 0x04C11DB7
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return &t
}

// update is the kernel's crc32_be(crc, p): CRC-32 (polynomial
// 0x04C11DB7) MSB first, no inversions, as checksum v1 uses it.
func (t *beTable) update(crc uint32, p []byte) uint32 {
	for _, b := range p {
		crc = crc<<8 ^ t[byte(crc>>24)^b]
	}
	return crc
}
