package qcow2_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/imgprep/imgprep/internal/faultfile"
	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/qcow2"
)

// faultCase is one recorded write sequence: WriteAt calls, then Flush and
// Close, against a fixture.
type faultCase struct {
	name   string
	fx     chainFixture
	writes []guestWrite
	// grows: the sequence must allocate a new L2 table and a new
	// refcount block (checked on the uncrashed result).
	grows bool
	// create: qemu-img create arguments (before the path) that make the
	// image at test time instead of a committed fixture named fx.name.
	create []string
	// growsTable: the sequence must move the refcount table (a new, bigger
	// table and the 12-byte header switch at offset 48).
	growsTable bool
	// long: the sequence has hundreds of ops (one per refcount block).
	// Unless IMGPREP_LONG=1 (make test-long), only the ordered-disk model
	// runs, at every 6th crash point and each of the last 30, where the
	// commit happens.
	long bool
}

func pat(off int64, n int, seed byte) guestWrite {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed ^ byte(i*13)
	}
	if b[0] == 0 {
		b[0] = seed | 1
	}
	return guestWrite{off: off, data: b}
}

const (
	kib = 1 << 10
	mib = 1 << 20
)

var faultCases = []faultCase{
	{
		name: "data, refcount increase and L2 entry are one commit: v3, writes across cluster boundaries",
		fx:   chainFixture{name: "qcow2-v3.qcow2"},
		writes: []guestWrite{
			pat(64*kib-100, 200, 0x11), // end of data cluster 0 into unallocated cluster 1
			pat(1*mib, 70*kib, 0x12),   // a data cluster and the unallocated one after it
			pat(3*mib-8*kib-10, 20*kib, 0x13),
			pat(4*mib-512, 512, 0x14), // the last sector
		},
	},
	{
		name: "a partial write to a compressed cluster copies it decompressed: deflate",
		fx:   chainFixture{name: "qcow2-deflate.qcow2"},
		writes: []guestWrite{
			pat(100, 50, 0x21),
			pat(192*kib+5, 10, 0x22),
			pat(2*mib+60*kib, 10*kib, 0x23), // compressed cluster holding random bytes
			pat(1*mib+64*kib+7, 3, 0x24),    // the uncompressed cluster
		},
	},
	{
		name: "a partial write to a backed cluster copies it from the backing file: chain top",
		fx:   chainFixture{name: "qcow2-chain-top.qcow2", members: []string{"qcow2-chain-base.qcow2", "qcow2-chain-mid.qcow2"}},
		writes: []guestWrite{
			pat(300*kib, 100, 0x31),      // mid's data over base's
			pat(3*mib+10, 10, 0x32),      // mid's zero cluster over base's data
			pat(200*kib, 4*kib, 0x33),    // base only
			pat(4*mib+100*kib, 10, 0x34), // past the backing file's end
		},
	},
	{
		name: "a write beside subclusters that still come from the backing file: extended L2",
		fx:   chainFixture{name: "qcow2-extl2-top.qcow2", members: []string{"qcow2-chain-base.qcow2"}},
		writes: []guestWrite{
			pat(1*kib, 2*kib, 0x61),      // subclusters 0 (backed) and 1 (allocated)
			pat(210*kib, 10*kib, 0x62),   // across the zeroed subclusters at 220K
			pat(64*kib+3*kib, 100, 0x63), // a cluster wholly backed
		},
	},
	{
		name:  "a write needing a new L2 table and a new refcount block: 512-byte clusters",
		fx:    chainFixture{name: "qcow2-c512.qcow2"},
		grows: true,
		writes: []guestWrite{
			pat(1536*kib+300, 130*kib, 0x41),
			pat(3584*kib, 10*kib, 0x42),
		},
	},
	{
		name:       "a write outgrowing the refcount table moves it: 512-byte clusters, 64-bit refcounts",
		fx:         chainFixture{name: "grow-rt.qcow2"},
		create:     []string{"-f", "qcow2", "-o", "cluster_size=512,refcount_bits=64"},
		grows:      true,
		growsTable: true,
		long:       true,
		writes: []guestWrite{
			pat(0, 1*mib, 0x51),
			pat(2*mib+100, 1*mib+300*kib, 0x52),
		},
	},
}

