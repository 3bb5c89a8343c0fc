package qcow2

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/imgprep/imgprep/internal/oracle"
)

// countingHost counts the bytes read from the image file.
type countingHost struct {
	hostFile
	read *atomic.Int64
}

func (c countingHost) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.hostFile.ReadAt(p, off)
	c.read.Add(int64(n))
	return n, err
}

// leakedPastEOF makes a qcow2 (2 MiB clusters, 1-bit refcounts, as qemu-img
// creates it) whose refcounts mark every cluster from the end of the file
// to 320 TiB as used: the first refcount block's entries past the end are
// set, and nine more blocks of all-ones, appended and counted, cover the
// rest. qemu-img check calls that leaked clusters only. It returns the
// path, the file size before the leaks' blocks were appended, and the
// number of those blocks.
func leakedPastEOF(tb testing.TB) (string, int64, int) {
	tb.Helper()
	const cluster = 2 << 20
	path := filepath.Join(tb.TempDir(), "leaky.qcow2")
	qemuImg(tb, "create", "-q", "-f", "qcow2", "-o", "cluster_size=2M,refcount_bits=1", path, "4G")
	qemuIO(tb, path, "write -P 0xab 0 4M")
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	be := binary.BigEndian
	if be.Uint32(b[20:]) != 21 || be.Uint32(b[96:]) != 0 {
		tb.Fatalf("cluster bits %d, refcount order %d", be.Uint32(b[20:]), be.Uint32(b[96:]))
	}
	size := int64(len(b))
	if size%cluster != 0 {
		b = append(b, make([]byte, cluster-size%cluster)...)
	}
	first := int64(len(b)) / cluster // first cluster past the end
	table := int64(be.Uint64(b[48:]))
	block0 := int64(be.Uint64(b[table:]))
	const blocks = 9 // 10 blocks of 2 MiB * 8 entries of 2 MiB clusters: 320 TiB
	ones := bytes.Repeat([]byte{0xff}, cluster)
	for i := 0; i < blocks; i++ {
		be.PutUint64(b[table+8*int64(i+1):], uint64(first+int64(i))*cluster)
		b = append(b, ones...)
	}
	rb := b[block0 : block0+cluster]
	for c := first; c < cluster*8; c++ {
		rb[c/8] |= 1 << (c % 8) // the new blocks, then leaks up to 32 TiB
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		tb.Fatal(err)
	}
	return path, int64(len(b)), blocks
}

var leakedRE = regexp.MustCompile(`(\d+) leaked clusters were found`)

// checkLeaksOnly runs qemu-img check and returns the leaked clusters it
// counts, failing on anything but leaks. (qemu-img 7.2 compares the
// refcounts of the clusters inside the file only: those past its end are
// not even counted as leaks.)
func checkLeaksOnly(tb testing.TB, path string) int64 {
	tb.Helper()
	out, errOut, code := oracle.Run(tb, "qemu-img", "check", path)
	if (code != 0 && code != 3) || regexp.MustCompile(`(?i)\berror|corrupt`).MatchString(errOut) ||
		regexp.MustCompile(`ERROR`).MatchString(out) {
		tb.Fatalf("qemu-img check: exit %d\n%s%s", code, out, errOut)
	}
	if m := leakedRE.FindStringSubmatch(out); m != nil {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		return n
	}
	return 0
}

// Finding 11: TestRefcountsPastTheEndOfTheFileCostNothing: an image whose
// refcounts call 320 TiB past the end of the file in use (leaks, for
// qemu-img check) takes a new cluster at the end of the file, as QEMU
// does: no refcount block covering the leaks is read, the file grows by
// that one cluster, not to 320 TiB, and qemu-img check finds the same
// leaks but one, and no error.
func TestRefcountsPastTheEndOfTheFileCostNothing(t *testing.T) {
	oracle.Require(t, "qemu-img")
	path, size, blocks := leakedPastEOF(t)
	leaks := checkLeaksOnly(t, path)
	if span := leakedSpan(t, path); span < 300<<20/2 { // 300 TiB of 2 MiB clusters
		t.Fatalf("the fixture's refcounts mark clusters as used up to cluster %d, want past 300 TiB", span)
	}
	var read atomic.Int64
	img, err := OpenFile(countingHost{openHost(t, path), &read}, Options{Name: "leaky.qcow2"})
	if err != nil {
		t.Fatal(err)
	}
	atOpen := read.Load()
	data := bytes.Repeat([]byte("new cluster "), (2<<20)/12+1)[:2<<20]
	if _, err := img.WriteAt(data, 64<<20); err != nil {
		t.Fatalf("writing a new cluster: %v", err)
	}
	if err := img.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	// The data cluster and the copies of the tables it changes (the
	// commit writes metadata copy-on-write) are appended.
	if grown := st.Size() - size; grown < 2<<20 || grown > 4*(2<<20) {
		t.Fatalf("the file grew by %d bytes for one new cluster, want a few clusters at the end", grown)
	}
	// Reading the 18 MiB of leaked refcount blocks would be a scan.
	if n := read.Load() - atOpen; n > 4*(2<<20) {
		t.Fatalf("the write read %d bytes of a file of %d; the leaks' %d refcount blocks were scanned", n, size, blocks)
	}
	if got := checkLeaksOnly(t, path); got > leaks {
		t.Fatalf("qemu-img check: %d leaked clusters after the write, %d before", got, leaks)
	}
	qemuIO(t, path, "read -P 0xab 0 4M")
	out, _, _ := oracle.Run(t, "qemu-io", "-f", "qcow2", "-c", "read -v 67108864 12", path)
	if !bytes.Contains([]byte(out), []byte("6e 65 77 20 63 6c 75 73 74 65 72 20")) { // "new cluster "
		t.Fatalf("the new cluster does not read back:\n%s", out)
	}
	t.Logf("bytes read by the write: %d (the leaks' refcount blocks: %d bytes)", read.Load()-atOpen, blocks*(2<<20))
}

// leakedSpan returns how far past the end of the file the refcounts mark
// clusters as used, sampling from the first past the end.
func leakedSpan(tb testing.TB, path string) int64 {
	tb.Helper()
	img, err := OpenFile(openHost(tb, path), Options{Name: "leaky.qcow2"})
	if err != nil {
		tb.Fatal(err)
	}
	defer img.Close()
	rc, err := img.loadRefcounts()
	if err != nil {
		tb.Fatal(err)
	}
	last := int64(-1)
	for c := rc.floor; c < int64(len(rc.table))*rc.perBlock; c += rc.perBlock / 7 {
		v, err := rc.get(c)
		if err != nil {
			tb.Fatal(err)
		}
		if v == 0 {
			break
		}
		last = c
	}
	return last
}
