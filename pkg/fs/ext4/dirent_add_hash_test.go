package ext4

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/imgprep/imgprep/internal/oracle"
)

// hashSeedWords returns s_hash_seed as the superblock stores a UUID seed.
func hashSeedWords(tb testing.TB, s string) [4]uint32 {
	tb.Helper()
	u, err := uuid.Parse(s)
	if err != nil {
		tb.Fatal(err)
	}
	var w [4]uint32
	for i := range w {
		w[i] = le.Uint32(u[4*i:])
	}
	return w
}

// TestDxHashMatchesDebugfs: "the hash of a name is computed with the
// directory's hash_version (legacy, half_md4, tea; unsigned variants when
// s_flags says so) and s_hash_seed" — every version, with and without a
// seed, for short, 32-byte-boundary, long and high-bit (signedness)
// names, agrees with debugfs dx_hash.
func TestDxHashMatchesDebugfs(t *testing.T) {
	oracle.Require(t, "debugfs")
	names := []string{
		"a", "hello", "machine-id", "entry-with-a-fairly-long-name-0042",
		strings.Repeat("x", 31), strings.Repeat("y", 32), strings.Repeat("z", 33),
		strings.Repeat("long", 63) + "abc", // 255 bytes
		"h\xc3\xa9llo", "\xff\x80\x7f", "caf\xc3\xa9-\xe2\x82\xac-16",
	}
	seeds := []string{"", "6a3e7c1d-2b4f-4e8a-9c0d-1f2e3d4c5b6a", "00000000-0000-0000-0000-000000000001"}
	var cmds []string
	type want struct {
		name    string
		version uint8
		seed    string
	}
	var wants []want
	for v := uint8(0); v <= 5; v++ {
		for _, s := range seeds {
			for _, n := range names {
				c := fmt.Sprintf("dx_hash -h %d", v)
				if s != "" {
					c += " -s " + s
				}
				cmds = append(cmds, c+" "+n)
				wants = append(wants, want{n, v, s})
			}
		}
	}
	file := filepath.Join(t.TempDir(), "cmds")
	if err := os.WriteFile(file, []byte(strings.Join(cmds, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, _ := oracle.Run(t, "debugfs", "-f", file, "/dev/null")
	var got []uint32
	for _, line := range strings.Split(out, "\n") {
		if i := strings.Index(line, " is 0x"); strings.HasPrefix(line, "Hash of ") && i > 0 {
			var h uint32
			if _, err := fmt.Sscanf(line[i+4:], "0x%x", &h); err != nil {
				t.Fatalf("parsing %q: %v", line, err)
			}
			got = append(got, h)
		}
	}
	if len(got) != len(wants) {
		t.Fatalf("debugfs printed %d hashes for %d requests:\n%s", len(got), len(wants), out)
	}
	for i, w := range wants {
		var seed [4]uint32
		if w.seed != "" {
			seed = hashSeedWords(t, w.seed)
		}
		h, ok := dxHash([]byte(w.name), w.version, seed)
		if !ok || h != got[i] {
			t.Errorf("dxHash(%q, version %d, seed %q) = %#x, %v; debugfs says %#x", w.name, w.version, w.seed, h, ok, got[i])
		}
	}
}

// TestDxHashProperties: "the low bit of a hash is always clear and the
// value 0xfffffffe (EOF) is never returned"; unknown versions are refused.
func TestDxHashProperties(t *testing.T) {
	for v := uint8(0); v <= 5; v++ {
		for i := 0; i < 2000; i++ {
			name := pattern(1+i%255, byte(i))
			h, ok := dxHash(name, v, [4]uint32{uint32(i), 1, 2, 3})
			if !ok || h&1 != 0 || h == htreeEOF32<<1 {
				t.Fatalf("version %d name %d: hash %#x ok %v", v, i, h, ok)
			}
		}
	}
	for _, v := range []uint8{6, 7, 255} {
		if _, ok := dxHash([]byte("x"), v, [4]uint32{}); ok {
			t.Errorf("hash version %d accepted", v)
		}
	}
}

// FuzzDxHash: any name and seed hashes without panicking, with the low
// bit clear.
func FuzzDxHash(f *testing.F) {
	f.Add([]byte("hello"), uint8(1), uint32(0))
	f.Add([]byte("\xff\x80"), uint8(5), uint32(7))
	f.Fuzz(func(t *testing.T, name []byte, v uint8, s uint32) {
		if h, ok := dxHash(name, v%8, [4]uint32{s, s >> 1, 0, 0}); ok && h&1 != 0 {
			t.Fatalf("hash %#x has the low bit set", h)
		}
	})
}
