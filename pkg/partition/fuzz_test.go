package partition

import (
	"errors"
	"io"
	"testing"
)

// zeroTail is a disk of size bytes whose first len(data) bytes are data
// and the rest zeros.
type zeroTail struct {
	data []byte
	size int64
}

func (z zeroTail) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("zeroTail: negative offset")
	}
	if off >= z.size {
		return 0, io.EOF
	}
	n := len(p)
	if rest := z.size - off; int64(n) > rest {
		n = int(rest)
	}
	clear(p[:n])
	if off < int64(len(z.data)) {
		copy(p[:n], z.data[off:])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// FuzzRead feeds Read a disk of sectors×512 bytes (at least len(data))
// beginning with data. The committed seeds in testdata/fuzz/FuzzRead are
// the first sectors of the part-* fixtures (with their real sizes) and two
// whole tiny disks made with sfdisk (a 16 KiB MBR with two logical
// partitions, an 8 KiB GPT with a 4-entry array), trailing zeros trimmed.
//
// Read must not panic or hang, must return either a table whose
// partitions lie inside the disk or an error wrapping a package sentinel.
func FuzzRead(f *testing.F) {
	f.Add([]byte{}, uint32(0))
	f.Fuzz(func(t *testing.T, data []byte, sectors uint32) {
		size := max(int64(len(data)), int64(sectors%(1<<17))*512) // at most 64 MiB
		tab, err := Read(zeroTail{data, size}, size)
		if err != nil {
			for _, s := range []error{ErrInvalidGPT, ErrInvalidMBR, ErrInvalidEBR, ErrEBRLoop, ErrTooManyPartitions, ErrOutsideDisk} {
				if errors.Is(err, s) {
					return
				}
			}
			t.Fatalf("Read error wraps no sentinel: %v", err)
		}
		switch tab.Kind {
		case KindGPT, KindMBR, KindNone:
		default:
			t.Fatalf("kind %q", tab.Kind)
		}
		if tab.SectorSize != 512 && tab.SectorSize != 4096 {
			t.Fatalf("sector size %d", tab.SectorSize)
		}
		if len(tab.Partitions) > MaxPartitions+4 {
			t.Fatalf("%d partitions", len(tab.Partitions))
		}
		for _, p := range tab.Partitions {
			if p.Start <= 0 || p.Size <= 0 || p.End() > size {
				t.Fatalf("partition %+v outside the disk of %d bytes", p, size)
			}
			s := Section(zeroTail{data, size}, p)
			if _, err := s.ReadAt(make([]byte, 1), p.Size); err != io.EOF {
				t.Fatalf("section read past the end: %v", err)
			}
		}
	})
}

func (z zeroTail) WriteAt(p []byte, off int64) (int, error) {
	return 0, errors.New("zeroTail: read-only")
}
