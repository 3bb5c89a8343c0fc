// Package deadline gives each path resolution in a test a short deadline.
// A resolver without a working hop limit walks a symlink loop forever; a
// test calling it through this package then fails at once with a message
// saying so, instead of hanging until go test's timeout panics.
//
// The call runs in its own goroutine. When it overruns, the test ends
// (FailNow) and the goroutine is left running: whatever it uses (a
// filesystem, a guest) must not be used again by the test, so give each
// resolution that can loop its own.
package deadline

import (
	"errors"
	"testing"
	"time"

	"github.com/imgprep/imgprep/pkg/fs"
)

// Resolve is the deadline of one resolution: generous for a loaded
// machine (a loop of 40 hops takes microseconds), short next to go test's
// timeout.
const Resolve = 10 * time.Second

// Call returns what fn returns, failing tb if fn has not returned within
// Resolve. what names the call in the message.
func Call[T any](tb testing.TB, what string, fn func() (T, error)) (T, error) {
	tb.Helper()
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := fn()
		done <- result{v, err}
	}()
	timer := time.NewTimer(Resolve)
	defer timer.Stop()
	select {
	case r := <-done:
		return r.v, r.err
	case <-timer.C:
		tb.Fatalf("%s did not return within %v: a symlink loop that is never cut off (fs.MaxSymlinkHops)?", what, Resolve)
	}
	var zero T
	return zero, nil
}

// Err is Call for a function returning only an error.
func Err(tb testing.TB, what string, fn func() error) error {
	tb.Helper()
	_, err := Call(tb, what, func() (struct{}, error) { return struct{}{}, fn() })
	return err
}

// Loop fails tb unless fn returns, within Resolve, an error that is
// fs.ErrLoop (errors.Is).
func Loop(tb testing.TB, what string, fn func() error) {
	tb.Helper()
	if err := Err(tb, what, fn); !errors.Is(err, fs.ErrLoop) {
		tb.Errorf("%s: %v, want an error wrapping fs.ErrLoop", what, err)
	}
}
