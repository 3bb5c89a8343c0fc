package image

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/imgprep/imgprep/internal/oracle"
)

// qemuImg runs qemu-img and ends the test on failure.
func qemuImg(tb testing.TB, args ...string) string {
	tb.Helper()
	out, errOut, code := oracle.Run(tb, "qemu-img", args...)
	if code != 0 {
		tb.Fatalf("qemu-img %v: exit %d: %s%s", args, code, out, errOut)
	}
	return out
}

// sha256File returns the hex sha256 of the file at path.
func sha256File(tb testing.TB, path string) string {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		tb.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// patternFile writes a file of size bytes at path whose every 512-byte
// sector starts with its sector number and a tag, so that misplaced reads
// show.
func patternFile(tb testing.TB, path string, size int64, tag string) {
	tb.Helper()
	b := make([]byte, size)
	for off := int64(0); off+512 <= size; off += 512 {
		binary.BigEndian.PutUint64(b[off:], uint64(off/512))
		copy(b[off+8:], tag)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		tb.Fatal(err)
	}
}

// readAll reads the whole virtual disk of h.
func readAll(tb testing.TB, h *Handle) []byte {
	tb.Helper()
	b := make([]byte, h.Size())
	if _, err := h.ReadAt(b, 0); err != nil && err != io.EOF {
		tb.Fatal(err)
	}
	return b
}

// qemuRaw returns the virtual disk of the image at path as qemu-img
// convert -O raw reads it.
func qemuRaw(tb testing.TB, path string) []byte {
	tb.Helper()
	dst := filepath.Join(tb.TempDir(), "oracle.raw")
	oracle.QemuImgConvertRaw(tb, path, dst)
	b, err := os.ReadFile(dst)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// write is one write to a virtual disk.
type write struct {
	off  int64
	data []byte
}

// someWrites are writes of assorted sizes and alignments inside a disk of
// size bytes (at least 1 MiB): sector-aligned, unaligned, across a 64 KiB
// cluster boundary, and at the very end.
func someWrites(size int64) []write {
	return []write{
		{0, bytes.Repeat([]byte{0xA1}, 512)},
		{4097, []byte("unaligned write")},
		{65536 - 100, bytes.Repeat([]byte{0xB2}, 300)},
		{size / 2, bytes.Repeat([]byte{0xC3}, 70000)},
		{size - 7, []byte("the end")},
	}
}

func apply(b []byte, ws []write) {
	for _, w := range ws {
		copy(b[w.off:], w.data)
	}
}
