package image

import "github.com/imgprep/imgprep/pkg/qcow2"

// Extent is a run of a virtual disk that holds data or reads as zeros
// (Zero). It is the qcow2 package's type, so that a *qcow2.Image reports
// extents that Copy understands without pkg/qcow2 importing this package.
type Extent = qcow2.Extent

// Extenter is a virtual disk that can report its extents, as
// (*qcow2.Image).Extents does. Data extents may still hold zeros; zero
// extents never hold anything else.
type Extenter interface {
	Extents(off, length int64) ([]Extent, error)
}
