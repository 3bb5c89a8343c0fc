package ext4

import "math/bits"

// Directory index (htree) name hashes, as the kernel's fs/ext4/hash.c
// and e2fsprogs' lib/ext2fs/dirhash.c define them. The hash version comes
// from dx_root_info.hash_version; on filesystems whose s_flags say
// EXT2_FLAGS_UNSIGNED_HASH the legacy, half_md4 and tea versions read the
// name's bytes as unsigned chars (versions 3, 4, 5), else as signed chars.

// Hash versions (dx_root_info.hash_version, s_def_hash_version).
const (
	dxHashLegacy          = 0
	dxHashHalfMD4         = 1
	dxHashTea             = 2
	dxHashLegacyUnsigned  = 3
	dxHashHalfMD4Unsigned = 4
	dxHashTeaUnsigned     = 5
	sbFlagsSignedHash     = 0x1
	sbFlagsUnsignedHash   = 0x2
	htreeEOF32            = 0x7fffffff
)

// dxHashVersion returns the effective hash version of a directory whose
// root names version v: the unsigned variant when s_flags asks for it.
func (f *FS) dxHashVersion(v uint8) uint8 {
	if v <= dxHashTea && f.sb.Flags&sbFlagsUnsignedHash != 0 {
		return v + 3
	}
	return v
}

// dxHash computes the major hash of name with hash version version (after
// dxHashVersion) and the 4-word seed (s_hash_seed). ok is false for a
// version this package does not know (siphash, or garbage).
func dxHash(name []byte, version uint8, seed [4]uint32) (hash uint32, ok bool) {
	buf := [4]uint32{0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476}
	if seed != [4]uint32{} {
		buf = seed
	}
	unsigned := false
	switch version {
	case dxHashLegacyUnsigned:
		hash = dxHackHash(name, true)
	case dxHashLegacy:
		hash = dxHackHash(name, false)
	case dxHashHalfMD4Unsigned:
		unsigned = true
		fallthrough
	case dxHashHalfMD4:
		var in [8]uint32
		for p := name; len(p) > 0; {
			str2hashbuf(p, in[:], unsigned)
			halfMD4Transform(&buf, &in)
			if len(p) <= 32 {
				break
			}
			p = p[32:]
		}
		hash = buf[1]
	case dxHashTeaUnsigned:
		unsigned = true
		fallthrough
	case dxHashTea:
		var in [4]uint32
		for p := name; len(p) > 0; {
			str2hashbuf(p, in[:], unsigned)
			teaTransform(&buf, &in)
			if len(p) <= 16 {
				break
			}
			p = p[16:]
		}
		hash = buf[0]
	default:
		return 0, false
	}
	hash &^= 1
	if hash == htreeEOF32<<1 {
		hash = (htreeEOF32 - 1) << 1
	}
	return hash, true
}

// char returns byte c as the C char of the hash: sign-extended unless
// unsigned.
func char(c byte, unsigned bool) uint32 {
	if unsigned {
		return uint32(c)
	}
	return uint32(int32(int8(c)))
}

// dxHackHash is the legacy hash (dx_hack_hash).
func dxHackHash(name []byte, unsigned bool) uint32 {
	hash0, hash1 := uint32(0x12a3fe2d), uint32(0x37abe8f9)
	for _, c := range name {
		hash := hash1 + (hash0 ^ char(c, unsigned)*7152373)
		if hash&0x80000000 != 0 {
			hash -= 0x7fffffff
		}
		hash1, hash0 = hash0, hash
	}
	return hash0 << 1
}

// str2hashbuf packs up to 4*len(out) bytes of msg into out, padded with
// the length pattern, as the kernel's str2hashbuf_signed/unsigned.
func str2hashbuf(msg []byte, out []uint32, unsigned bool) {
	num := len(out)
	n := uint32(len(msg))
	pad := n | n<<8
	pad |= pad << 16
	val := pad
	l := len(msg)
	if l > num*4 {
		l = num * 4
	}
	k := 0
	for i := 0; i < l; i++ {
		val = char(msg[i], unsigned) + val<<8
		if i%4 == 3 {
			out[k] = val
			k++
			val = pad
			num--
		}
	}
	num--
	if num >= 0 {
		out[k] = val
		k++
	}
	for num--; num >= 0; num-- {
		out[k] = pad
		k++
	}
}

func teaTransform(buf *[4]uint32, in *[4]uint32) {
	const delta = 0x9E3779B9
	var sum uint32
	b0, b1 := buf[0], buf[1]
	a, b, c, d := in[0], in[1], in[2], in[3]
	for n := 0; n < 16; n++ {
		sum += delta
		b0 += ((b1 << 4) + a) ^ (b1 + sum) ^ ((b1 >> 5) + b)
		b1 += ((b0 << 4) + c) ^ (b0 + sum) ^ ((b0 >> 5) + d)
	}
	buf[0] += b0
	buf[1] += b1
}

func halfMD4Transform(buf *[4]uint32, in *[8]uint32) {
	const k2, k3 = 0o13240474631, 0o15666365641
	f := func(x, y, z uint32) uint32 { return z ^ (x & (y ^ z)) }
	g := func(x, y, z uint32) uint32 { return (x & y) + ((x ^ y) & z) }
	h := func(x, y, z uint32) uint32 { return x ^ y ^ z }
	a, b, c, d := buf[0], buf[1], buf[2], buf[3]
	round := func(fn func(x, y, z uint32) uint32, a *uint32, b, c, d, x uint32, s int) {
		*a = bits.RotateLeft32(*a+fn(b, c, d)+x, s)
	}
	round(f, &a, b, c, d, in[0], 3)
	round(f, &d, a, b, c, in[1], 7)
	round(f, &c, d, a, b, in[2], 11)
	round(f, &b, c, d, a, in[3], 19)
	round(f, &a, b, c, d, in[4], 3)
	round(f, &d, a, b, c, in[5], 7)
	round(f, &c, d, a, b, in[6], 11)
	round(f, &b, c, d, a, in[7], 19)

	round(g, &a, b, c, d, in[1]+k2, 3)
	round(g, &d, a, b, c, in[3]+k2, 5)
	round(g, &c, d, a, b, in[5]+k2, 9)
	round(g, &b, c, d, a, in[7]+k2, 13)
	round(g, &a, b, c, d, in[0]+k2, 3)
	round(g, &d, a, b, c, in[2]+k2, 5)
	round(g, &c, d, a, b, in[4]+k2, 9)
	round(g, &b, c, d, a, in[6]+k2, 13)

	round(h, &a, b, c, d, in[3]+k3, 3)
	round(h, &d, a, b, c, in[7]+k3, 9)
	round(h, &c, d, a, b, in[2]+k3, 11)
	round(h, &b, c, d, a, in[6]+k3, 15)
	round(h, &a, b, c, d, in[1]+k3, 3)
	round(h, &d, a, b, c, in[5]+k3, 9)
	round(h, &c, d, a, b, in[0]+k3, 11)
	round(h, &b, c, d, a, in[4]+k3, 15)

	buf[0] += a
	buf[1] += b
	buf[2] += c
	buf[3] += d
}
