package ext4_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/pkg/fs/ext4"
)

// commonFixtures hold the common source tree of testdata/images/gen.d/
// ext4.sh on every flavour.
func commonFixtures() []string {
	return []string{
		"ext2.img", "ext3-1k.img", "ext4-default.img", "ext4-1k.img",
		"ext4-orphan-seed.img", "ext4-nocsum.img", "ext4-no64bit.img", "ext4-inline.img",
		"ext3-128.img", "ext4-metabg.img",
	}
}

// specialFixtures each exercise one structure.
func specialFixtures() []string {
	return []string{"ext4-htree.img", "ext4-fragmented.img", "ext4-links-xattr.img", "ext4-bench.img"}
}

// fixtureUUID is the UUID gen.d/ext4.sh gives every image.
const fixtureUUID = "6f1c2c4e-2d0a-4b7e-9a51-0e5d2b7f4a01"

// now is the clock handed to OpenWritable, so every time the engine
// stamps can be asserted.
var now = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// openRead opens the image at path read-only with ext4.Open.
func openRead(tb testing.TB, path string) *ext4.FS {
	tb.Helper()
	f, size := fixture.Open(tb, path, os.O_RDONLY)
	fsys, err := ext4.Open(f, size)
	if err != nil {
		tb.Fatalf("ext4.Open(%s): %v", path, err)
	}
	return fsys
}

// openWrite opens the image at path with ext4.OpenWritable and the fixed
// clock. The returned close function syncs the filesystem and closes the
// file.
func openWrite(tb testing.TB, path string) (*ext4.FS, func()) {
	tb.Helper()
	return openWriteAt(tb, path, now)
}

// openWriteAt is openWrite with the clock fixed at clock.
func openWriteAt(tb testing.TB, path string, clock time.Time) (*ext4.FS, func()) {
	tb.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		tb.Fatal(err)
	}
	st, err := f.Stat()
	if err != nil {
		tb.Fatal(err)
	}
	fsys, err := ext4.OpenWritable(f, st.Size(), ext4.Options{Name: path, Now: func() time.Time { return clock }})
	if err != nil {
		f.Close()
		tb.Fatalf("ext4.OpenWritable(%s): %v", path, err)
	}
	return fsys, func() {
		tb.Helper()
		if err := fsys.Sync(); err != nil {
			tb.Errorf("Sync: %v", err)
		}
		if err := f.Close(); err != nil {
			tb.Error(err)
		}
	}
}

// fileSHA returns the hex sha256 of the file at path on the host.
func fileSHA(tb testing.TB, path string) string {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func shaOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// gen is gen.d/ext4.sh's gen: n bytes of 8-byte numbered records
// ("0000001\n0000002\n...").
func gen(n int) []byte {
	b := make([]byte, 0, n+8)
	for i := 1; len(b) < n; i++ {
		b = appendRecord(b, i)
	}
	return b[:n]
}

func appendRecord(b []byte, i int) []byte {
	var d [8]byte
	d[7] = '\n'
	for k := 6; k >= 0; k-- {
		d[k] = byte('0' + i%10)
		i /= 10
	}
	return append(b, d[:]...)
}
