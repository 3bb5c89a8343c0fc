package batch

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestReadListOnePathPerLine(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
		err  error
	}{
		{"find output", "a.qcow2\nb/c.raw\n", []string{"a.qcow2", "b/c.raw"}, nil},
		{"blank lines and comments skipped", "\n# fleet\n  x.qcow2  \n\n", []string{"x.qcow2"}, nil},
		{"CRLF", "a\r\nb\r\n", []string{"a", "b"}, nil},
		{"no final newline", "a\nb", []string{"a", "b"}, nil},
		{"spaces inside a name kept", "my disk.qcow2\n", []string{"my disk.qcow2"}, nil},
		{"empty", "", nil, nil},
		{"NUL byte", "a\x00b\n", nil, ErrNulInPath},
		{"line over PATH_MAX", strings.Repeat("x", MaxPathLen+1) + "\n", nil, ErrLineTooLong},
		{"line far over PATH_MAX", "ok\n" + strings.Repeat("x", 3*MaxPathLen) + "\n", nil, ErrLineTooLong},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadList(strings.NewReader(tc.in))
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			var le *ListError
			if tc.err != nil && (!errors.As(err, &le) || le.Line < 1) {
				t.Fatalf("%v does not name its line", err)
			}
		})
	}
}

func TestReadListBoundsWhatItKeeps(t *testing.T) {
	tests := []struct {
		name string
		r    io.Reader
		err  error
	}{
		{"more than MaxPaths paths", strings.NewReader(strings.Repeat("a\n", MaxPaths+1)), ErrTooMany},
		{"more than MaxListBytes", io.LimitReader(repeat(strings.Repeat("x", MaxPathLen)+"\n"), MaxListBytes+MaxListBytes/64), ErrTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ReadList(tc.r); !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
		})
	}
}

// repeat is an endless reader of s.
func repeat(s string) io.Reader { return &repeater{s: s} }

type repeater struct {
	s   string
	off int
}

func (r *repeater) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.s[r.off:])
		n += c
		r.off = (r.off + c) % len(r.s)
	}
	return n, nil
}

func FuzzReadList(f *testing.F) {
	f.Add([]byte("a.qcow2\nb.raw\n"))
	f.Add([]byte("# c\r\n\r\n x \n"))
	f.Add([]byte("a\x00b"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ReadList(strings.NewReader(string(data)))
		if err != nil {
			return
		}
		for _, p := range got {
			if p == "" || len(p) > MaxPathLen || strings.ContainsAny(p, "\n\x00") || strings.HasPrefix(p, "#") || strings.TrimSpace(p) != p {
				t.Fatalf("ReadList returned %q", p)
			}
		}
	})
}
