// Package shacrypt implements SHA-512 crypt, the "$6$" scheme of glibc's
// and libxcrypt's crypt(3), as specified in Ulrich Drepper's "Unix crypt
// using SHA-256 and SHA-512" (SHA-crypt.txt, 2008). It is what
// /etc/shadow holds on current Linux distributions when yescrypt is not
// used, and what every PAM stack verifies.
package shacrypt

import (
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Errors.
var (
	ErrSetting = errors.New("shacrypt: not a $6$ setting")
)

// Limits of the specification.
const (
	Prefix        = "$6$"
	DefaultRounds = 5000
	MinRounds     = 1000
	MaxRounds     = 999999999
	MaxSalt       = 16
	roundsPrefix  = "rounds="
)

// Alphabet is crypt(3)'s base-64 alphabet, used for salts and digests.
const Alphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// encodeOrder is the specification's byte order of the final digest: each
// row is three digest bytes encoded as four characters, least significant
// six bits first; the last byte alone makes two characters.
var encodeOrder = [21][3]int{
	{0, 21, 42}, {22, 43, 1}, {44, 2, 23}, {3, 24, 45}, {25, 46, 4}, {47, 5, 26}, {6, 27, 48},
	{28, 49, 7}, {50, 8, 29}, {9, 30, 51}, {31, 52, 10}, {53, 11, 32}, {12, 33, 54}, {34, 55, 13},
	{56, 14, 35}, {15, 36, 57}, {37, 58, 16}, {59, 17, 38}, {18, 39, 60}, {40, 61, 19}, {62, 20, 41},
}

// Setting is a parsed "$6$[rounds=N$]SALT" prefix.
type Setting struct {
	Rounds int
	// Explicit reports whether the setting named its rounds; only then
	// does the hash repeat them.
	Explicit bool
	Salt     string
}

// ParseSetting parses the setting at the start of s ("$6$salt",
// "$6$rounds=N$salt$hash"): the salt ends at the next '$' or after 16
// characters; rounds outside [1000, 999999999] are clamped, as the
// specification says.
func ParseSetting(s string) (Setting, error) {
	rest, ok := strings.CutPrefix(s, Prefix)
	if !ok {
		return Setting{}, ErrSetting
	}
	st := Setting{Rounds: DefaultRounds}
	if r, ok := strings.CutPrefix(rest, roundsPrefix); ok {
		num, tail, ok := strings.Cut(r, "$")
		if !ok || num == "" || len(num) > 10 || strings.TrimLeft(num, "0123456789") != "" {
			return Setting{}, fmt.Errorf("%w: bad rounds", ErrSetting)
		}
		n, err := strconv.ParseUint(num, 10, 64)
		if err != nil {
			return Setting{}, fmt.Errorf("%w: bad rounds", ErrSetting)
		}
		st.Rounds = int(min(max(n, MinRounds), MaxRounds))
		st.Explicit = true
		rest = tail
	}
	salt, _, _ := strings.Cut(rest, "$")
	if len(salt) > MaxSalt {
		salt = salt[:MaxSalt]
	}
	st.Salt = salt
	return st, nil
}

// String is the setting as the hash begins with it.
func (st Setting) String() string {
	if st.Explicit {
		return Prefix + roundsPrefix + strconv.Itoa(st.Rounds) + "$" + st.Salt
	}
	return Prefix + st.Salt
}

// Crypt returns the SHA-512 crypt hash of password under setting, as
// crypt(3) would.
func Crypt(password, setting string) (string, error) {
	st, err := ParseSetting(setting)
	if err != nil {
		return "", err
	}
	return st.String() + "$" + encode(digest([]byte(password), []byte(st.Salt), st.Rounds)), nil
}

// Hash hashes password with a new 16-character salt drawn from rand
// (crypto/rand when nil) and the default rounds, so that the hash names
// none: "$6$SALT$DIGEST".
func Hash(password string, random io.Reader) (string, error) {
	salt, err := Salt(random)
	if err != nil {
		return "", err
	}
	return Crypt(password, Prefix+salt)
}

// Salt returns 16 characters of Alphabet drawn uniformly from random
// (crypto/rand when nil).
func Salt(random io.Reader) (string, error) {
	return RandomString(random, Alphabet, MaxSalt)
}

// RandomString returns n characters of alphabet (at most 256 long) drawn
// uniformly from random (crypto/rand when nil), by rejection sampling.
func RandomString(random io.Reader, alphabet string, n int) (string, error) {
	if random == nil {
		random = rand.Reader
	}
	if len(alphabet) == 0 || len(alphabet) > 256 {
		return "", errors.New("shacrypt: alphabet of 1 to 256 characters")
	}
	limit := 256 - 256%len(alphabet)
	out := make([]byte, 0, n)
	buf := make([]byte, 2*n+8)
	for len(out) < n {
		if _, err := io.ReadFull(random, buf); err != nil {
			return "", fmt.Errorf("shacrypt: reading random bytes: %w", err)
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out), nil
}

// Verify reports whether hash is the SHA-512 crypt hash of password.
func Verify(password, hash string) bool {
	got, err := Crypt(password, hash)
	return err == nil && subtle.ConstantTimeCompare([]byte(got), []byte(hash)) == 1
}

// digest is steps 1 to 21 of the specification.
func digest(p, s []byte, rounds int) [sha512.Size]byte {
	// Digest B: password, salt, password.
	hb := sha512.New()
	hb.Write(p)
	hb.Write(s)
	hb.Write(p)
	b := hb.Sum(nil)

	// Digest A: password, salt, B repeated over the password's length,
	// then B or the password for each bit of the length.
	ha := sha512.New()
	ha.Write(p)
	ha.Write(s)
	n := len(p)
	for ; n > sha512.Size; n -= sha512.Size {
		ha.Write(b)
	}
	ha.Write(b[:n])
	for n := len(p); n > 0; n >>= 1 {
		if n&1 != 0 {
			ha.Write(b)
		} else {
			ha.Write(p)
		}
	}
	a := ha.Sum(nil)

	// P: the digest of the password repeated len(p) times, stretched to
	// len(p) bytes.
	hp := sha512.New()
	for range len(p) {
		hp.Write(p)
	}
	pseq := stretch(hp.Sum(nil), len(p))

	// S: the digest of the salt repeated 16+A[0] times, stretched to
	// len(s) bytes.
	hs := sha512.New()
	for range 16 + int(a[0]) {
		hs.Write(s)
	}
	sseq := stretch(hs.Sum(nil), len(s))

	c := a
	h := sha512.New()
	for i := range rounds {
		h.Reset()
		if i&1 != 0 {
			h.Write(pseq)
		} else {
			h.Write(c)
		}
		if i%3 != 0 {
			h.Write(sseq)
		}
		if i%7 != 0 {
			h.Write(pseq)
		}
		if i&1 != 0 {
			h.Write(c)
		} else {
			h.Write(pseq)
		}
		c = h.Sum(c[:0])
	}
	var out [sha512.Size]byte
	copy(out[:], c)
	return out
}

// stretch repeats d to n bytes.
func stretch(d []byte, n int) []byte {
	out := make([]byte, 0, n)
	for len(out) < n {
		out = append(out, d[:min(len(d), n-len(out))]...)
	}
	return out
}

// encode is step 22: the digest in crypt's base 64, in the
// specification's byte order.
func encode(d [sha512.Size]byte) string {
	var sb strings.Builder
	b64 := func(w uint32, n int) {
		for range n {
			sb.WriteByte(Alphabet[w&0x3f])
			w >>= 6
		}
	}
	for _, o := range encodeOrder {
		b64(uint32(d[o[0]])<<16|uint32(d[o[1]])<<8|uint32(d[o[2]]), 4)
	}
	b64(uint32(d[63]), 2)
	return sb.String()
}
