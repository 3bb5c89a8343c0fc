package ext4

import (
	"errors"
	"fmt"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
)

// TestWritesRefuseCorruptInput: a write that meets a damaged structure
// fails with a *CorruptError (carrying the offset) before writing
// anything: the image stays byte-identical.
func TestWritesRefuseCorruptInput(t *testing.T) {
	for _, tc := range []struct {
		name    string
		damage  func(t *testing.T, f *FS, img string)
		op      func(f *FS) error
		checked bool // a checksum mismatch
	}{
		{
			name: "a damaged extent leaf fails its checksum and Remove frees nothing",
			damage: func(t *testing.T, f *FS, img string) {
				in, err := f.resolve("/frag", false)
				if err != nil {
					t.Fatal(err)
				}
				root, err := f.loadExtentTree(in)
				if err != nil || len(root.children) == 0 {
					t.Fatalf("no leaf block: %v", err)
				}
				debugfsW(t, img, fmt.Sprintf("zap_block -o 40 -l 4 -p 0x77 %d", root.children[0].blk))
			},
			op:      func(f *FS) error { return f.Remove("/frag") },
			checked: true,
		},
		{
			name: "a block of the file already free in the bitmap is a double free and Truncate frees nothing",
			damage: func(t *testing.T, f *FS, img string) {
				in, err := f.resolve("/frag", false)
				if err != nil {
					t.Fatal(err)
				}
				m, err := f.mapper(in)
				if err != nil {
					t.Fatal(err)
				}
				p, _, err := m.lookup(100)
				if err != nil || p == 0 {
					t.Fatalf("block 100 of /frag: %d %v", p, err)
				}
				debugfsW(t, img, fmt.Sprintf("freeb %d", p))
			},
			op: func(f *FS) error { return f.Truncate("/frag", 1000) },
		},
		{
			name: "a damaged directory block fails its checksum and RemoveAll changes nothing",
			damage: func(t *testing.T, f *FS, img string) {
				in, err := f.resolve("/fill", false)
				if err != nil {
					t.Fatal(err)
				}
				m, err := f.mapper(in)
				if err != nil {
					t.Fatal(err)
				}
				p, _, err := m.lookup(0)
				if err != nil || p == 0 {
					t.Fatalf("/fill block 0: %v", err)
				}
				debugfsW(t, img, fmt.Sprintf("zap_block -o 30 -l 2 -p 0x41 %d", p))
			},
			op:      func(f *FS) error { return f.RemoveAll("/fill") },
			checked: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := fixture.Path(t, "ext4-fragmented.img")
			tc.damage(t, openRO(t, img), img)
			sum := fixture.SHA256(t, img)
			f, _ := openRW(t, img)
			err := tc.op(f)
			var ce *CorruptError
			if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("got %v, want a *CorruptError", err)
			}
			if tc.checked && !errors.Is(err, ErrChecksum) {
				t.Errorf("%v does not wrap ErrChecksum", err)
			}
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			if fixture.SHA256(t, img) != sum {
				t.Fatal("the refused write changed the image")
			}
		})
	}
}
