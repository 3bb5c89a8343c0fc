package guest

import (
	"os"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
)

// fileDisk is a raw image file as a Disk.
type fileDisk struct {
	*os.File
	size int64
}

func (d fileDisk) Size() int64 { return d.size }

// openRaw opens a private copy of the raw fixture name, for writing when
// writable, and closes it when the test ends. It returns the disk and the
// copy's path (for the oracles).
func openRaw(tb testing.TB, name string, writable bool) (fileDisk, string) {
	tb.Helper()
	p := fixture.Path(tb, name)
	flag := os.O_RDONLY
	if writable {
		flag = os.O_RDWR
	}
	f, size := fixture.Open(tb, p, flag)
	return fileDisk{File: f, size: size}, p
}

// scanGuest scans a raw fixture and returns its only guest.
func scanGuest(tb testing.TB, name string, writable bool) (*Guest, *Layout, string) {
	tb.Helper()
	d, p := openRaw(tb, name, writable)
	l, err := Scan(d, Options{Name: name, Writable: writable})
	if err != nil {
		tb.Fatalf("Scan %s: %v", name, err)
	}
	gs, err := l.Guests()
	if err != nil {
		tb.Fatalf("Guests %s: %v", name, err)
	}
	if len(gs) != 1 {
		tb.Fatalf("%s: %d guests, want 1", name, len(gs))
	}
	return gs[0], l, p
}

// fsAt returns the filesystem of l on partition n.
func fsAt(tb testing.TB, l *Layout, n int) *Filesystem {
	tb.Helper()
	for _, f := range l.Filesystems {
		if f.Partition == n {
			return f
		}
	}
	tb.Fatalf("no filesystem on partition %d", n)
	return nil
}
