package txn

import (
	"bytes"
	"io/fs"
	"math/rand/v2"
	"testing"

	"github.com/imgprep/imgprep/internal/faultfile"
	"github.com/imgprep/imgprep/pkg/storage"
)

// stagedModel is the set of bytes the steps stage, as Regions must give
// it: every byte written and not cut by a later truncation.
func stagedModel(steps []step) []Region {
	set := map[int64]bool{}
	for _, s := range steps {
		if s.data == nil {
			for o := range set {
				if o >= s.size {
					delete(set, o)
				}
			}
			continue
		}
		for i := range s.data {
			set[s.off+int64(i)] = true
		}
	}
	var offs []int64
	for o := range set {
		offs = append(offs, o)
	}
	sortInt64s(offs)
	var rs []Region
	for _, o := range offs {
		if n := len(rs); n > 0 && rs[n-1].End() == o {
			rs[n-1].Len++
			continue
		}
		rs = append(rs, Region{Off: o, Len: 1})
	}
	return rs
}

func sortInt64s(a []int64) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

// TestStagedWritesSpillPastTheMemoryLimit: with room for two pages in
// memory, random writes and truncations over some twenty pages spill to
// the file beside the journal; the view, the regions, the stats and the
// committed file still agree with the model, and no spill file is left
// in the journal's directory at any point.
func TestStagedWritesSpillPastTheMemoryLimit(t *testing.T) {
	r := rand.New(rand.NewPCG(12, 12))
	spilled := 0
	for iter := range 60 {
		base := pattern(r.IntN(20*pageSize), uint64(iter))
		var steps []step
		for range 1 + r.IntN(40) {
			if r.IntN(8) == 0 {
				steps = append(steps, trunc(int64(r.IntN(24*pageSize))))
				continue
			}
			n := 1 + r.IntN(300)
			if r.IntN(5) == 0 {
				n = 1 + r.IntN(3*pageSize)
			}
			steps = append(steps, step{off: int64(r.IntN(22 * pageSize)), data: pattern(n, r.Uint64())})
		}
		f := faultfile.NewMem(base)
		opts, md := memOpts()
		opts.MemoryLimit = 2 * slotSize
		tx, err := Begin(f, opts)
		if err != nil {
			t.Fatal(err)
		}
		stage(t, tx, steps)
		if tx.st.inMem > 2 {
			t.Fatalf("iteration %d: %d pages in memory, over the limit of 2", iter, tx.st.inMem)
		}
		if tx.st.spill != nil {
			spilled++
		}
		if names := md.Names(); len(names) != 0 {
			t.Fatalf("iteration %d: files left in the journal's directory while staging: %v", iter, names)
		}
		want := model(base, steps)
		if got := view(t, tx); !bytes.Equal(got, want) {
			t.Fatalf("iteration %d: view disagrees with the model", iter)
		}
		wantR := stagedModel(steps)
		gotR := tx.Regions()
		if len(gotR) != len(wantR) {
			t.Fatalf("iteration %d: Regions = %v, want %v", iter, gotR, wantR)
		}
		var wantBytes int64
		for i := range wantR {
			if gotR[i] != wantR[i] {
				t.Fatalf("iteration %d: Regions = %v, want %v", iter, gotR, wantR)
			}
			wantBytes += wantR[i].Len
		}
		if st := tx.Stats(); st.Bytes != wantBytes || st.Regions != len(wantR) {
			t.Fatalf("iteration %d: Stats = %+v, want %d bytes in %d regions", iter, st, wantBytes, len(wantR))
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if got := f.Bytes(); !bytes.Equal(got, want) {
			t.Fatalf("iteration %d: committed file disagrees with the model", iter)
		}
		if names := md.Names(); len(names) != 0 {
			t.Fatalf("iteration %d: files left after the commit: %v", iter, names)
		}
	}
	if spilled < 30 {
		t.Fatalf("only %d of 60 iterations spilled: the limit is not exercised", spilled)
	}
}

// refusingDir is a journal directory where nothing can be created.
type refusingDir struct{ *faultfile.MemDir }

func (refusingDir) Create(path string) (storage.File, error) {
	return nil, &fs.PathError{Op: "create", Path: path, Err: fs.ErrPermission}
}

// TestSpillFallsBackToTheTempDirectory: when the journal's directory
// refuses new files (a dry run of an image in a directory this user
// cannot write), staging past the limit still works, the spill file
// living, unlinked, in the host's temporary directory; the view is the
// model's.
func TestSpillFallsBackToTheTempDirectory(t *testing.T) {
	base := pattern(8*pageSize, 5)
	f := faultfile.NewMem(base)
	opts, md := memOpts()
	opts.Dir = refusingDir{md}
	opts.MemoryLimit = slotSize
	tx, err := Begin(f, opts)
	if err != nil {
		t.Fatal(err)
	}
	steps := []step{{off: 10, data: pattern(3*pageSize, 1)}, {off: 6 * pageSize, data: pattern(100, 2)}}
	stage(t, tx, steps)
	if tx.st.spill == nil {
		t.Fatal("nothing spilled past a one-page limit")
	}
	if got := view(t, tx); !bytes.Equal(got, model(base, steps)) {
		t.Fatal("view disagrees with the model")
	}
	tx.Discard()
}
