package killtest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// chunk is the granularity of the holes WriteSparse leaves.
const chunk = 64 << 10

// WriteSparse writes data to a new file at path (replacing one there),
// leaving every all-zero 64 KiB chunk as a hole.
func WriteSparse(tb testing.TB, path string, data []byte) {
	tb.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	for off := 0; off < len(data); off += chunk {
		b := data[off:min(off+chunk, len(data))]
		if AllZero(b) {
			continue
		}
		if _, err := f.WriteAt(b, int64(off)); err != nil {
			tb.Fatal(err)
		}
	}
	if err := f.Truncate(int64(len(data))); err != nil {
		tb.Fatal(err)
	}
}

// SameFile reports whether the file at path holds exactly want. It reads
// only the file's data extents (lseek SEEK_DATA/SEEK_HOLE) and checks
// that want is zero in its holes.
func SameFile(tb testing.TB, path string, want []byte) bool {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		tb.Fatal(err)
	}
	size := st.Size()
	if size != int64(len(want)) {
		return false
	}
	for pos := int64(0); pos < size; {
		data, err := f.Seek(pos, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			data = size
		} else if err != nil {
			tb.Fatal(err)
		}
		if !AllZero(want[pos:data]) {
			return false
		}
		if data == size {
			break
		}
		hole, err := f.Seek(data, unix.SEEK_HOLE)
		if err != nil {
			tb.Fatal(err)
		}
		got := make([]byte, hole-data)
		if _, err := f.ReadAt(got, data); err != nil {
			tb.Fatal(err)
		}
		if !bytes.Equal(got, want[data:hole]) {
			return false
		}
		pos = hole
	}
	return true
}

// AllZero reports whether every byte of b is zero.
func AllZero(b []byte) bool {
	for len(b) >= 8 {
		if binary.NativeEndian.Uint64(b) != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
