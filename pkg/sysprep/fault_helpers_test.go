package sysprep_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/image"
	"github.com/imgprep/imgprep/pkg/ops"
	"github.com/imgprep/imgprep/pkg/ops/catalog"
	"github.com/imgprep/imgprep/pkg/sysprep"
	"github.com/imgprep/imgprep/pkg/txn"
)

// faultClock is the clock of every run in the fault tests, so that two
// runs that both complete write the same bytes.
func faultClock() time.Time { return time.Unix(1700000000, 0).UTC() }

// pristine is a fixture image held in memory, to be laid down afresh
// (sparse) for each run.
type pristine struct {
	name  string
	data  []byte
	extFS []int64 // byte offsets of the ext filesystems on the virtual disk
}

// loadPristine reads fixture name and finds its ext filesystems.
func loadPristine(tb testing.TB, name string) *pristine {
	tb.Helper()
	p := fixture.Path(tb, name)
	data, err := os.ReadFile(p)
	if err != nil {
		tb.Fatal(err)
	}
	in, err := sysprep.Inspect(context.Background(), p, sysprep.Options{})
	if err != nil {
		tb.Fatalf("inspecting %s: %v", name, err)
	}
	pr := &pristine{name: name, data: data}
	for _, f := range in.Info.Filesystems {
		if strings.HasPrefix(f.Type, "ext") {
			pr.extFS = append(pr.extFS, f.Offset)
		}
	}
	if len(pr.extFS) < 2 {
		tb.Fatalf("%s: want root and /var on ext filesystems, found %+v", name, in.Info.Filesystems)
	}
	return pr
}

// layDown writes the pristine image to a new file in dir, sparse, and
// returns its path.
func (p *pristine) layDown(tb testing.TB, dir string) string {
	tb.Helper()
	path := filepath.Join(dir, p.name)
	writeSparse(tb, path, p.data)
	return path
}

// writeSparse writes data to path, leaving all-zero 64 KiB chunks as
// holes.
func writeSparse(tb testing.TB, path string, data []byte) {
	tb.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	const chunk = 64 << 10
	zero := make([]byte, chunk)
	for off := 0; off < len(data); off += chunk {
		b := data[off:min(off+chunk, len(data))]
		if bytes.Equal(b, zero[:len(b)]) {
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

// readImage returns the bytes of the image file at path.
func readImage(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// sameImage reports whether the file at path holds exactly want. It reads
// only the file's data extents (SEEK_DATA/SEEK_HOLE) and checks that want
// is zero in its holes: reading the holes of a sparse 64 MiB image costs
// far more here than the whole run.
func sameImage(tb testing.TB, path string, want []byte) bool {
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
	var pos int64
	for pos < size {
		data, err := f.Seek(pos, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			data = size
		} else if err != nil {
			tb.Fatal(err)
		}
		if !allZero(want[pos:data]) {
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

func allZero(b []byte) bool {
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

// defaultOps is the default operation set, as `imgprep sysprep` runs it.
func defaultOps() []ops.Operation { return catalog.Defaults(catalog.All(catalog.Config{})) }

// runWith runs a full default sysprep of path on the real Stack with inj
// under the image file and its journal.
func runWith(path string, inj *image.Injection) (*sysprep.Report, error) {
	return sysprep.Run(context.Background(), path, sysprep.Options{
		Operations: defaultOps(),
		Backend:    sysprep.Stack{Now: faultClock, Inject: inj},
		Now:        faultClock,
	})
}

// judgeAfter runs the oracles on an image that holds a completed run:
// qemu-img check free of errors, leaks included (qcow2), e2fsck -fn clean on
// every ext filesystem, and qemu-img compare equal to the clean run's
// result ref.
func judgeAfter(tb testing.TB, p *pristine, path, ref string) {
	tb.Helper()
	oracle.QemuImgCompare(tb, path, ref)
	raw := path
	if strings.HasSuffix(path, ".qcow2") {
		oracle.QemuImgCheck(tb, path, false) // raw has nothing to check
		raw = filepath.Join(tb.TempDir(), "judge.raw")
		oracle.QemuImgConvertRaw(tb, path, raw)
	}
	for _, off := range p.extFS {
		oracle.E2fsckClean(tb, oracle.Device(raw, off))
	}
}

// journalLeft reports whether the image at path has a journal beside it.
func journalLeft(tb testing.TB, path string) bool {
	tb.Helper()
	_, err := os.Lstat(txn.JournalPathFor(path))
	if err == nil {
		return true
	}
	if !os.IsNotExist(err) {
		tb.Fatal(err)
	}
	return false
}
