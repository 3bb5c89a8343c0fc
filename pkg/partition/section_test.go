package partition

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"testing"

	"github.com/imgprep/imgprep/internal/oracle"
)

// memDisk is a writable in-memory disk.
type memDisk struct{ b []byte }

func (m *memDisk) ReadAt(p []byte, off int64) (int, error) {
	return bytesReaderAt(m.b).ReadAt(p, off)
}

func (m *memDisk) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(m.b)) {
		return 0, errors.New("memDisk: write out of range")
	}
	return copy(m.b[off:], p), nil
}

func TestSectionStaysInsideThePartition(t *testing.T) {
	disk := &memDisk{b: bytes.Repeat([]byte{0xAA}, 64)}
	copy(disk.b[16:32], "0123456789abcdef")
	s := Section(disk, Partition{Number: 1, Start: 16, Size: 16})
	if s.Size() != 16 || s.Offset() != 16 {
		t.Fatalf("Size, Offset = %d, %d", s.Size(), s.Offset())
	}
	for _, tc := range []struct {
		name    string
		off     int64
		n       int
		want    string
		wantErr error
	}{
		{"read inside", 2, 4, "2345", nil},
		{"read up to the end", 12, 4, "cdef", nil},
		{"read crossing the end returns the bytes before it and io.EOF", 14, 4, "ef", io.EOF},
		{"read at the end is io.EOF", 16, 1, "", io.EOF},
		{"read far past the end is io.EOF", 1 << 62, 1, "", io.EOF},
		{"read at a negative offset is refused", -1, 1, "", ErrOutsidePartition},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := make([]byte, tc.n)
			n, err := s.ReadAt(p, tc.off)
			if !errors.Is(err, tc.wantErr) || string(p[:n]) != tc.want {
				t.Fatalf("ReadAt(%d, %d) = %q, %v; want %q, %v", tc.n, tc.off, p[:n], err, tc.want, tc.wantErr)
			}
		})
	}
	for _, tc := range []struct {
		name string
		off  int64
		n    int
		ok   bool
	}{
		{"write inside", 0, 16, true},
		{"write crossing the end writes nothing", 10, 8, false},
		{"write at the end", 16, 1, false},
		{"write at a negative offset", -4, 8, false},
		{"write whose end overflows int64", 1<<63 - 2, 8, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := append([]byte(nil), disk.b...)
			n, err := s.WriteAt(bytes.Repeat([]byte{0x55}, tc.n), tc.off)
			if tc.ok {
				if err != nil || n != tc.n {
					t.Fatalf("WriteAt = %d, %v", n, err)
				}
				if !bytes.Equal(disk.b[:16], before[:16]) || !bytes.Equal(disk.b[32:], before[32:]) {
					t.Fatal("write inside the partition changed bytes outside it")
				}
				return
			}
			if !errors.Is(err, ErrOutsidePartition) || n != 0 {
				t.Fatalf("WriteAt = %d, %v; want 0, ErrOutsidePartition", n, err)
			}
			if !bytes.Equal(disk.b, before) {
				t.Fatal("refused write changed the disk")
			}
		})
	}
}

func TestSectionReadsTheFilesystemInsideTheGPTPartition(t *testing.T) {
	f, size := openFixture(t, "part-gpt.raw")
	tab, err := Read(f, size)
	if err != nil {
		t.Fatal(err)
	}
	root := Section(f, tab.Partitions[1])
	// ext4 superblock at byte 1024 of the partition: s_magic 0xEF53 at
	// offset 0x38, s_volume_name at 0x78.
	sb := make([]byte, 1024)
	if _, err := root.ReadAt(sb, 1024); err != nil {
		t.Fatal(err)
	}
	if m := binary.LittleEndian.Uint16(sb[0x38:]); m != 0xEF53 {
		t.Fatalf("s_magic = %#x", m)
	}
	if label := string(bytes.TrimRight(sb[0x78:0x88], "\x00")); label != "gptroot" {
		t.Fatalf("label = %q", label)
	}
	// A write through the section lands where debugfs finds it: set the
	// volume name and read it back with the oracle.
	if _, err := root.WriteAt([]byte("renamed\x00"), 1024+0x78); err != nil {
		t.Fatal(err)
	}
	// The superblock checksum (metadata_csum) must be fixed for debugfs
	// to accept it: crc32c of the first 0x3FC bytes.
	if _, err := root.ReadAt(sb, 1024); err != nil {
		t.Fatal(err)
	}
	binary.LittleEndian.PutUint32(sb[0x3FC:], crc32c(sb[:0x3FC]))
	if _, err := root.WriteAt(sb, 1024); err != nil {
		t.Fatal(err)
	}
	out := oracle.Debugfs(t, oracle.Device(f.Name(), root.Offset()), "stats -h")
	if !bytes.Contains([]byte(out), []byte("Filesystem volume name:   renamed")) {
		t.Fatalf("debugfs stats does not show the new volume name:\n%s", out)
	}
	oracle.E2fsckClean(t, oracle.Device(f.Name(), root.Offset()))
}

// crc32c is the kernel's crc32c(~0, b) as ext4 stores it.
func crc32c(b []byte) uint32 {
	return ^crc32.Update(^uint32(0xFFFFFFFF), crc32.MakeTable(crc32.Castagnoli), b)
}
