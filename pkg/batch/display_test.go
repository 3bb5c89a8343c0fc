package batch

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// screen replays what a Display wrote, interpreting CUU (ESC [ n A), EL
// (ESC [ 2 K) and newlines as a terminal would, and returns the lines.
func screen(tb testing.TB, out string) []string {
	tb.Helper()
	var lines []string
	row := 0
	for i := 0; i < len(out); {
		switch {
		case strings.HasPrefix(out[i:], "\x1b["):
			j := i + 2
			for j < len(out) && out[j] >= '0' && out[j] <= '9' {
				j++
			}
			n := 0
			for _, c := range out[i+2 : j] {
				n = n*10 + int(c-'0')
			}
			switch out[j] {
			case 'A':
				row -= n
				if row < 0 {
					tb.Fatalf("cursor moved above the first line")
				}
			case 'K':
				if row < len(lines) {
					lines[row] = ""
				}
			default:
				tb.Fatalf("unexpected control %q", out[i:j+1])
			}
			i = j + 1
		case out[i] == '\n':
			for len(lines) <= row {
				lines = append(lines, "")
			}
			row++
			i++
		default:
			for len(lines) <= row {
				lines = append(lines, "")
			}
			r, size := utf8.DecodeRuneInString(out[i:])
			lines[row] += string(r)
			i += size
		}
	}
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

func TestDisplayOnATerminalKeepsPrintedLinesAboveTheLiveBlock(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(0, 0)
	d := NewDisplay(&buf, DisplayOptions{Terminal: true, Total: 3, Workers: 2, Now: func() time.Time { return now }})
	d.Started(0, "a.qcow2")
	d.Started(1, "b.qcow2")
	d.Status(1, "copying 50%")
	got := screen(t, buf.String())
	want := []string{"[....................] 0/3 images  0.0 s", "  [1] a.qcow2", "  [2] b.qcow2  copying 50%"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("live block:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	d.Finished(0, false)
	d.Print(&buf, "a.qcow2: prepared\n")
	d.Finished(1, true)
	d.Print(&buf, "b.qcow2: failed\n")
	d.Started(0, "c.qcow2")
	got = screen(t, buf.String())
	want = []string{"a.qcow2: prepared", "b.qcow2: failed", "[#############.......] 2/3 images, 1 failed  0.0 s", "  [1] c.qcow2"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("after two finished:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	d.Close()
	if got := screen(t, buf.String()); strings.Join(got, "\n") != "a.qcow2: prepared\nb.qcow2: failed" {
		t.Fatalf("after Close:\n%s", strings.Join(got, "\n"))
	}
}

func TestDisplayOffATerminalWritesOnlyPlainLines(t *testing.T) {
	var buf bytes.Buffer
	d := NewDisplay(&buf, DisplayOptions{Total: 2, Workers: 2})
	d.Started(0, "a")
	d.Status(0, "copying")
	d.Finished(0, false)
	d.Print(&buf, "a: done\n")
	d.Close()
	if buf.String() != "a: done\n" {
		t.Fatalf("plain output %q", buf.String())
	}
}

func TestDisplayStatusRedrawsAreThrottled(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(0, 0)
	d := NewDisplay(&buf, DisplayOptions{Terminal: true, Total: 1, Workers: 1, Interval: time.Second, Now: func() time.Time { return now }})
	d.Started(0, "a")
	n := buf.Len()
	for i := 0; i < 100; i++ {
		d.Status(0, "x")
	}
	if buf.Len() != n {
		t.Fatalf("status redrew within the interval")
	}
	now = now.Add(2 * time.Second)
	d.Status(0, "y")
	if buf.Len() == n {
		t.Fatalf("status never redrew")
	}
}

func TestBarAndPercent(t *testing.T) {
	tests := []struct {
		done, total int64
		bar, pct    string
	}{
		{0, 10, "[....]", "0%"},
		{5, 10, "[##..]", "50%"},
		{10, 10, "[####]", "100%"},
		{20, 10, "[####]", "100%"},
		{-1, 10, "[....]", "0%"},
		{0, 0, "[####]", "100%"},
	}
	for _, tc := range tests {
		if b, p := Bar(tc.done, tc.total, 4), Percent(tc.done, tc.total); b != tc.bar || p != tc.pct {
			t.Errorf("(%d, %d): %s %s, want %s %s", tc.done, tc.total, b, p, tc.bar, tc.pct)
		}
	}
}

func TestDisplayClipsTheItemAndKeepsItsEnd(t *testing.T) {
	var buf bytes.Buffer
	d := NewDisplay(&buf, DisplayOptions{Terminal: true, Total: 1, Workers: 1, Width: 40})
	d.Started(0, "/very/long/directory/name/that/goes/on/vm-042.qcow2")
	d.Status(0, "copying 5%")
	lines := screen(t, buf.String())
	if got := lines[1]; got != "  [1] …/goes/on/vm-042.qcow2  copying 5%" {
		t.Fatalf("worker line %q", got)
	}
	if n := len([]rune(lines[1])); n > 40 {
		t.Fatalf("worker line of %d runes in 40 columns", n)
	}
}
