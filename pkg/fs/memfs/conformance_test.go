package memfs_test

import (
	"testing"

	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/fs/conformance"
)

// TestConformance runs the engine conformance suite on memfs itself: the
// scenarios' own expectations hold the reference to the rules.
func TestConformance(t *testing.T) {
	conformance.Run(t, conformance.Options{
		New: func(t *testing.T, entries []conformance.Entry) fs.WriteTree { return conformance.Reference(entries) },
	})
}
