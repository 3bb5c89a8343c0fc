package txn

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/imgprep/imgprep/internal/faultfile"
)

// step is one staged change: a write of data at off, or (data nil) a
// truncation to size.
type step struct {
	off  int64
	data []byte
	size int64
}

func write(off int64, s string) step { return step{off: off, data: []byte(s)} }
func trunc(size int64) step          { return step{size: size} }

// model applies steps to a plain byte slice: what the file must hold after
// a commit.
func model(before []byte, steps []step) []byte {
	m := append([]byte(nil), before...)
	for _, s := range steps {
		if s.data == nil {
			if s.size <= int64(len(m)) {
				m = m[:s.size]
			} else {
				m = append(m, make([]byte, s.size-int64(len(m)))...)
			}
			continue
		}
		if end := s.off + int64(len(s.data)); end > int64(len(m)) {
			m = append(m, make([]byte, end-int64(len(m)))...)
		}
		copy(m[s.off:], s.data)
	}
	return m
}

func stage(tb testing.TB, tx *Tx, steps []step) {
	tb.Helper()
	for _, s := range steps {
		if s.data == nil {
			if err := tx.Truncate(s.size); err != nil {
				tb.Fatal(err)
			}
			continue
		}
		if n, err := tx.WriteAt(s.data, s.off); err != nil || n != len(s.data) {
			tb.Fatalf("WriteAt(%d bytes at %d) = %d, %v", len(s.data), s.off, n, err)
		}
	}
}

// view reads the whole of tx's view.
func view(tb testing.TB, tx *Tx) []byte {
	tb.Helper()
	size, err := tx.Size()
	if err != nil {
		tb.Fatal(err)
	}
	b := make([]byte, size)
	if n, err := tx.ReadAt(b, 0); int64(n) != size || (err != nil && err != io.EOF) {
		tb.Fatalf("ReadAt whole view = %d, %v", n, err)
	}
	return b
}

