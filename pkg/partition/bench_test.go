package partition

import "testing"

// BenchmarkRead reads each fixture's partition table from a host file, as
// the guest scan does. Compare with sfdisk --json (scripts/bench.d).
func BenchmarkRead(b *testing.B) {
	for _, name := range []string{"part-gpt.raw", "part-mbr.raw", "part-gpt-4k.raw"} {
		b.Run(name, func(b *testing.B) {
			f, size := openFixture(b, name)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Read(f, size); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
