package image

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
)

// The committed qcow2 chains (gen.d/qcow2.sh): read through by Open as
// qemu-img reads them, with every layer reported.
func TestCommittedChainsReadAsQemuImgReadsThem(t *testing.T) {
	for _, tc := range []struct {
		name    string
		files   []string // top first
		formats []string
	}{
		{"3-deep qcow2 chain with relative names", []string{"qcow2-chain-top.qcow2", "qcow2-chain-mid.qcow2", "qcow2-chain-base.qcow2"}, []string{"qcow2", "qcow2", "qcow2"}},
		{"qcow2 over a raw backing file", []string{"qcow2-rawback-top.qcow2", "qcow2-rawback-base.raw"}, []string{"qcow2", "raw"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var paths []string
			for _, f := range tc.files {
				paths = append(paths, fixture.PathIn(t, f, dir))
			}
			h, err := Open(paths[0], OpenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			chain := h.Chain()
			if len(chain) != len(tc.files) {
				t.Fatalf("Chain = %+v", chain)
			}
			for i, l := range chain {
				want := paths[i]
				if i > 0 { // backing files are reported by their real path
					want, _ = filepath.EvalSymlinks(want)
				}
				if l.Path != want || l.Format != tc.formats[i] {
					t.Fatalf("layer %d = %+v, want %s (%s)", i, l, paths[i], tc.formats[i])
				}
			}
			if !bytes.Equal(readAll(t, h), qemuRaw(t, paths[0])) {
				t.Fatal("virtual disk differs from qemu-img convert -O raw")
			}
		})
	}
}

// qemu-img 7.2 itself loops on these; Open must refuse them.
func TestCommittedBackingLoopIsRefused(t *testing.T) {
	dir := t.TempDir()
	a := fixture.PathIn(t, "qcow2-hostile-loop-a.qcow2", dir)
	fixture.PathIn(t, "qcow2-hostile-loop-b.qcow2", dir)
	for _, opts := range []OpenOptions{{}, {Write: true}, {DryRun: true}} {
		h, err := Open(a, opts)
		if !errors.Is(err, ErrBackingLoop) {
			if h != nil {
				h.Close()
			}
			t.Fatalf("Open %+v: %v, want ErrBackingLoop", opts, err)
		}
	}
}
