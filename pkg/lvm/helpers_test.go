package lvm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/pkg/partition"
)

// fixturePV is a PV of a fixture disk, with where it lies in the file.
type fixturePV struct {
	pv          *PV
	path        string
	start, size int64
}

// openPVs copies the named fixture disks into one temporary directory and
// reads every PV on them (partitions, or the whole partitionless disk).
func openPVs(t *testing.T, names ...string) []fixturePV {
	t.Helper()
	dir := t.TempDir()
	var out []fixturePV
	for _, name := range names {
		path := fixture.PathIn(t, name, dir)
		f, size := fixture.Open(t, path, os.O_RDWR)
		table, err := partition.Read(f, size)
		if err != nil {
			t.Fatal(err)
		}
		parts := table.Partitions
		if table.Kind == partition.KindNone {
			parts = []partition.Partition{{Number: 0, Start: 0, Size: size}}
		}
		for _, p := range parts {
			sec := partition.Section(f, p)
			pv, err := ReadPV(sec, sec.Size(), fmt.Sprintf("partition %d of %s", p.Number, filepath.Base(path)))
			if errors.Is(err, ErrNoLabel) {
				continue
			}
			if err != nil {
				t.Fatalf("%s partition %d: %v", name, p.Number, err)
			}
			out = append(out, fixturePV{pv, path, p.Start, p.Size})
		}
	}
	return out
}

func pvsOf(fps []fixturePV) []*PV {
	var out []*PV
	for _, f := range fps {
		out = append(out, f.pv)
	}
	return out
}

// assemble assembles the PVs and fails the test on any problem.
func assemble(t *testing.T, fps []fixturePV) []*VG {
	t.Helper()
	vgs, problems := Assemble(pvsOf(fps))
	for _, p := range problems {
		t.Errorf("problem: %v", p)
	}
	return vgs
}

// ext4Head reads the ext4 superblock's magic and UUID through r.
func ext4Head(t *testing.T, r interface {
	ReadAt([]byte, int64) (int, error)
}) (uint16, [16]byte) {
	t.Helper()
	sb := make([]byte, 1024)
	if _, err := r.ReadAt(sb, 1024); err != nil {
		t.Fatal(err)
	}
	var u [16]byte
	copy(u[:], sb[0x68:])
	return binary.LittleEndian.Uint16(sb[0x38:]), u
}

// uuidBytes parses a canonical UUID.
func uuidBytes(t *testing.T, s string) [16]byte {
	t.Helper()
	var u [16]byte
	hex := []byte{}
	for i := 0; i < len(s); i++ {
		if s[i] != '-' {
			hex = append(hex, s[i])
		}
	}
	if len(hex) != 32 {
		t.Fatalf("bad uuid %q", s)
	}
	for i := range u {
		fmt.Sscanf(string(hex[2*i:2*i+2]), "%02x", &u[i])
	}
	return u
}
