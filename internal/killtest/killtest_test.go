package killtest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestSameFileComparesDataAndHoles(t *testing.T) {
	data := make([]byte, 1<<20)
	copy(data[100:], "head")
	copy(data[700<<10:], bytes.Repeat([]byte{7}, 100<<10))
	for _, tc := range []struct {
		name   string
		change func(b []byte) []byte
		same   bool
	}{
		{"the same bytes compare equal", func(b []byte) []byte { return b }, true},
		{"a byte changed in a data extent differs", func(b []byte) []byte { b[101] = 'X'; return b }, false},
		{"a byte set in what the file has as a hole differs", func(b []byte) []byte { b[300<<10] = 1; return b }, false},
		{"another length differs", func(b []byte) []byte { return b[:len(b)-1] }, false},
		{"data zeroed in the expectation differs", func(b []byte) []byte { clear(b[700<<10 : 701<<10]); return b }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "img")
			WriteSparse(t, p, data)
			got, err := os.ReadFile(p)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("WriteSparse wrote other bytes: %v", err)
			}
			want := tc.change(bytes.Clone(data))
			if SameFile(t, p, want) != tc.same {
				t.Fatalf("SameFile = %v, want %v", !tc.same, tc.same)
			}
		})
	}
}
