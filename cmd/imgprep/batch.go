package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v3"
	"golang.org/x/sys/unix"

	"github.com/imgprep/imgprep/pkg/batch"
	"github.com/imgprep/imgprep/pkg/shard"
)

// batchFlags are the options of every command that takes many images.
func batchFlags() []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: "jobs", Aliases: []string{"j"}, Usage: "images processed at once (default: the number of CPUs)"},
		&cli.StringFlag{Name: "from", Usage: "also read image paths, one per line, from `FILE` ('-': standard input)"},
	}
}

// imageArgs returns the images of the command line, then those of --from,
// each once (a second run on the same file would find it locked by the
// first).
func imageArgs(c *cli.Command, e env) ([]string, error) {
	images, err := listedImages(c, e)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	out := images[:0]
	for _, p := range images {
		key := filepath.Clean(p)
		if abs, err := filepath.Abs(p); err == nil {
			key = abs
		}
		if !seen[key] {
			seen[key] = true
			out = append(out, p)
		}
	}
	return out, nil
}

func listedImages(c *cli.Command, e env) ([]string, error) {
	images := c.Args().Slice()
	from := c.String("from")
	if from == "" {
		return images, nil
	}
	var r io.Reader
	if from == "-" {
		r = e.stdin
		if r == nil {
			r = os.Stdin
		}
	} else {
		f, err := os.Open(from)
		if err != nil {
			return nil, usagef("--from: %v", err)
		}
		defer f.Close()
		r = f
	}
	list, err := batch.ReadList(r)
	if err != nil {
		return nil, usagef("--from %s: %v", from, err)
	}
	return append(images, list...), nil
}

// checkJobs refuses a negative -j.
func checkJobs(c *cli.Command) error {
	if c.Int("jobs") < 0 {
		return usagef("--jobs %d: want a positive number (0: the number of CPUs)", c.Int("jobs"))
	}
	return nil
}

// isTerminal reports whether w is a terminal: a character device that
// answers TCGETS (/dev/null is a character device too, and does not).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	_, err = unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// progress serialises a live display shared by the workers (their copy
// progress) and the batch observer; nil-safe, and inert off a terminal.
type progress struct {
	mu sync.Mutex
	d  *batch.Display
}

func newProgress(e env, on bool, total, workers int, noun string) *progress {
	if !on || !isTerminal(e.stdout) {
		return &progress{}
	}
	return &progress{d: batch.NewDisplay(e.stdout, batch.DisplayOptions{
		Terminal: true, Total: total, Workers: workers, Noun: noun, Interval: 100 * time.Millisecond})}
}

func (p *progress) live() bool { return p.d != nil }

func (p *progress) started(s batch.Slot) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.d != nil {
		p.d.Started(s.Worker, s.Item)
	}
}

func (p *progress) status(worker int, text string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.d != nil {
		p.d.Status(worker, text)
	}
}

// finished counts o and prints its text (above the live display).
func (p *progress) finished(o batch.Outcome, e env, stdout, stderr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.d == nil {
		io.WriteString(e.stdout, stdout)
		io.WriteString(e.stderr, stderr)
		return
	}
	p.d.Finished(o.Worker, o.Err != nil)
	p.d.Print(e.stdout, stdout)
	p.d.Print(e.stderr, stderr)
}

func (p *progress) close() (last string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.d == nil {
		return ""
	}
	last = p.d.Line()
	p.d.Close()
	return last
}

// observer adapts two functions to batch.Observer.
type observer struct {
	start  func(batch.Slot)
	finish func(batch.Outcome)
}

func (o observer) Started(s batch.Slot)     { o.start(s) }
func (o observer) Finished(r batch.Outcome) { o.finish(r) }

// summaryLine is the JSON object that ends a --json batch.
type summaryLine struct {
	Summary summaryBody `json:"summary"`
}

type summaryBody struct {
	batch.Summary
	DurationMS float64 `json:"duration_ms"`
	// Shard is the part of the images this run took (--shard).
	Shard *shard.Spec `json:"shard,omitempty"`
}

func writeSummaryJSON(w io.Writer, s batch.Summary, part *shard.Spec) error {
	if s.Failures != nil {
		failures := make([]batch.Failure, len(s.Failures))
		for i, f := range s.Failures {
			f.Error = userMessage(f.Error)
			failures[i] = f
		}
		s.Failures = failures
	}
	b, err := json.Marshal(summaryLine{summaryBody{s, float64(s.Duration.Microseconds()) / 1000, part}})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// failedExit is the exit error of a batch with failures: how many, and
// for a batch of several, which and why.
func failedExit(s batch.Summary, noun string) error {
	msg := fmt.Sprintf("%d of %d %s failed", s.Failed, s.Total, noun)
	if s.Total > 1 {
		var b strings.Builder
		b.WriteString(msg + ":")
		for _, f := range s.Failures {
			line := userMessage(f.Error)
			if !strings.Contains(line, f.Item) {
				line = f.Item + ": " + line
			}
			b.WriteString("\n  " + escape(line))
		}
		msg = b.String()
	}
	return cli.Exit(msg, exitFailed)
}

// batchPrinter prints the items of a batch as they finish: each one's
// JSON line with --json, else its human text unless --quiet; errors on
// standard error; all above the live display. Run's observer calls it
// one item at a time.
type batchPrinter struct {
	e       env
	prog    *progress
	asJSON  bool
	quiet   bool
	jsonErr error
	shard   *shard.Spec // the --shard part, for the summary line
	report  io.Writer   // --report: the JSON lines also go there
}

// item prints the outcome o of one item, whose result is v (marshalled
// with --json) and whose human text human writes.
func (bp *batchPrinter) item(o batch.Outcome, v any, human func(w io.Writer)) {
	var out, errOut bytes.Buffer
	if bp.report != nil {
		line, err := json.Marshal(v)
		if err == nil {
			_, err = fmt.Fprintf(bp.report, "%s\n", line)
		}
		if err != nil && bp.jsonErr == nil {
			bp.jsonErr = err
		}
	}
	switch {
	case bp.asJSON:
		line, err := json.Marshal(v)
		if err != nil && bp.jsonErr == nil {
			bp.jsonErr = err
		}
		fmt.Fprintf(&out, "%s\n", line)
	case !bp.quiet && o.Err == nil:
		human(&out)
	}
	if o.Err != nil {
		printError(&errOut, o.Err)
	}
	bp.prog.finished(o, bp.e, out.String(), errOut.String())
}

// end closes the live display, leaving its last line, and with --json
// writes the summary line.
func (bp *batchPrinter) end(sum batch.Summary) error {
	if last := bp.prog.close(); last != "" {
		fmt.Fprintln(bp.e.stdout, last)
	}
	if bp.jsonErr != nil {
		return runError{bp.jsonErr}
	}
	if bp.report != nil {
		if err := writeSummaryJSON(bp.report, sum, bp.shard); err != nil {
			return runError{err}
		}
	}
	if bp.asJSON {
		if err := writeSummaryJSON(bp.e.stdout, sum, bp.shard); err != nil {
			return runError{err}
		}
	}
	return nil
}
