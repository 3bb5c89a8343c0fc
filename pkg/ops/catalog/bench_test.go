package catalog_test

import (
	"context"
	"testing"

	"github.com/imgprep/imgprep/pkg/ops/catalog"
	"github.com/imgprep/imgprep/pkg/ops/catalogtest"
)

// BenchmarkDefaultSet runs the default operations on a fresh copy of the
// catalog fixture (copy and scan excluded from the timing) and syncs.
func BenchmarkDefaultSet(b *testing.B) {
	tpl := catalogtest.NewTemplate(b)
	defaults := catalog.Defaults(catalog.All(catalog.Config{}))
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		d := tpl.Open(b)
		b.StartTimer()
		for _, op := range defaults {
			if _, err := op.Apply(context.Background(), d.Guest); err != nil {
				b.Fatal(err)
			}
		}
		if err := d.Guest.Sync(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEachOperation times each default operation alone.
func BenchmarkEachOperation(b *testing.B) {
	tpl := catalogtest.NewTemplate(b)
	for _, op := range catalog.Defaults(catalog.All(catalog.Config{})) {
		b.Run(op.Name(), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				d := tpl.Open(b)
				b.StartTimer()
				if _, err := op.Apply(context.Background(), d.Guest); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
