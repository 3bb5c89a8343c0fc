package deadline

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/pkg/fs"
)

// fakeTB records failures instead of failing, and ends the goroutine on
// Fatalf as testing does.
type fakeTB struct {
	testing.TB
	failed, fatal bool
	msg           string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Errorf(format string, args ...any) {
	f.failed, f.msg = true, fmt.Sprintf(format, args...)
}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed, f.fatal, f.msg = true, true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func run(fn func(tb testing.TB)) *fakeTB {
	f := &fakeTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	return f
}

func TestLoopAcceptsErrLoopWrapped(t *testing.T) {
	f := run(func(tb testing.TB) {
		Loop(tb, "stat", func() error { return fmt.Errorf("ext4: stat /l: %w", fs.ErrLoop) })
	})
	if f.failed {
		t.Fatalf("a wrapped fs.ErrLoop failed: %s", f.msg)
	}
}

func TestLoopRejectsOtherErrors(t *testing.T) {
	for _, err := range []error{nil, fs.ErrNotExist, fmt.Errorf("too many levels of symbolic links")} {
		f := run(func(tb testing.TB) { Loop(tb, "stat", func() error { return err }) })
		if !f.failed {
			t.Errorf("Loop accepted %v", err)
		}
	}
}

func TestCallReturnsTheResult(t *testing.T) {
	v, err := Call(t, "add", func() (int, error) { return 2 + 3, nil })
	if v != 5 || err != nil {
		t.Fatalf("got %d, %v", v, err)
	}
}

// TestAResolutionThatNeverEndsFailsAfterTheDeadline: the call is cut off
// after Resolve (this test waits that long) with a message naming it.
func TestAResolutionThatNeverEndsFailsAfterTheDeadline(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	f := run(func(tb testing.TB) {
		Loop(tb, "stat /loop1", func() error { <-release; return nil })
	})
	if !f.fatal || !strings.Contains(f.msg, "stat /loop1 did not return within") {
		t.Fatalf("failed=%t fatal=%t %q; want a fatal failure naming the call", f.failed, f.fatal, f.msg)
	}
}
