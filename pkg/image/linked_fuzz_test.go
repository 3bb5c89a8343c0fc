package image

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// FuzzBackingName: reading a hostile header's backing name never panics,
// and a name it returns is one the header holds.
func FuzzBackingName(f *testing.F) {
	f.Add([]byte("QFI\xfb"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		name, ok := backingNameAt(bytes.NewReader(data), int64(len(data)))
		if ok && (name == "" || !bytes.Contains(data, []byte(name))) {
			t.Fatalf("backing name %q not in the header", name)
		}
		if !ok && name != "" {
			t.Fatalf("name %q without ok", name)
		}
	})
}

func TestBackingNameOfSeedHeaders(t *testing.T) {
	tests := []struct {
		file, want string
		ok         bool
	}{
		{"seed-relative-raw", "base.raw", true},
		{"seed-absolute-v2", "/abs/golden.qcow2", true},
		{"seed-no-backing", "", false},
	}
	for _, tc := range tests {
		data := seedData(t, tc.file)
		name, ok := backingNameAt(bytes.NewReader(data), int64(len(data)))
		if name != tc.want || ok != tc.ok {
			t.Errorf("%s: %q %v, want %q %v", tc.file, name, ok, tc.want, tc.ok)
		}
		p := filepath.Join(t.TempDir(), "x.qcow2")
		os.WriteFile(p, data, 0o644)
		if name, ok := BackingName(p); name != tc.want || ok != tc.ok {
			t.Errorf("%s from a file: %q %v", tc.file, name, ok)
		}
	}
	if _, ok := BackingName(t.TempDir()); ok {
		t.Errorf("a directory has a backing name")
	}
}

// seedData reads the bytes of a committed FuzzBackingName seed.
func seedData(tb testing.TB, name string) []byte {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzBackingName", name))
	if err != nil {
		tb.Fatal(err)
	}
	lines := bytes.SplitN(raw, []byte("\n"), 3)
	s := string(bytes.TrimSpace(lines[1]))
	s, err = strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(s, "[]byte("), ")"))
	if err != nil {
		tb.Fatal(err)
	}
	return []byte(s)
}
