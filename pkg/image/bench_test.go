package image

import (
	"path/filepath"
	"testing"
)

// BenchmarkOpenQcow2 opens a 1 MiB qcow2 image over a raw backing file
// read-only, reads its first 64 KiB and closes it: the fixed cost of
// looking at an image. Compare with qemu-img info (scripts/bench.d).
func BenchmarkOpenQcow2(b *testing.B) {
	dir := b.TempDir()
	patternFile(b, filepath.Join(dir, "base.raw"), 1<<20, "bench")
	top := filepath.Join(dir, "top.qcow2")
	qemuImg(b, "create", "-q", "-f", "qcow2", "-b", "base.raw", "-F", "raw", top)
	buf := make([]byte, 64<<10)
	b.ReportAllocs()
	for b.Loop() {
		h, err := Open(top, OpenOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := h.ReadAt(buf, 0); err != nil {
			b.Fatal(err)
		}
		h.Close()
	}
}

// BenchmarkDryRunQcow2 opens a qcow2 image for a dry run, stages 16
// scattered 4 KiB writes, reports the staged regions and discards them.
func BenchmarkDryRunQcow2(b *testing.B) {
	dir := b.TempDir()
	top := filepath.Join(dir, "disk.qcow2")
	qemuImg(b, "create", "-q", "-f", "qcow2", top, "64M")
	buf := make([]byte, 4096)
	b.ReportAllocs()
	for b.Loop() {
		h, err := Open(top, OpenOptions{DryRun: true})
		if err != nil {
			b.Fatal(err)
		}
		for i := int64(0); i < 16; i++ {
			if _, err := h.WriteAt(buf, i*(4<<20)+512); err != nil {
				b.Fatal(err)
			}
		}
		if len(h.Staged()) == 0 {
			b.Fatal("nothing staged")
		}
		h.Close()
	}
}
