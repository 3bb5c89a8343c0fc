package batch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// recorder is an Observer that checks it is never called concurrently.
type recorder struct {
	busy     atomic.Bool
	started  []Slot
	finished []Outcome
	overlap  bool
}

func (r *recorder) enter() {
	if !r.busy.CompareAndSwap(false, true) {
		r.overlap = true
	}
}

func (r *recorder) Started(s Slot) { r.enter(); r.started = append(r.started, s); r.busy.Store(false) }
func (r *recorder) Finished(o Outcome) {
	r.enter()
	r.finished = append(r.finished, o)
	r.busy.Store(false)
}

func items(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("img-%03d", i)
	}
	return out
}

func TestRunProcessesEveryItemOnceAndOneFailureStopsNothing(t *testing.T) {
	tests := []struct {
		name  string
		jobs  int
		items int
		fail  map[int]bool
	}{
		{"no items", 4, 0, nil},
		{"one worker", 1, 20, map[int]bool{3: true}},
		{"more workers than items", 16, 5, map[int]bool{0: true, 4: true}},
		{"default workers", 0, 50, map[int]bool{10: true, 20: true, 30: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := items(tc.items)
			var mu sync.Mutex
			seen := map[string]int{}
			rec := &recorder{}
			sum := Run(context.Background(), in, Options{Jobs: tc.jobs, Observer: rec}, func(_ context.Context, s Slot) error {
				mu.Lock()
				seen[s.Item]++
				mu.Unlock()
				if in[s.Index] != s.Item {
					return fmt.Errorf("slot %d holds %q", s.Index, s.Item)
				}
				if tc.fail[s.Index] {
					return errors.New(s.Item + ": broken")
				}
				return nil
			})
			for _, it := range in {
				if seen[it] != 1 {
					t.Errorf("%s processed %d times", it, seen[it])
				}
			}
			if sum.Total != tc.items || sum.Failed != len(tc.fail) || sum.Done != tc.items-len(tc.fail) {
				t.Fatalf("summary %+v", sum)
			}
			for i, f := range sum.Failures {
				if !tc.fail[f.Index] || f.Error != f.Item+": broken" || (i > 0 && sum.Failures[i-1].Index > f.Index) {
					t.Fatalf("failures %+v", sum.Failures)
				}
			}
			if rec.overlap {
				t.Fatalf("the observer was called concurrently")
			}
			if len(rec.started) != tc.items || len(rec.finished) != tc.items {
				t.Fatalf("observer saw %d starts, %d finishes", len(rec.started), len(rec.finished))
			}
			for _, o := range rec.finished {
				if o.Worker < 0 || o.Worker >= Jobs(tc.jobs, tc.items) {
					t.Fatalf("worker %d out of range", o.Worker)
				}
			}
		})
	}
}

func TestOneWorkerFinishesInOrder(t *testing.T) {
	rec := &recorder{}
	in := items(30)
	Run(context.Background(), in, Options{Jobs: 1, Observer: rec}, func(context.Context, Slot) error { return nil })
	for i, o := range rec.finished {
		if o.Item != in[i] {
			t.Fatalf("finish %d is %s", i, o.Item)
		}
	}
}

func TestAtMostJobsRunAtOnce(t *testing.T) {
	const jobs = 3
	var cur, peak atomic.Int32
	Run(context.Background(), items(40), Options{Jobs: jobs}, func(context.Context, Slot) error {
		n := cur.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(time.Millisecond)
		cur.Add(-1)
		return nil
	})
	if p := peak.Load(); p > jobs || p < 2 {
		t.Fatalf("peak concurrency %d with %d workers", p, jobs)
	}
}

func TestAPanicFailsOnlyItsItem(t *testing.T) {
	sum := Run(context.Background(), items(10), Options{Jobs: 2}, func(_ context.Context, s Slot) error {
		if s.Index == 4 {
			panic("corrupt image")
		}
		return nil
	})
	if sum.Done != 9 || sum.Failed != 1 || !strings.Contains(sum.Failures[0].Error, "corrupt image") {
		t.Fatalf("summary %+v", sum)
	}
}

func TestACancelledRunFailsWhatItDidNotStart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	sum := Run(ctx, items(10), Options{Jobs: 1}, func(_ context.Context, s Slot) error {
		if s.Index == 2 {
			cancel()
		}
		return nil
	})
	if sum.Done != 3 || sum.Failed != 7 || !strings.Contains(sum.Failures[0].Error, context.Canceled.Error()) {
		t.Fatalf("summary %+v", sum)
	}
}

func TestJobsIsBoundedByItemsAndAtLeastOne(t *testing.T) {
	tests := []struct{ n, items, want int }{{4, 2, 2}, {1, 10, 1}, {3, 0, 1}, {8, 100, 8}}
	for _, tc := range tests {
		if got := Jobs(tc.n, tc.items); got != tc.want {
			t.Errorf("Jobs(%d, %d) = %d, want %d", tc.n, tc.items, got, tc.want)
		}
	}
	if Jobs(0, 1000) < 1 {
		t.Errorf("default jobs < 1")
	}
}

func BenchmarkRun(b *testing.B) {
	in := items(200)
	for i := 0; i < b.N; i++ {
		Run(context.Background(), in, Options{Jobs: 4}, func(context.Context, Slot) error { return nil })
	}
}
