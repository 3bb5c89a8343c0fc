package qcow2_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/imgprep/imgprep/internal/faultfile"
	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/qcow2"
)

// TestIOErrorAtEveryOpIsReportedAndLeavesOldOrNewImage: a failed write,
// truncate or sync (EIO, ENOSPC) is never swallowed. For every op k of each
// recorded sequence, op k alone fails: some call of the sequence (WriteAt,
// Flush or Close) must return an error wrapping the injected one, and the
// file must still pass qemu-img check (exit 0 or 3) and read, through
// qemu-img, entirely as before or entirely as after the sequence.
func TestIOErrorAtEveryOpIsReportedAndLeavesOldOrNewImage(t *testing.T) {
	oracle.Require(t, "qemu-img")
	for _, tc := range faultCases {
		if tc.long || tc.create != nil {
			continue
		}
		for _, injected := range []error{syscall.EIO, syscall.ENOSPC} {
			t.Run(tc.name+"/"+injected.Error(), func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				path, _ := tc.fx.place(t, dir)
				orig, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				before := qemuRaw(t, path)
				after := bytes.Clone(before)
				for _, w := range tc.writes {
					copy(after[w.off:], w.data)
				}
				_, n, _ := runFailingSequence(t, dir, tc, orig, -1, nil)
				jd := newJudge(t, filepath.Join(dir, "fail.qcow2"), before, after)
				var sawBefore, sawAfter int
				for k := 0; k < n; k++ {
					persisted, _, seqErr := runFailingSequence(t, dir, tc, orig, k, injected)
					if !errors.Is(seqErr, injected) {
						t.Fatalf("op %d of %d failed with %v and the sequence returned %v: the error was swallowed",
							k, n, injected, seqErr)
					}
					v := jd.of(persisted)
					if v.code != 0 && v.code != 3 {
						t.Fatalf("op %d of %d failed: qemu-img check exit %d\n%s", k, n, v.code, v.out)
					}
					switch v.state {
					case stateBefore:
						sawBefore++
					case stateAfter:
						sawAfter++
					default:
						t.Fatalf("op %d of %d failed: the disk is neither the old nor the new one (differs from old at %d, from new at %d)",
							k, n, v.diffOld, v.diffNew)
					}
				}
				t.Logf("%d ops, each failed once with %v: %d left the old disk, %d the new", n, injected, sawBefore, sawAfter)
			})
		}
	}
}

// runFailingSequence is runFaultSequence with op failAt failing with
// injected (failAt < 0: none), and returns the first error of the
// sequence instead of ending the test on it. Every call still runs, as a
// caller would retry nothing but close the image.
func runFailingSequence(tb testing.TB, dir string, tc faultCase, orig []byte, failAt int, injected error) ([]byte, int, error) {
	tb.Helper()
	mem := faultfile.NewMem(orig)
	disk := faultfile.NewDisk(-1)
	if failAt >= 0 {
		disk.FailAt(failAt, injected)
	}
	var first error
	keep := func(err error) {
		if first == nil && err != nil {
			first = err
		}
	}
	var img *qcow2.Image
	guard(tb, "the failing sequence", func() {
		var err error
		img, err = qcow2.OpenFile(disk.Wrap(mem), qcow2.Options{
			Name: tc.fx.name, Backing: newResolver(tb, dir, 16).open,
		})
		if err != nil {
			keep(err)
			return
		}
		for _, w := range tc.writes {
			_, err := img.WriteAt(w.data, w.off)
			keep(err)
		}
		keep(img.Flush())
		keep(img.Close())
	})
	if failAt < 0 && first != nil {
		tb.Fatalf("the sequence without a failure: %v", first)
	}
	return mem.Bytes(), disk.Ops(), first
}