func pattern(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func memOpts() (Options, *faultfile.MemDir) {
	md := faultfile.NewMemDir()
	return Options{JournalPath: "disk.img" + JournalSuffix, Dir: md}, md
}

func TestStagedViewMergesWritesOverTheFile(t *testing.T) {
	base := pattern(100, 1)
	cases := []struct {
		name  string
		steps []step
	}{
		{"a write inside the file", []step{write(10, "hello")}},
		{"overlapping writes, the later wins", []step{write(10, "aaaaaaaa"), write(14, "bb"), write(8, "ccc")}},
		{"adjacent writes merge", []step{write(0, "ab"), write(2, "cd"), write(4, "ef")}},
		{"a write bridging two regions", []step{write(10, "xx"), write(20, "yy"), write(5, "zzzzzzzzzzzzzzzzzzzzzzz")}},
		{"a write past the end extends with zeros between", []step{write(120, "tail")}},
		{"truncate shrinks and drops staged bytes beyond", []step{write(40, "0123456789"), trunc(45)}},
		{"truncate down then extend reads zeros, not the old bytes", []step{trunc(30), trunc(80), write(70, "q")}},
		{"truncate down then write below the cut", []step{trunc(50), write(45, "abcdefghij")}},
		{"grow by truncate", []step{trunc(200)}},
		{"truncate to zero then rebuild", []step{trunc(0), write(3, "new")}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := faultfile.NewMem(base)
			opts, _ := memOpts()
			tx, err := Begin(f, opts)
			if err != nil {
				t.Fatal(err)
			}
			stage(t, tx, c.steps)
			want := model(base, c.steps)
			if got := view(t, tx); !bytes.Equal(got, want) {
				t.Fatalf("view:\n got %q\nwant %q", got, want)
			}
			if !bytes.Equal(f.Bytes(), base) {
				t.Fatal("the file changed before Commit")
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			if got := f.Bytes(); !bytes.Equal(got, want) {
				t.Fatalf("after Commit:\n got %q\nwant %q", got, want)
			}
		})
	}
}

func TestStagedViewAgreesWithModelOnRandomOps(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for iter := range 300 {
		base := pattern(r.IntN(300), uint64(iter))
		var steps []step
		for range 1 + r.IntN(20) {
			if r.IntN(6) == 0 {
				steps = append(steps, trunc(int64(r.IntN(400))))
				continue
			}
			steps = append(steps, step{off: int64(r.IntN(400)), data: pattern(1+r.IntN(60), r.Uint64())})
		}
		f := faultfile.NewMem(base)
		opts, md := memOpts()
		tx, err := Begin(f, opts)
		if err != nil {
			t.Fatal(err)
		}
		stage(t, tx, steps)
		want := model(base, steps)
		if got := view(t, tx); !bytes.Equal(got, want) {
			t.Fatalf("iteration %d: view disagrees with the model", iter)
		}
		// Random partial reads agree too.
		for range 10 {
			off := int64(r.IntN(len(want) + 10))
			p := make([]byte, r.IntN(50))
			n, err := tx.ReadAt(p, off)
			wantN := max(0, min(len(p), len(want)-int(off)))
			if n != wantN || !bytes.Equal(p[:n], want[min(off, int64(len(want))):][:n]) {
				t.Fatalf("iteration %d: ReadAt(%d, %d) = %d, %v", iter, len(p), off, n, err)
			}
			if n < len(p) && err != io.EOF {
				t.Fatalf("iteration %d: short ReadAt without io.EOF", iter)
			}
		}
		regions := tx.Regions()
		for i := 1; i < len(regions); i++ {
			if regions[i].Off <= regions[i-1].End() {
				t.Fatalf("iteration %d: regions not disjoint and separated: %v", iter, regions)
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if got := f.Bytes(); !bytes.Equal(got, want) {
			t.Fatalf("iteration %d: committed file disagrees with the model", iter)
		}
		if names := md.Names(); len(names) != 0 {
			t.Fatalf("iteration %d: journal left after a clean commit: %v", iter, names)
		}
	}
}

func TestStatsAndRegionsDescribeStagedChanges(t *testing.T) {
	f := faultfile.NewMem(make([]byte, 4096))
	opts, _ := memOpts()
	tx, err := Begin(f, opts)
	if err != nil {
		t.Fatal(err)
	}
	stage(t, tx, []step{write(0, "abcd"), write(4, "ef"), write(1000, "x"), write(5000, "yz")})
	got := tx.Stats()
	want := Stats{Bytes: 9, Regions: 3, SizeBefore: 4096, SizeAfter: 5002}
	if got != want {
		t.Fatalf("Stats = %+v, want %+v", got, want)
	}
	wantR := []Region{{0, 6}, {1000, 1}, {5000, 2}}
	if gr := tx.Regions(); len(gr) != len(wantR) || gr[0] != wantR[0] || gr[1] != wantR[1] || gr[2] != wantR[2] {
		t.Fatalf("Regions = %v, want %v", gr, wantR)
	}
}

func TestDiscardLeavesTheFileAndEndsTheTransaction(t *testing.T) {
	base := pattern(512, 3)
	f := faultfile.NewMem(base)
	d := faultfile.NewDisk(-1)
	opts, md := memOpts()
	opts.Dir = d.WrapDir(md)
	tx, err := Begin(d.Wrap(f), opts)
	if err != nil {
		t.Fatal(err)
	}
	stage(t, tx, []step{write(3, "zz"), trunc(10)})
	tx.Discard()
	if d.Ops() != 0 || !bytes.Equal(f.Bytes(), base) {
		t.Fatalf("Discard did %d ops; file changed = %v", d.Ops(), !bytes.Equal(f.Bytes(), base))
	}
	if _, err := tx.WriteAt([]byte("x"), 0); !errors.Is(err, ErrFinished) {
		t.Fatalf("WriteAt after Discard = %v", err)
	}
	if err := tx.Commit(); !errors.Is(err, ErrFinished) {
		t.Fatalf("Commit after Discard = %v", err)
	}
}

func TestCommitWithNothingStagedWritesNothing(t *testing.T) {
	f := faultfile.NewMem(pattern(64, 4))
	d := faultfile.NewDisk(-1)
	opts, md := memOpts()
	opts.Dir = d.WrapDir(md)
	tx, err := Begin(d.Wrap(f), opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil || d.Ops() != 0 {
		t.Fatalf("Commit = %v with %d ops, want nil and 0", err, d.Ops())
	}
	if err := tx.Commit(); !errors.Is(err, ErrFinished) {
		t.Fatalf("second Commit = %v, want ErrFinished", err)
	}
}

func TestCommitRefusesWhenAJournalExists(t *testing.T) {
	base := pattern(64, 5)
	f := faultfile.NewMem(base)
	opts, md := memOpts()
	md.Put(opts.JournalPath, faultfile.NewMem([]byte("left by an earlier run")))
	tx, err := Begin(f, opts)
	if err != nil {
		t.Fatal(err)
	}
	stage(t, tx, []step{write(0, "new")})
	if err := tx.Commit(); !errors.Is(err, ErrJournalExists) {
		t.Fatalf("Commit = %v, want ErrJournalExists", err)
	}
	if !bytes.Equal(f.Bytes(), base) {
		t.Fatal("image changed")
	}
	if m, _ := md.File(opts.JournalPath); string(m.Bytes()) != "left by an earlier run" {
		t.Fatal("the existing journal was touched")
	}
}

func TestBeginNeedsAJournalPath(t *testing.T) {
	if _, err := Begin(faultfile.NewMem(nil), Options{}); !errors.Is(err, ErrNoJournalPath) {
		t.Fatalf("Begin = %v, want ErrNoJournalPath", err)
	}
}

func TestNegativeOffsetsAreRefused(t *testing.T) {
	opts, _ := memOpts()
	tx, err := Begin(faultfile.NewMem(nil), opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.WriteAt([]byte("x"), -1); !errors.Is(err, ErrNegative) {
		t.Fatal(err)
	}
	if _, err := tx.ReadAt(make([]byte, 1), -1); !errors.Is(err, ErrNegative) {
		t.Fatal(err)
	}
	if err := tx.Truncate(-1); !errors.Is(err, ErrNegative) {
		t.Fatal(err)
	}
}
