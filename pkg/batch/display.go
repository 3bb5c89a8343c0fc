package batch

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// DisplayOptions configure a Display.
type DisplayOptions struct {
	// Terminal selects the live display; otherwise only the text given
	// to Print is written, as plain lines.
	Terminal bool
	Total    int // items
	Workers  int
	// Noun names the items ("images", "clones").
	Noun string
	// Width bounds a live line; 80 when zero.
	Width int
	// Interval is the least time between two redraws caused by Status;
	// starts, finishes and Print always redraw.
	Interval time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Display shows a batch's progress on w. It is not safe for concurrent
// use; Run's Observer calls are serialised, and other callers (a copy's
// progress) must lock around it.
type Display struct {
	w       io.Writer
	o       DisplayOptions
	current []string // per worker: item
	status  []string // per worker: what it is doing
	done    int
	failed  int
	drawn   int // lines of the live block on screen
	last    time.Time
	start   time.Time
}

// NewDisplay returns a display writing to w.
func NewDisplay(w io.Writer, o DisplayOptions) *Display {
	if o.Width <= 0 {
		o.Width = 80
	}
	if o.Noun == "" {
		o.Noun = "images"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	o.Workers = max(o.Workers, 1)
	return &Display{w: w, o: o, current: make([]string, o.Workers), status: make([]string, o.Workers), start: o.Now()}
}

// Started marks item as the current one of worker.
func (d *Display) Started(worker int, item string) {
	if worker < 0 || worker >= len(d.current) {
		return
	}
	d.current[worker], d.status[worker] = item, ""
	d.redraw(true)
}

// Status sets what worker is doing ("copying 45%").
func (d *Display) Status(worker int, status string) {
	if worker < 0 || worker >= len(d.current) {
		return
	}
	d.status[worker] = status
	d.redraw(false)
}

// Finished counts a finished item of worker.
func (d *Display) Finished(worker int, failed bool) {
	if failed {
		d.failed++
	} else {
		d.done++
	}
	if worker >= 0 && worker < len(d.current) {
		d.current[worker], d.status[worker] = "", ""
	}
	d.redraw(true)
}

// Print writes text (whole lines) to out: on a terminal above the live
// block, which is redrawn below it. out may be the display's own writer
// or another stream sharing the terminal.
func (d *Display) Print(out io.Writer, text string) {
	if text == "" {
		return
	}
	d.erase()
	io.WriteString(out, text)
	d.redraw(true)
}

// Close erases the live block. The caller prints its summary after.
func (d *Display) Close() { d.erase() }

// Line is the overall progress line: a bar, counts and the elapsed time.
func (d *Display) Line() string {
	n := d.done + d.failed
	line := fmt.Sprintf("%s %d/%d %s", Bar(int64(n), int64(d.o.Total), 20), n, d.o.Total, d.o.Noun)
	if d.failed > 0 {
		line += fmt.Sprintf(", %d failed", d.failed)
	}
	return line + fmt.Sprintf("  %.1f s", d.o.Now().Sub(d.start).Seconds())
}

func (d *Display) erase() {
	if !d.o.Terminal || d.drawn == 0 {
		return
	}
	// Up to the first line of the block, then erase each line.
	var b strings.Builder
	fmt.Fprintf(&b, "\x1b[%dA", d.drawn)
	for i := 0; i < d.drawn; i++ {
		b.WriteString("\x1b[2K\n")
	}
	fmt.Fprintf(&b, "\x1b[%dA", d.drawn)
	io.WriteString(d.w, b.String())
	d.drawn = 0
}

func (d *Display) redraw(force bool) {
	if !d.o.Terminal {
		return
	}
	now := d.o.Now()
	if !force && d.drawn > 0 && now.Sub(d.last) < d.o.Interval {
		return
	}
	d.last = now
	lines := []string{d.Line()}
	for w, item := range d.current {
		if item == "" {
			continue
		}
		prefix, status := fmt.Sprintf("  [%d] ", w+1), ""
		if d.status[w] != "" {
			status = "  " + d.status[w]
		}
		// The item's end (the file name) is what matters.
		room := max(12, d.o.Width-len([]rune(prefix))-len([]rune(status)))
		lines = append(lines, prefix+clip(item, room)+status)
	}
	var b strings.Builder
	if d.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", d.drawn)
	}
	for _, l := range lines {
		b.WriteString("\x1b[2K")
		b.WriteString(l)
		b.WriteByte('\n')
	}
	// Lines left over from a taller block.
	for i := len(lines); i < d.drawn; i++ {
		b.WriteString("\x1b[2K\n")
	}
	if extra := d.drawn - len(lines); extra > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", extra)
	}
	io.WriteString(d.w, b.String())
	d.drawn = len(lines)
}

// clip shortens s to width runes, keeping its end (the file name).
func clip(s string, width int) string {
	r := []rune(s)
	if len(r) <= width || width < 4 {
		return s
	}
	return "…" + string(r[len(r)-width+1:])
}

// Bar draws a progress bar of width cells: "[#######.............]".
func Bar(done, total int64, width int) string {
	fill := width
	if total > 0 {
		fill = int(min(max(done, 0), total) * int64(width) / total)
	}
	return "[" + strings.Repeat("#", fill) + strings.Repeat(".", width-fill) + "]"
}

// Percent formats done of total as "45%".
func Percent(done, total int64) string {
	if total <= 0 {
		return "100%"
	}
	return fmt.Sprintf("%d%%", min(max(done, 0), total)*100/total)
}