// TestCrashAtEveryOpLeavesOldOrNewImage: QEMU's ordering for crash safety
// (data, then refcount increase, then L2 entry, then the L1 switch; free
// after dereferencing). The sequence is recorded once to count its ops N,
// then replayed for every k in 0..N with a power loss at op k: the persisted
// file must pass qemu-img check (exit 0, or 3 for leaked clusters only,
// never 2 for corruption) and read, through qemu-img, either entirely as
// before the sequence or entirely as after it.
func TestCrashAtEveryOpLeavesOldOrNewImage(t *testing.T) {
	oracle.Require(t, "qemu-img")
	for _, tc := range faultCases {
		for mi, mode := range faultModes {
			if tc.long && mi > 0 && !longTests() {
				continue
			}
			t.Run(tc.name+"/"+mode.name, func(t *testing.T) {
				testCrashes(t, tc, mode)
			})
		}
	}
}

// faultMode is a model of what a power loss keeps.
type faultMode struct {
	name  string
	setup func(d *faultfile.Disk)
	// ordered: every op before the crash persisted, so the image can
	// only switch once from old to new as the crash point moves on.
	ordered bool
}

var faultModes = []faultMode{
	{name: "ordered disk, every op before the crash persists", setup: func(*faultfile.Disk) {}, ordered: true},
	{name: "torn write, the crashing write keeps its first sector", setup: func(d *faultfile.Disk) { d.TornWrite(512) }, ordered: true},
	{name: "volatile cache, no write after the last sync survives", setup: func(d *faultfile.Disk) { d.LoseUnsynced(nil) }},
	{name: "volatile cache, every other unsynced write survives", setup: func(d *faultfile.Disk) { d.LoseUnsynced(func(i int) bool { return i%2 == 0 }) }},
	{name: "volatile cache, the odd unsynced writes survive", setup: func(d *faultfile.Disk) { d.LoseUnsynced(func(i int) bool { return i%2 == 1 }) }},
}

func testCrashes(t *testing.T, tc faultCase, mode faultMode) {
	t.Parallel()
	dir := t.TempDir()
	var path string
	var members []string
	if tc.create != nil {
		path = filepath.Join(dir, tc.fx.name)
		qemuImgOK(t, append(append([]string{"create", "-q"}, tc.create...), path, "4M")...)
	} else {
		path, members = tc.fx.place(t, dir)
	}
	sums := map[string]string{}
	for _, m := range members {
		sums[m] = fileSum(t, m)
	}
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	before := qemuRaw(t, path)
	after := bytes.Clone(before)
	for _, w := range tc.writes {
		copy(after[w.off:], w.data)
	}

	final, n := runFaultSequence(t, dir, tc, orig, -1, mode)
	if n == 0 {
		t.Fatal("the sequence made no ops")
	}
	if tc.growsTable && binary.BigEndian.Uint64(orig[48:]) == binary.BigEndian.Uint64(final[48:]) {
		t.Fatalf("the sequence was to move the refcount table; it stayed at %#x", binary.BigEndian.Uint64(orig[48:]))
	}
	if tc.grows {
		l1a, rta := countTables(t, orig)
		l1b, rtb := countTables(t, final)
		if l1b <= l1a || rtb <= rta {
			t.Fatalf("the sequence was to allocate a new L2 table and refcount block: "+
				"L1 entries in use %d -> %d, refcount table entries %d -> %d", l1a, l1b, rta, rtb)
		}
	}
	jd := newJudge(t, filepath.Join(dir, "crash.qcow2"), before, after)
	var sawBefore, sawAfter, leaks, tried int
	for k := 0; k <= n; k++ {
		if tc.long && !longTests() && k%6 != 0 && k < n-30 {
			continue
		}
		tried++
		persisted, _ := runFaultSequence(t, dir, tc, orig, k, mode)
		v := jd.of(persisted)
		switch v.code {
		case 0:
		case 3:
			leaks++
		default:
			t.Fatalf("crash at op %d of %d: qemu-img check exit %d\n%s", k, n, v.code, v.out)
		}
		switch v.state {
		case stateAfter:
			sawAfter++
		case stateBefore:
			if sawAfter > 0 && mode.ordered {
				t.Fatalf("crash at op %d of %d reads as before, an earlier crash point read as after", k, n)
			}
			sawBefore++
		default:
			t.Fatalf("crash at op %d of %d: the disk is neither the old nor the new one "+
				"(differs from new at %d, from old at %d)", k, n, v.diffNew, v.diffOld)
		}
	}
	if sawBefore == 0 || sawAfter == 0 {
		t.Fatalf("crash points: %d read as before, %d as after; both must occur", sawBefore, sawAfter)
	}
	t.Logf("%d ops, %d crash points tried (%d distinct files judged): %d old, %d new, %d with leaked clusters (exit 3)",
		n, tried, len(jd.seen), sawBefore, sawAfter, leaks)
	for m, sum := range sums {
		if got := fileSum(t, m); got != sum {
			t.Errorf("backing file %s changed", filepath.Base(m))
		}
	}
}

