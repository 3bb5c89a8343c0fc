package shacrypt_test

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/internal/shacrypt"
)

// specVectors are the SHA-512 test vectors of SHA-crypt.txt.
var specVectors = []struct{ setting, password, want string }{
	{"$6$saltstring", "Hello world!",
		"$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"},
	{"$6$rounds=10000$saltstringsaltstring", "Hello world!",
		"$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v."},
	{"$6$rounds=5000$toolongsaltstring", "This is just a test",
		"$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0"},
	{"$6$rounds=1400$anotherlongsaltstring", "a very much longer text to encrypt.  This one even stretches over more than one line.",
		"$6$rounds=1400$anotherlongsalts$WV8KW2lepsuKk13lXtVGnnEyZ.bCxFvSok6ZnkjRIa5iL0cAfvQyaZ2uA5CUvArDxyp3l9B/Z4D.HNqsIPpXk1"},
	{"$6$rounds=77777$short", "we have a short salt string but not a short password",
		"$6$rounds=77777$short$WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr0gge1a1x3yRULJ5CCaUeOxFmtlcGZelFl5CxtgfiAc0"},
	{"$6$rounds=123456$asaltof16chars..", "a short string",
		"$6$rounds=123456$asaltof16chars..$BtCwjqMJGx5hrJhZywWvt0RLE8uZ4oPwcelCjmw2kSYu.Ec6ycULevoBK25fs2xXgMNrCzIMVcgEJAstJeonj1"},
	{"$6$rounds=10$roundstoolow", "the minimum number is still observed",
		"$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHHrsX."},
}

func TestSpecificationVectors(t *testing.T) {
	for _, v := range specVectors {
		got, err := shacrypt.Crypt(v.password, v.setting)
		if err != nil || got != v.want {
			t.Errorf("Crypt(%q, %q) = %q, %v; want %q", v.password, v.setting, got, err, v.want)
		}
		if !shacrypt.Verify(v.password, v.want) || shacrypt.Verify(v.password+"x", v.want) {
			t.Errorf("Verify disagrees on %q", v.want)
		}
	}
}

// TestHashVerifiesWithSystemCrypt hashes with a random salt and has the
// system's crypt(3), through perl's crypt, recompute each hash.
func TestHashVerifiesWithSystemCrypt(t *testing.T) {
	perl := oracle.Require(t, "perl")
	for _, pw := range []string{"x", "correct horse battery staple", "pässwörd:with$colons", strings.Repeat("long", 40), "\x01\xff"} {
		h, err := shacrypt.Hash(pw, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(h, "$6$") || strings.Contains(h, "rounds=") || len(h) != 3+16+1+86 {
			t.Fatalf("hash %q: want $6$ + 16-character salt + $ + 86 characters", h)
		}
		out, err := exec.Command(perl, "-e", `print crypt($ARGV[0], $ARGV[1])`, pw, h).Output()
		if err != nil {
			t.Fatalf("perl crypt: %v", err)
		}
		if string(out) != h {
			t.Fatalf("crypt(3) of %q with %q: %q", pw, h, out)
		}
	}
}

func TestSaltIsUniformOverTheAlphabet(t *testing.T) {
	// A source that yields every byte value in turn: rejection keeps
	// 256-256%64 = 256 of them, so each character appears 4 times in 256.
	src := bytes.NewReader(bytes.Repeat(func() []byte {
		b := make([]byte, 256)
		for i := range b {
			b[i] = byte(i)
		}
		return b
	}(), 4))
	s, err := shacrypt.RandomString(src, shacrypt.Alphabet, 256)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range shacrypt.Alphabet {
		if n := strings.Count(s, string(c)); n != 4 {
			t.Fatalf("%q appears %d times", c, n)
		}
	}
	if _, err := shacrypt.RandomString(bytes.NewReader(nil), shacrypt.Alphabet, 4); err == nil {
		t.Fatal("an exhausted source gave a salt")
	}
}

func TestBadSettings(t *testing.T) {
	for _, s := range []string{"", "$5$salt", "$6$rounds=$salt", "$6$rounds=-1$salt", "$6$rounds=1x$salt", "$6$rounds=99999999999$s"} {
		if _, err := shacrypt.Crypt("pw", s); err == nil {
			t.Errorf("Crypt with %q succeeded", s)
		}
	}
}

// FuzzCrypt: any setting either fails or yields a hash that begins with
// its canonical setting and verifies.
func FuzzCrypt(f *testing.F) {
	for _, v := range specVectors {
		f.Add(v.password, v.setting)
	}
	f.Add("", "$6$")
	f.Add("pw", "$6$rounds=1000$$")
	f.Fuzz(func(t *testing.T, password, setting string) {
		if len(password) > 256 {
			return
		}
		st, err := shacrypt.ParseSetting(setting)
		if err != nil {
			return
		}
		if st.Rounds > 20000 {
			return // bounded work per input
		}
		h, err := shacrypt.Crypt(password, setting)
		if err != nil || !strings.HasPrefix(h, st.String()+"$") || !shacrypt.Verify(password, h) {
			t.Fatalf("Crypt(%q, %q) = %q, %v", password, setting, h, err)
		}
	})
}
