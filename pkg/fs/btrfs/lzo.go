package btrfs

import (
	"encoding/binary"
	"errors"
)

// errLZO is what lzo1xDecompress returns for a stream it cannot decode.
var errLZO = errors.New("malformed LZO1X stream")

// lzo1xDecompress decodes one LZO1X stream (version 0, as lzo1x_1
// compresses; the grammar of the kernel's Documentation/staging/lzo.rst)
// from src, appending at most max bytes to dst. It reads nothing outside
// src, writes nothing past max and always ends: every instruction
// consumes input.
func lzo1xDecompress(dst, src []byte, max int) ([]byte, error) {
	base := len(dst)
	ip := 0
	need := func(n int) bool { return ip+n <= len(src) }
	// length reads the variable part of a length: zero bytes of 255 each,
	// then a non-zero byte.
	length := func(bitsMax int) (int, bool) {
		n := bitsMax
		for {
			if !need(1) {
				return 0, false
			}
			b := src[ip]
			ip++
			if b != 0 {
				return n + int(b), true
			}
			n += 255
			if n > max+255 {
				return 0, false
			}
		}
	}
	literals := func(n int) bool {
		if !need(n) || len(dst)-base+n > max {
			return false
		}
		dst = append(dst, src[ip:ip+n]...)
		ip += n
		return true
	}
	match := func(dist, n int) bool {
		if dist <= 0 || dist > len(dst)-base || len(dst)-base+n > max {
			return false
		}
		from := len(dst) - dist
		for i := 0; i < n; i++ { // overlapping copies repeat bytes
			dst = append(dst, dst[from+i])
		}
		return true
	}
	if !need(1) {
		return dst, errLZO
	}
	state := 0
	if t := int(src[0]); t > 17 {
		ip++
		t -= 17
		if !literals(t) {
			return dst, errLZO
		}
		state = min(t, 4)
	} else if t == 17 {
		return dst, errLZO // a version byte (LZO-RLE), which btrfs never writes
	}
	for {
		if !need(1) {
			return dst, errLZO
		}
		t := int(src[ip])
		ip++
		var dist, n, next int
		switch {
		case t < 16 && state == 0:
			n = t
			if n == 0 {
				var ok bool
				if n, ok = length(15); !ok {
					return dst, errLZO
				}
			}
			if !literals(n + 3) {
				return dst, errLZO
			}
			state = 4
			continue
		case t < 16:
			if !need(1) {
				return dst, errLZO
			}
			dist = int(src[ip])<<2 + (t>>2)&3 + 1
			ip++
			n = 2
			if state == 4 {
				dist += 2048
				n = 3
			}
			next = t & 3
		case t < 32:
			n = t & 7
			if n == 0 {
				var ok bool
				if n, ok = length(7); !ok {
					return dst, errLZO
				}
			}
			n += 2
			if !need(2) {
				return dst, errLZO
			}
			v := int(binary.LittleEndian.Uint16(src[ip:]))
			ip += 2
			dist = 16384 + (t&8)<<11 + v>>2
			if dist == 16384 {
				if n != 3 {
					return dst, errLZO
				}
				return dst, nil // end of stream
			}
			next = v & 3
		case t < 64:
			n = t & 31
			if n == 0 {
				var ok bool
				if n, ok = length(31); !ok {
					return dst, errLZO
				}
			}
			n += 2
			if !need(2) {
				return dst, errLZO
			}
			v := int(binary.LittleEndian.Uint16(src[ip:]))
			ip += 2
			dist = v>>2 + 1
			next = v & 3
		default:
			if !need(1) {
				return dst, errLZO
			}
			dist = int(src[ip])<<3 + (t>>2)&7 + 1
			ip++
			n = t>>5 + 1
			next = t & 3
		}
		if !match(dist, n) || !literals(next) {
			return dst, errLZO
		}
		state = next
	}
}

// lzoWorst is lzo1x_worst_compress(n): the largest compressed form of n
// bytes.
func lzoWorst(n int) int { return n + n/16 + 64 + 3 }

// btrfsLZO decodes btrfs's LZO framing (fs/btrfs/lzo.c): a le32 total
// length, then segments of a le32 length and an LZO1X stream of at most
// one sector; a segment header never straddles a sector boundary (the
// rest of the sector is padding). It returns at most ram bytes.
func btrfsLZO(src []byte, ram, sectorSize int) ([]byte, error) {
	if len(src) < 4 {
		return nil, errLZO
	}
	total := int(binary.LittleEndian.Uint32(src))
	if total < 4 || total > len(src) {
		return nil, errLZO
	}
	out := make([]byte, 0, ram)
	in := 4
	for in < total && len(out) < ram {
		if total-in < 4 {
			return nil, errLZO
		}
		seg := int(binary.LittleEndian.Uint32(src[in:]))
		in += 4
		if seg == 0 || seg > lzoWorst(sectorSize) || seg > total-in {
			return nil, errLZO
		}
		var err error
		if out, err = lzo1xDecompress(out, src[in:in+seg], min(sectorSize, ram-len(out))); err != nil {
			return nil, err
		}
		in += seg
		if left := sectorSize - in%sectorSize; left < 4 {
			in += left
		}
	}
	return out, nil
}