// runFaultSequence runs tc's writes, Flush and Close over an in-memory
// copy of orig whose ops are numbered by a faultfile.Disk crashing at
// crashAt (< 0: never) under mode, and returns what persisted and the number of ops.
// Backing files are opened read-only from dir, outside the Disk.
func runFaultSequence(tb testing.TB, dir string, tc faultCase, orig []byte, crashAt int, mode faultMode) ([]byte, int) {
	tb.Helper()
	mem := faultfile.NewMem(orig)
	disk := faultfile.NewDisk(crashAt)
	mode.setup(disk)
	img, err := qcow2.OpenFile(disk.Wrap(mem), qcow2.Options{
		Name: tc.fx.name, Backing: newResolver(tb, dir, 16).open,
	})
	if err != nil {
		tb.Fatalf("OpenFile (crash at %d): %v", crashAt, err)
	}
	for i, w := range tc.writes {
		if _, err := img.WriteAt(w.data, w.off); err != nil {
			tb.Fatalf("write %d (crash at %d): %v", i, crashAt, err)
		}
	}
	if err := img.Flush(); err != nil {
		tb.Fatalf("Flush (crash at %d): %v", crashAt, err)
	}
	if err := img.Close(); err != nil {
		tb.Fatalf("Close (crash at %d): %v", crashAt, err)
	}
	return mem.Bytes(), disk.Ops()
}

// countTables returns how many L1 entries point at an L2 table and how many
// refcount table entries point at a refcount block, read straight from the
// header (qcow2.rst: l1_size at 36, l1_table_offset at 40,
// refcount_table_offset at 48, refcount_table_clusters at 56, big-endian).
func countTables(tb testing.TB, b []byte) (l1Used, rtUsed int) {
	tb.Helper()
	be := binary.BigEndian
	clusterSize := int64(1) << be.Uint32(b[20:])
	l1Size := int64(be.Uint32(b[36:]))
	l1Off := int64(be.Uint64(b[40:]))
	rtOff := int64(be.Uint64(b[48:]))
	rtLen := int64(be.Uint32(b[56:])) * clusterSize
	if l1Off+l1Size*8 > int64(len(b)) || rtOff+rtLen > int64(len(b)) {
		tb.Fatalf("tables past the end of a %d-byte image", len(b))
	}
	for i := range l1Size {
		if be.Uint64(b[l1Off+8*i:])&0x00fffffffffffe00 != 0 {
			l1Used++
		}
	}
	for i := int64(0); i < rtLen; i += 8 {
		if be.Uint64(b[rtOff+i:]) != 0 {
			rtUsed++
		}
	}
	return l1Used, rtUsed
}

// longTests reports whether the long variants run (IMGPREP_LONG=1, as make
// test-long sets it).
func longTests() bool { return os.Getenv("IMGPREP_LONG") == "1" }

// The states a judged image can be in.
const (
	stateNeither = iota
	stateBefore
	stateAfter
)

// verdict is what qemu-img says about one image file.
type verdict struct {
	code             int    // qemu-img check's exit code
	out              string // its output
	state            int    // stateBefore, stateAfter or stateNeither
	diffOld, diffNew int    // first differing byte, for stateNeither
}

// judge runs qemu-img check and convert -O raw on image contents, once per
// distinct content (many crash points persist the same bytes), and says
// whether the disk reads as before or after the sequence.
type judge struct {
	tb            testing.TB
	path          string // where the contents are written for qemu-img
	before, after []byte
	seen          map[[32]byte]verdict
}

func newJudge(tb testing.TB, path string, before, after []byte) *judge {
	return &judge{tb: tb, path: path, before: before, after: after, seen: map[[32]byte]verdict{}}
}

func (j *judge) of(img []byte) verdict {
	j.tb.Helper()
	key := sha256.Sum256(img)
	if v, ok := j.seen[key]; ok {
		return v
	}
	if err := os.WriteFile(j.path, img, 0o644); err != nil {
		j.tb.Fatal(err)
	}
	out, errOut, code := oracle.Run(j.tb, "qemu-img", "check", "-U", j.path)
	v := verdict{code: code, out: out + errOut}
	if code == 0 || code == 3 {
		switch got := qemuRaw(j.tb, j.path); {
		case bytes.Equal(got, j.after):
			v.state = stateAfter
		case bytes.Equal(got, j.before):
			v.state = stateBefore
		default:
			v.diffOld, v.diffNew = firstDiff(got, j.before), firstDiff(got, j.after)
		}
	}
	j.seen[key] = v
	return v
}
