package clone

import (
	"errors"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// sparseBlock is the unit in which sparsify looks for zeros: the page
// and usual filesystem block size.
const sparseBlock = 4096

// sparsify punches holes where the new file at path holds all-zero
// blocks, so that a full clone's file allocates no more than its data and
// the metadata it uses (a fresh qcow2 writes whole table clusters, mostly
// zeros; qemu-img leaves those sparse). Only the file's data regions
// (SEEK_DATA/SEEK_HOLE) are read. A filesystem that cannot punch holes
// leaves the file as it is: it is correct either way.
func sparsify(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	buf := make([]byte, 1<<20)
	for off := int64(0); off < size; {
		data, err := f.Seek(off, unix.SEEK_DATA)
		if err != nil {
			if errors.Is(err, unix.ENXIO) {
				return nil // only a hole is left
			}
			return nil // no SEEK_DATA here: leave the file as it is
		}
		hole, err := f.Seek(data, unix.SEEK_HOLE)
		if err != nil {
			return nil
		}
		for pos := data; pos < hole; {
			n := min(int64(len(buf)), hole-pos)
			if _, err := f.ReadAt(buf[:n], pos); err != nil && !errors.Is(err, io.EOF) {
				return err
			}
			if err := punchZeros(f, buf[:n], pos); err != nil {
				return nil // punching unsupported: keep the file as it is
			}
			pos += n
		}
		off = hole
	}
	// No sync: punching holes over zeros changes no byte of the file.
	return nil
}

// punchZeros punches a hole over each run of all-zero blocks of p (read
// at off).
func punchZeros(f *os.File, p []byte, off int64) error {
	start := int64(-1)
	flush := func(end int64) error {
		if start < 0 {
			return nil
		}
		err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off+start, end-start)
		start = -1
		return err
	}
	for i := int64(0); i < int64(len(p)); i += sparseBlock {
		end := min(i+sparseBlock, int64(len(p)))
		if end-i == sparseBlock && allZero(p[i:end]) {
			if start < 0 {
				start = i
			}
			continue
		}
		if err := flush(i); err != nil {
			return err
		}
	}
	return flush(int64(len(p)))
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
