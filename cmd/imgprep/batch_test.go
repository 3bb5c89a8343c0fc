package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/pkg/sysprep"
)

// fleet writes n copies of the disk-none.qcow2 fixture into a new
// directory and returns their paths.
func fleet(tb testing.TB, n int) []string {
	tb.Helper()
	data, err := os.ReadFile(fixture.Path(tb, "disk-none.qcow2"))
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	out := make([]string, n)
	for i := range out {
		out[i] = filepath.Join(dir, fmt.Sprintf("vm-%03d.qcow2", i))
		if err := os.WriteFile(out[i], data, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return out
}

// batchLine is one --json line: an image report or the summary.
type batchLine struct {
	sysprep.Report
	Summary *struct {
		Images   int `json:"images"`
		Done     int `json:"done"`
		Failed   int `json:"failed"`
		Failures []struct {
			Image string `json:"image"`
			Error string `json:"error"`
		} `json:"failures"`
	} `json:"summary"`
}

func TestAcceptanceBatchOf200WithThreeCorrupted(t *testing.T) {
	imgs := fleet(t, 200)
	corrupt := map[string]string{}
	// A qcow2 header overwritten: the file is then no image imgprep
	// recognises as a guest.
	hdr := func(p string) {
		f, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteAt([]byte(strings.Repeat("\xff", 512)), 0)
		f.Close()
	}
	hdr(imgs[17])
	corrupt[imgs[17]] = "header overwritten"
	// The L1 table pointer aimed past the end of the file.
	if f, err := os.OpenFile(imgs[101], os.O_WRONLY, 0); err == nil {
		f.WriteAt([]byte{0x7f, 0, 0, 0, 0, 0, 0, 0}, 40)
		f.Close()
	}
	corrupt[imgs[101]] = "L1 table past the end"
	// Truncated to a few bytes.
	os.Truncate(imgs[199], 100)
	corrupt[imgs[199]] = "truncated"

	list := filepath.Join(t.TempDir(), "list.txt")
	os.WriteFile(list, []byte("# the fleet\n"+strings.Join(imgs[100:], "\n")+"\n"), 0o644)
	args := append([]string{"sysprep", "--json", "-j", "4", "--enable", "machine-id,netdata", "--from", list}, imgs[:100]...)
	r := runReal(t, "", args...)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\nstderr:\n%s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 201 {
		t.Fatalf("%d JSON lines, want 200 reports and a summary", len(lines))
	}
	done, failed := map[string]bool{}, map[string]string{}
	for i, l := range lines {
		var bl batchLine
		if err := json.Unmarshal([]byte(l), &bl); err != nil {
			t.Fatalf("line %d does not parse: %v\n%s", i+1, err, l)
		}
		if i == 200 {
			if bl.Summary == nil {
				t.Fatalf("the last line is not the summary: %s", l)
			}
			s := bl.Summary
			if s.Images != 200 || s.Done != 197 || s.Failed != 3 || len(s.Failures) != 3 {
				t.Fatalf("summary %+v", s)
			}
			for _, f := range s.Failures {
				if _, ok := corrupt[f.Image]; !ok || !strings.Contains(f.Error, f.Image) {
					t.Fatalf("summary failure %+v", f)
				}
			}
			continue
		}
		if bl.Summary != nil {
			t.Fatalf("summary before the end, line %d", i+1)
		}
		switch {
		case bl.Error != "":
			failed[bl.Image] = bl.Error
		case bl.Committed:
			done[bl.Image] = true
		default:
			t.Fatalf("line %d neither committed nor failed: %s", i+1, l)
		}
	}
	if len(done) != 197 || len(failed) != 3 {
		t.Fatalf("%d done, %d failed", len(done), len(failed))
	}
	for p, why := range corrupt {
		if _, ok := failed[p]; !ok {
			t.Errorf("%s (%s) not reported failed", p, why)
		}
	}
	for _, p := range imgs {
		if _, bad := corrupt[p]; !bad && !done[p] {
			t.Errorf("%s not done", p)
		}
	}
	// The exit message lists which failed and why.
	var names []string
	for p := range corrupt {
		names = append(names, p)
	}
	sort.Strings(names)
	if !strings.Contains(r.stderr, "3 of 200 images failed:") {
		t.Errorf("stderr lacks the summary:\n%s", r.stderr)
	}
	for _, p := range names {
		if !strings.Contains(r.stderr, "\n  "+p) {
			t.Errorf("summary does not list %s:\n%s", p, r.stderr)
		}
	}
}

func TestAcceptanceBatchFromStdinPlainLines(t *testing.T) {
	imgs := fleet(t, 6)
	// imgs[1] twice, once through "./": one run each.
	again := filepath.Dir(imgs[1]) + "/./" + filepath.Base(imgs[1])
	r := runReal(t, strings.Join(imgs[2:], "\n")+"\n"+again+"\n", "sysprep", "-j", "2", "--enable", "machine-id", "--from", "-", imgs[0], imgs[1])
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	for _, p := range imgs {
		if strings.Count(r.stdout, p+" (qcow2): prepared in ") != 1 {
			t.Errorf("%s not reported once:\n%s", p, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "\x1b[") {
		t.Errorf("terminal controls off a terminal:\n%q", r.stdout)
	}
}

func TestBatchUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing list", []string{"sysprep", "--from", "/nonexistent/list"}, "--from"},
		{"empty list and no image", []string{"sysprep", "--from", "EMPTY"}, "no IMAGE given"},
		{"negative jobs", []string{"sysprep", "-j", "-1", "x.qcow2"}, "--jobs -1"},
	}
	empty := filepath.Join(t.TempDir(), "empty")
	os.WriteFile(empty, []byte("# nothing\n"), 0o644)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for i, a := range tc.args {
				if a == "EMPTY" {
					tc.args[i] = empty
				}
			}
			r := runCLI(t, memBackend(), tc.args...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
			}
		})
	}
}

func TestIsTerminalOnlyForTerminals(t *testing.T) {
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	file, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	for name, w := range map[string]any{"/dev/null (a character device)": null, "a regular file": file, "a buffer": &strings.Builder{}} {
		if wr, ok := w.(interface{ Write([]byte) (int, error) }); ok && isTerminal(wr) {
			t.Errorf("%s taken for a terminal", name)
		}
	}
}
