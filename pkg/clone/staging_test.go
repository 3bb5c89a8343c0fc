package clone

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/pkg/image"
	"github.com/imgprep/imgprep/pkg/ops"
	"github.com/imgprep/imgprep/pkg/storage"
)

// observeOp records, while the clone is being prepared, what the clone's
// directory holds; with fail set it then fails.
type observeOp struct {
	dir  string
	seen *[]string
	fail error
}

func (observeOp) Name() string        { return "observe" }
func (observeOp) Description() string { return "lists the clone's directory" }
func (observeOp) Default() bool       { return false }
func (o observeOp) Apply(context.Context, ops.Guest) ([]ops.Change, error) {
	ents, err := os.ReadDir(o.dir)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		*o.seen = append(*o.seen, e.Name())
	}
	return nil, o.fail
}

// dirNames lists a directory's entries.
func dirNames(tb testing.TB, dir string) []string {
	tb.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// Finding 10: TestCloneIsPreparedUnderATemporaryName: while a clone is
// being prepared, its final name does not exist; a temporary name in the
// same directory holds it. It appears under its final name only once
// prepared, and a failure or a cancellation (Ctrl-C) leaves neither the
// final name nor the temporary file nor a journal.
func TestCloneIsPreparedUnderATemporaryName(t *testing.T) {
	tmpl := fixture.Path(t, "disk-none.qcow2")
	for _, mode := range []Mode{Linked, Full} {
		t.Run(string(mode), func(t *testing.T) {
			dir := t.TempDir()
			dest := filepath.Join(dir, "vm1.qcow2")
			var seen []string
			_, err := Clone(context.Background(), tmpl, dest, Options{Mode: mode,
				Operations: append(prepOps(), observeOp{dir: dir, seen: &seen})})
			if err != nil {
				t.Fatal(err)
			}
			if slices.Contains(seen, "vm1.qcow2") || len(seen) != 1 || !strings.HasPrefix(seen[0], ".vm1.qcow2.imgprep-") {
				t.Fatalf("during preparation the directory held %q, want only a temporary name", seen)
			}
			if got := dirNames(t, dir); !slices.Equal(got, []string{"vm1.qcow2"}) {
				t.Fatalf("after the clone the directory holds %q", got)
			}
			if mid, ok := guestFile(t, dest, "/etc/machine-id"); !ok || mid != "" {
				t.Fatalf("the clone under its final name is not prepared: machine-id %q", mid)
			}

			// A failing preparation, and a cancelled one.
			boom := errors.New("boom")
			ctx, cancel := context.WithCancel(context.Background())
			for _, c := range []struct {
				ctx  context.Context
				op   ops.Operation
				want error
			}{
				{context.Background(), observeOp{dir: dir, seen: new([]string), fail: boom}, boom},
				{ctx, cancelOp{cancel}, context.Canceled},
			} {
				d2 := filepath.Join(dir, "vm2.qcow2")
				_, err := Clone(c.ctx, tmpl, d2, Options{Mode: mode, Operations: append(prepOps(), c.op)})
				if !errors.Is(err, c.want) || !strings.Contains(err.Error(), d2) {
					t.Fatalf("Clone = %v, want %v naming %s", err, c.want, d2)
				}
				if got := dirNames(t, dir); !slices.Equal(got, []string{"vm1.qcow2"}) {
					t.Fatalf("after a %v clone the directory holds %q", c.want, got)
				}
			}
		})
	}
}

// cancelOp cancels the run's context, as Ctrl-C does in imgprep.
type cancelOp struct{ cancel context.CancelFunc }

func (cancelOp) Name() string        { return "cancel" }
func (cancelOp) Description() string { return "Ctrl-C" }
func (cancelOp) Default() bool       { return false }
func (o cancelOp) Apply(ctx context.Context, _ ops.Guest) ([]ops.Change, error) {
	o.cancel()
	return nil, nil
}

// Finding 10: TestCloneCancelledDuringTheCopyLeavesNothing: Ctrl-C during
// a full clone's copy removes the partial copy.
func TestCloneCancelledDuringTheCopyLeavesNothing(t *testing.T) {
	tmpl := fixture.Path(t, "disk-gpt.qcow2")
	dir := t.TempDir()
	dest := filepath.Join(dir, "vm.qcow2")
	ctx, cancel := context.WithCancel(context.Background())
	progress := 0
	_, err := Clone(ctx, tmpl, dest, Options{Mode: Full, Operations: prepOps(), Progress: func(done, total int64) {
		if progress++; done > 0 && done < total {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Clone cancelled during the copy = %v (after %d progress calls)", err, progress)
	}
	if got := dirNames(t, dir); len(got) != 0 {
		t.Fatalf("a cancelled clone left %q", got)
	}
}

// Finding 10: TestRerunAfterAKilledCloneWorks: a clone killed before it
// was prepared leaves only a temporary file (unprepared, perhaps with a
// journal); a rerun makes the clone under its final name and removes
// what the killed run left, but never a temporary file another live
// clone holds, nor another clone's.
func TestRerunAfterAKilledCloneWorks(t *testing.T) {
	tmpl := fixture.Path(t, "disk-none.qcow2")
	dir := t.TempDir()
	dest := filepath.Join(dir, "vm.qcow2")
	tmplBytes, err := os.ReadFile(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	// What kill -9 leaves: an unprepared complete copy, a journal of a
	// half-prepared one, and a journal whose temporary file is gone.
	stale := []string{".vm.qcow2.imgprep-0a0b0c0d0e0f", ".vm.qcow2.imgprep-111111111111", ".vm.qcow2.imgprep-111111111111" + image.JournalSuffix,
		".vm.qcow2.imgprep-222222222222" + image.JournalSuffix}
	for _, n := range stale {
		if err := os.WriteFile(filepath.Join(dir, n), tmplBytes, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A live clone of the same name, still building (locked), and
	// another clone's temporary file: both are left alone.
	live := filepath.Join(dir, ".vm.qcow2.imgprep-333333333333")
	lf, err := storage.CreateFile(live)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	other := filepath.Join(dir, ".vm2.qcow2.imgprep-444444444444")
	os.WriteFile(other, []byte("x"), 0o644)

	if _, err := Clone(context.Background(), tmpl, dest, Options{Mode: Full, Operations: prepOps()}); err != nil {
		t.Fatalf("rerun after a kill: %v", err)
	}
	want := []string{filepath.Base(live), filepath.Base(other), "vm.qcow2"}
	if got := dirNames(t, dir); !slices.Equal(got, want) {
		t.Fatalf("after the rerun the directory holds %q, want %q", got, want)
	}
	if mid, ok := guestFile(t, dest, "/etc/machine-id"); !ok || mid != "" {
		t.Fatalf("the rerun's clone is not prepared: machine-id %q", mid)
	}
	t.Logf("stale files a killed clone left, removed by the rerun: %d", len(stale))
}
