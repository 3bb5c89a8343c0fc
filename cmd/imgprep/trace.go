package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/urfave/cli/v3"

	"github.com/imgprep/imgprep/pkg/ops"
	"github.com/imgprep/imgprep/pkg/sysprep"
)

// tracer writes -x's lines ("imgprep: trace: ...") to w, one at a time
// (the workers of a batch share it).
type tracer struct {
	mu *sync.Mutex
	w  io.Writer
}

func newTracer(w io.Writer) tracer { return tracer{mu: new(sync.Mutex), w: w} }

func (t tracer) printf(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(t.w, "imgprep: trace: "+format+"\n", args...)
}

// backendOf is the command's backend, traced with -x.
func backendOf(c *cli.Command, e env) sysprep.Backend {
	if e.backend == nil || !c.Bool("trace") {
		return e.backend
	}
	return traceBackend{b: e.backend, t: newTracer(e.stderr)}
}

// traceBackend traces the opening, guests and end of every image.
type traceBackend struct {
	b sysprep.Backend
	t tracer
}

func (tb traceBackend) Open(ctx context.Context, path string, o sysprep.OpenOptions) (sysprep.Image, error) {
	mode := "read-only"
	switch {
	case o.DryRun:
		mode = "dry run"
	case o.Write:
		mode = "read-write"
	}
	disks := ""
	if len(o.Disks) > 0 {
		disks = ", with " + strings.Join(escapeAll(o.Disks), ", ")
	}
	tb.t.printf("open %s (format %s, %s%s)", escape(path), o.Format, mode, disks)
	img, err := tb.b.Open(ctx, path, o)
	if err != nil {
		tb.t.printf("open %s: failed", escape(path))
		return nil, err
	}
	tb.t.printf("opened %s: %s", escape(path), img.Info().Format)
	return traceImage{Image: img, path: path, t: tb.t}, nil
}

// traceImage traces the guests found and the commit or discard.
type traceImage struct {
	sysprep.Image
	path string
	t    tracer
}

func (ti traceImage) Guests() ([]sysprep.Guest, error) {
	gs, err := ti.Image.Guests()
	if err != nil {
		ti.t.printf("%s: guests: failed", escape(ti.path))
		return gs, err
	}
	ti.t.printf("%s: %d %s", escape(ti.path), len(gs), plural(len(gs), "guest"))
	for _, g := range gs {
		ti.t.printf("%s: guest on %s (%s)", escape(ti.path), escape(g.Root()), escape(orDash(g.OSRelease()["PRETTY_NAME"])))
		for _, m := range g.Mounts() {
			ti.t.printf("%s:   mount %s (%s): %s", escape(ti.path), escape(m.Point), escape(orDash(m.Spec)), escape(m.Filesystem))
		}
	}
	return gs, nil
}

func (ti traceImage) Finish(commit bool) (int64, error) {
	n, err := ti.Image.Finish(commit)
	verb := "discard"
	if commit {
		verb = "commit"
	}
	if err != nil {
		ti.t.printf("%s: %s: failed", escape(ti.path), verb)
	} else {
		ti.t.printf("%s: %s: %d bytes staged", escape(ti.path), verb, n)
	}
	return n, err
}

// traceOperations traces each operation's application: on which
// filesystem of the guest and how many paths it changed.
func traceOperations(w io.Writer, list []ops.Operation) []ops.Operation {
	t := newTracer(w)
	out := make([]ops.Operation, len(list))
	for i, op := range list {
		out[i] = traceOp{Operation: op, t: t}
	}
	return out
}

type traceOp struct {
	ops.Operation
	t tracer
}

func (o traceOp) Apply(ctx context.Context, g ops.Guest) ([]ops.Change, error) {
	root, _ := g.Where("/")
	changes, err := o.Operation.Apply(ctx, g)
	if err != nil {
		o.t.printf("operation %s on %s: failed", o.Name(), escape(root))
		return changes, err
	}
	o.t.printf("operation %s on %s: %d %s changed", o.Name(), escape(root), len(changes), plural(len(changes), "path"))
	return changes, nil
}
