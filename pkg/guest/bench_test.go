package guest

import (
	"testing"
)

// BenchmarkScanAndAssemble: partition table, signature probe of every
// partition, opening ext4 read-only, fstab and os-release, on the GPT
// fixture (ESP, root, /var).
func BenchmarkScanAndAssemble(b *testing.B) {
	d, _ := openRaw(b, "disk-gpt.raw", false)
	b.ReportAllocs()
	for b.Loop() {
		l, err := Scan(d, Options{})
		if err != nil {
			b.Fatal(err)
		}
		gs, err := l.Guests()
		if err != nil || len(gs) != 1 {
			b.Fatal(err)
		}
	}
}

// BenchmarkResolveAcrossMounts: one guest path through /var/run -> /run
// and one across the /var mount, on real ext4.
func BenchmarkResolveAcrossMounts(b *testing.B) {
	g, _, _ := scanGuest(b, "disk-gpt.raw", false)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := g.Lstat("/var/run/status-netdata.json"); err != nil {
			b.Fatal(err)
		}
		if _, err := g.Lstat("/var/lib/netdata/registry/netdata.public.unique.id"); err != nil {
			b.Fatal(err)
		}
	}
}
