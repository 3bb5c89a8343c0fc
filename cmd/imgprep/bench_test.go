package main

import (
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/pkg/sysprep"
)

// BenchmarkSysprepDryRun is a full default sysprep of the GPT qcow2
// fixture through the CLI, in-process, with the writes staged and
// discarded (no fsync): the CPU cost of the pipeline.
func BenchmarkSysprepDryRun(b *testing.B) {
	img := fixture.Path(b, "disk-gpt.qcow2")
	b.ReportAllocs()
	for b.Loop() {
		if r := runCLI(b, sysprep.Stack{}, "sysprep", "-q", "--dry-run", img); r.code != 0 {
			b.Fatal(r.stderr)
		}
	}
}

// BenchmarkSysprep is the same with the commit, on a fresh copy each time.
func BenchmarkSysprep(b *testing.B) {
	dir := b.TempDir()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		img := fixture.PathIn(b, "disk-gpt.qcow2", dir)
		b.StartTimer()
		if r := runCLI(b, sysprep.Stack{}, "sysprep", "-q", img); r.code != 0 {
			b.Fatal(r.stderr)
		}
	}
}
