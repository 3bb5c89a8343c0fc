package qcow2_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imgprep/imgprep/internal/oracle"
)

// boundedEnv names the test a child process runs under inBoundedChild.
const boundedEnv = "IMGPREP_QCOW2_BOUNDED_TEST"

// childHeapLimit is the live heap a bounded child may reach.
const childHeapLimit = 256 << 20

// inBoundedChild runs the calling test in a child process whose heap is
// watched (it exits when the live heap passes 256 MiB) and which is killed
// after the given time, so that an engine that loops allocating fails this
// test instead of exhausting the machine. It returns true in the child,
// which then runs the test body; in the parent it waits for the child and
// relays its failure.
func inBoundedChild(t *testing.T, timeout time.Duration) bool {
	t.Helper()
	if os.Getenv(boundedEnv) == t.Name() {
		go func() {
			sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
			for {
				metrics.Read(sample)
				if v := sample[0].Value.Uint64(); v > childHeapLimit {
					fmt.Fprintf(os.Stderr, "bounded child: live heap %d MiB passed %d MiB\n%s\n", v>>20, childHeapLimit>>20, allStacks())
					os.Exit(3)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
		return true
	}
	var parts []string
	for _, p := range strings.Split(t.Name(), "/") {
		parts = append(parts, "^"+regexp.QuoteMeta(p)+"$")
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run="+strings.Join(parts, "/"), "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), boundedEnv+"="+t.Name())
	out, err := cmd.CombinedOutput()
	switch {
	case ctx.Err() != nil:
		t.Fatalf("still running after %v (killed); output:\n%s", timeout, tail(out))
	case err != nil:
		t.Fatalf("failed in its bounded child: %v\n%s", err, tail(out))
	case !strings.Contains(string(out), "--- PASS"):
		t.Fatalf("the child ran no test:\n%s", tail(out))
	}
	return false
}

// allStacks returns the stacks of the qcow2 package's goroutines' frames,
// for the heap watchdog's message.
func allStacks() string {
	buf := make([]byte, 1<<16)
	buf = buf[:runtime.Stack(buf, true)]
	var keep []string
	for _, line := range strings.Split(string(buf), "\n") {
		if strings.Contains(line, "pkg/qcow2") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "\n")
}

func tail(b []byte) string {
	const n = 4000
	if len(b) > n {
		return "...\n" + string(b[len(b)-n:])
	}
	return string(b)
}

// TestWritesAcrossLargeSparseImages: the L1 index and host offsets of big
// disks (qcow2.rst: l1_index = offset / (cluster_size * l2_entries)):
// 2 TiB with 64 KiB clusters (an L1 of 4096 entries), 2 TiB with 4 KiB
// clusters and 1 GiB with 512-byte clusters (L1 tables of 8 MiB and 32 KiB
// spanning many clusters, whose copy at commit needs more contiguous
// clusters than one refcount block covers). Seeded writes at random
// offsets, at the end and across L2 boundaries, flushed every 10; then
// qemu-img check clean, qemu-img compare equal to a sparse raw mirror.
// Each case runs in a child process bounded to a 256 MiB heap and 3 minutes.
func TestWritesAcrossLargeSparseImages(t *testing.T) {
	oracle.Require(t, "qemu-img")
	for _, tc := range []diskGeometry{
		{2 << 40, 65536},
		{2 << 40, 4096},
		{1 << 30, 512},
	} {
		name := strconv.FormatInt(tc.size>>30, 10) + "GiB_" + strconv.FormatInt(tc.cluster, 10) + "-byte_clusters"
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if !inBoundedChild(t, 3*time.Minute) {
				return
			}
			writeLargeSparse(t, tc)
		})
	}
}

func writeLargeSparse(t *testing.T, g diskGeometry) {
	size, cluster := g.size, g.cluster
	dir := t.TempDir()
	path := filepath.Join(dir, "big.qcow2")
	qemuImgOK(t, "create", "-q", "-f", "qcow2", "-o", "cluster_size="+strconv.FormatInt(cluster, 10), path, strconv.FormatInt(size, 10))
	mirrorPath := filepath.Join(dir, "big.raw")
	mirror, err := os.Create(mirrorPath)
	if err != nil {
		t.Fatal(err)
	}
	defer mirror.Close()
	if err := mirror.Truncate(size); err != nil {
		t.Fatal(err)
	}
	l2Span := cluster * cluster / 8
	rng := rand.New(rand.NewPCG(uint64(cluster), 0x2b))
	var ws []guestWrite
	for i := range 30 {
		var off int64
		switch i % 3 {
		case 0:
			off = rng.Int64N(size - 256<<10)
		case 1:
			off = max(0, rng.Int64N(size/l2Span)*l2Span-rng.Int64N(4096)-1) // across an L2 boundary
		default:
			off = size - 1 - rng.Int64N(200<<10)
		}
		n := min(1+rng.Int64N(128<<10), size-off)
		data := make([]byte, n)
		for j := range data {
			data[j] = byte(i+1) ^ byte(j)
		}
		ws = append(ws, guestWrite{off: off, data: data})
	}
	img, f := openRW(t, path)
	for i, w := range ws {
		if _, err := img.WriteAt(w.data, w.off); err != nil {
			t.Fatalf("write %d at %d: %v", i, w.off, err)
		}
		if _, err := mirror.WriteAt(w.data, w.off); err != nil {
			t.Fatal(err)
		}
		if i%10 == 9 {
			if err := img.Flush(); err != nil {
				t.Fatalf("Flush after write %d: %v", i, err)
			}
		}
	}
	if err := img.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	waitUnlocked(t, path)
	oracle.QemuImgCheck(t, path, false)
	oracle.QemuImgCompare(t, path, mirrorPath)
	ro := openRO(t, path)
	for i, w := range ws {
		n := min(int64(len(w.data))+512, size-w.off)
		got := make([]byte, n)
		want := make([]byte, n)
		if _, err := ro.ReadAt(got, w.off); err != nil {
			t.Fatalf("reading back write %d: %v", i, err)
		}
		if _, err := mirror.ReadAt(want, w.off); err != nil {
			t.Fatal(err)
		}
		sameBytes(t, "write "+strconv.Itoa(i)+" read back", got, want)
	}
}
