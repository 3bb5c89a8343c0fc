package sysprep_test

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/killtest"
	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/image"
	"github.com/imgprep/imgprep/pkg/ops"
	"github.com/imgprep/imgprep/pkg/ops/catalog"
	"github.com/imgprep/imgprep/pkg/ops/lvmuuids"
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

// dirtyFixture names the GPT fixture with an unreplayed transaction in
// its root's journal (oracle.DirtyJournal rewriting /etc/hostname), made
// when loaded: a run replays it into its transaction, so a crash during
// the replay is one of the matrix's crash points.
const dirtyFixture = "disk-gpt-dirty.raw"

// loadPristine reads fixture name and finds its ext filesystems.
func loadPristine(tb testing.TB, name string) *pristine {
	tb.Helper()
	var p string
	if name == dirtyFixture {
		p = fixture.Path(tb, "disk-gpt.raw")
		oracle.DirtyJournal(tb, p, oracle.Partitions(tb, p)[2].Start, "/etc/hostname", []byte("replayed\n"))
	} else {
		p = fixture.Path(tb, name)
	}
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
		switch {
		case !strings.HasPrefix(f.Type, "ext"):
		case strings.Contains(f.Desc, " on LV "):
			pr.extFS = append(pr.extFS, lvOffset(tb, p, in.Info, strings.TrimPrefix(f.Desc[strings.Index(f.Desc, " on LV "):], " on LV ")))
		default:
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
	killtest.WriteSparse(tb, path, p.data)
	return path
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

// sameImage reports whether the file at path holds exactly want.
func sameImage(tb testing.TB, path string, want []byte) bool {
	tb.Helper()
	return killtest.SameFile(tb, path, want)
}

// defaultOps is the default operation set, as `imgprep sysprep` runs it.
// lvm-uuids draws its UUIDs from a fixed seed, so that two complete runs
// write the same bytes.
func defaultOps() []ops.Operation {
	list := catalog.Defaults(catalog.All(catalog.Config{}))
	for i, op := range list {
		if op.Name() == lvmuuids.Name {
			list[i] = lvmuuids.New(rand.NewChaCha8([32]byte{'i', 'm', 'g', 'p', 'r', 'e', 'p'}))
		}
	}
	return list
}

// opener opens an image for the Stack (Stack.OpenImage); nil: image.Open.
type opener = func(path string, opts image.OpenOptions) (*image.Handle, error)

// runWith runs a full default sysprep of path on the real Stack, each
// image opened by open (test doubles under the image file and its
// journal) or, when nil, by image.Open.
func runWith(path string, open opener) (*sysprep.Report, error) {
	return sysprep.Run(context.Background(), path, sysprep.Options{
		Operations: defaultOps(),
		Backend:    sysprep.Stack{Now: faultClock, OpenImage: open},
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

// lvOffset returns the byte offset on the raw image p of the linear LV
// "VG/LV" in one piece, as lvm2's tools read it from loop devices over
// the image's LVM2 partitions.
func lvOffset(tb testing.TB, p string, info sysprep.ImageInfo, name string) int64 {
	tb.Helper()
	vg, lv, _ := strings.Cut(name, "/")
	var devs []string
	starts := map[string]int64{}
	for _, f := range info.Filesystems {
		if f.Type != "LVM2_member" || f.Partition == 0 {
			continue
		}
		part := oracle.Partitions(tb, p)[f.Partition]
		dev := oracle.Loop(tb, p, part.Start, part.Size, true)
		devs = append(devs, dev)
		starts[dev] = part.Start
	}
	pieces := oracle.LVPieces(tb, devs, vg, lv)
	if len(pieces) != 1 {
		tb.Fatalf("LV %s in %d pieces", name, len(pieces))
	}
	return starts[pieces[0].Dev] + pieces[0].Offset
}
