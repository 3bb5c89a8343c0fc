package batch

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"time"
)

// Work is one job: it processes item (items[index]) on worker (0-based).
type Work func(ctx context.Context, w Slot) error

// Slot says which item a job processes and on which worker.
type Slot struct {
	Index  int    // position in the item list
	Item   string // the item (an image path)
	Worker int    // 0 .. Jobs-1
}

// Observer receives a run's events. Run calls it from one goroutine at a
// time, so an implementation needs no locking of its own.
type Observer interface {
	Started(s Slot)
	Finished(o Outcome)
}

// Outcome is the end of one job.
type Outcome struct {
	Slot
	Err      error
	Duration time.Duration
}

// Options configure Run.
type Options struct {
	// Jobs is the number of workers; zero or less means runtime.NumCPU().
	Jobs int
	// Observer, when set, receives every start and finish.
	Observer Observer
	// Now is the clock for durations; time.Now when nil.
	Now func() time.Time
}

// Failure is one failed item and why.
type Failure struct {
	Index int    `json:"-"`
	Item  string `json:"image"`
	Error string `json:"error"`
}

// Summary is the outcome of a whole run. Failures are in item order.
type Summary struct {
	Total    int           `json:"images"`
	Done     int           `json:"done"`
	Failed   int           `json:"failed"`
	Failures []Failure     `json:"failures"`
	Duration time.Duration `json:"-"`
}

// Jobs returns the worker count Run uses for n: it is never more than
// the number of items, nor less than one.
func Jobs(n, items int) int {
	if n <= 0 {
		n = runtime.NumCPU()
	}
	return max(1, min(n, items))
}

// Run processes every item with work on a pool of workers and returns the
// summary once all are finished. Items are taken in order; with one
// worker they also finish in order. A job's error, or panic, fails only
// its item. When ctx is cancelled the items not yet started fail with
// ctx's error.
func Run(ctx context.Context, items []string, opts Options, work Work) Summary {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	start := now()
	sum := Summary{Total: len(items), Failures: []Failure{}}
	if len(items) == 0 {
		return sum
	}
	jobs := Jobs(opts.Jobs, len(items))
	var (
		mu   sync.Mutex // serialises the observer and sum
		next int
		wg   sync.WaitGroup
	)
	take := func() (int, bool) {
		mu.Lock()
		defer mu.Unlock()
		if next >= len(items) {
			return 0, false
		}
		next++
		return next - 1, true
	}
	for w := 0; w < jobs; w++ {
		wg.Add(1)
		go func(worker int) {
			defer wg.Done()
			for {
				i, ok := take()
				if !ok {
					return
				}
				s := Slot{Index: i, Item: items[i], Worker: worker}
				mu.Lock()
				if opts.Observer != nil {
					opts.Observer.Started(s)
				}
				mu.Unlock()
				t0 := now()
				err := ctx.Err()
				if err == nil {
					err = protect(ctx, s, work)
				}
				o := Outcome{Slot: s, Err: err, Duration: now().Sub(t0)}
				mu.Lock()
				if err != nil {
					sum.Failed++
					sum.Failures = append(sum.Failures, Failure{Index: i, Item: s.Item, Error: err.Error()})
				} else {
					sum.Done++
				}
				if opts.Observer != nil {
					opts.Observer.Finished(o)
				}
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	sort.Slice(sum.Failures, func(a, b int) bool { return sum.Failures[a].Index < sum.Failures[b].Index })
	sum.Duration = now().Sub(start)
	return sum
}

// protect runs one job, turning a panic into its error.
func protect(ctx context.Context, s Slot, work Work) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: %w: %v", s.Item, ErrPanic, r)
		}
	}()
	return work(ctx, s)
}
