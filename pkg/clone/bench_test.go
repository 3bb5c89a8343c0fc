package clone

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
)

// benchClone clones the disk-gpt.qcow2 fixture b.N times in mode, without
// sysprep (as qemu-img create -b and qemu-img convert do) or with it.
func benchClone(b *testing.B, mode Mode, prep bool) {
	tmpl := fixture.Path(b, "disk-gpt.qcow2")
	dir := filepath.Dir(tmpl)
	opts := Options{Mode: mode}
	if prep {
		opts.Operations = prepOps()
		opts.Identity = Identity{Hostname: "bench", MachineID: "0123456789abcdef0123456789abcdef"}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dest := filepath.Join(dir, fmt.Sprintf("c%d.qcow2", i))
		if _, err := Clone(context.Background(), tmpl, dest, opts); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		os.Remove(dest)
		b.StartTimer()
	}
}

func BenchmarkCloneLinked(b *testing.B)         { benchClone(b, Linked, false) }
func BenchmarkCloneLinkedPrepared(b *testing.B) { benchClone(b, Linked, true) }
func BenchmarkCloneFull(b *testing.B)           { benchClone(b, Full, false) }
func BenchmarkCloneFullPrepared(b *testing.B)   { benchClone(b, Full, true) }

func BenchmarkDependents(b *testing.B) {
	dir := b.TempDir()
	tmpl := fixture.PathIn(b, "disk-none.qcow2", dir)
	for i := 0; i < 50; i++ {
		if _, err := Clone(context.Background(), tmpl, filepath.Join(dir, fmt.Sprintf("c%02d.qcow2", i)), Options{Mode: Linked}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if deps, err := NewIndex().Dependents(tmpl, nil); err != nil || len(deps) != 50 {
			b.Fatal(deps, err)
		}
	}
}
