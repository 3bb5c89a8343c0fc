package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/sysprep"
)

// clonePrepared reports whether the clone at path is prepared: it
// inspects cleanly and its machine-id is not the template's.
func clonePrepared(tb testing.TB, bin, path string) bool {
	tb.Helper()
	out, err := exec.Command(bin, "inspect", "--json", path).Output()
	if err != nil {
		tb.Fatalf("imgprep inspect %s: %v\n%s", path, err, out)
	}
	var in sysprep.Inspection
	if err := json.Unmarshal(bytes.SplitN(out, []byte("\n"), 2)[0], &in); err != nil || len(in.Guests) == 0 {
		tb.Fatalf("inspect %s: %v %s", path, err, out)
	}
	return in.Guests[0].MachineID.State != "set"
}

// Finding 10: TestCloneKilledOrInterruptedNeverLeavesAnUnpreparedClone
// runs imgprep clone and sends it SIGKILL or SIGINT (Ctrl-C) at random
// times. Whenever the clone's final name exists, the clone is prepared.
// After SIGINT nothing else is left (no temporary file, no journal);
// after SIGKILL a rerun of the same command makes the clone and removes
// what the killed run left.
func TestCloneKilledOrInterruptedNeverLeavesAnUnpreparedClone(t *testing.T) {
	oracle.Require(t, "qemu-img")
	bin := buildImgprep(t)
	tmpl := fixture.Path(t, "disk-gpt.qcow2")
	// The clean run's time bounds the delays.
	var times []time.Duration
	for range 3 {
		d := filepath.Join(t.TempDir(), "ref.qcow2")
		t0 := time.Now()
		if out, err := exec.Command(bin, "clone", "--full", "-q", tmpl, d).CombinedOutput(); err != nil {
			t.Fatalf("a clean clone: %v\n%s", err, out)
		}
		times = append(times, time.Since(t0))
		if !clonePrepared(t, bin, d) {
			t.Fatal("the clean clone is not prepared")
		}
	}
	span := slices.Min(times) * 5 / 4
	rng := rand.New(rand.NewPCG(11, 10))
	runs := 12
	if os.Getenv("IMGPREP_LONG") != "" {
		runs = 60
	}
	var n struct{ killed, interrupted, finished, published, reruns int }
	for run := 0; run < runs; run++ {
		if run >= runs/2 && n.finished+n.published == 0 && span < 16*slices.Min(times) {
			span *= 2 // a loaded machine: let some runs reach the rename
		}
		sig := syscall.SIGKILL
		if run%2 == 1 {
			sig = syscall.SIGINT
		}
		dir := t.TempDir()
		dest := filepath.Join(dir, "vm.qcow2")
		cmd := exec.Command(bin, "clone", "--full", "-q", tmpl, dest)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		delay := time.Duration(rng.Int64N(int64(span) + 1))
		time.Sleep(delay)
		_ = cmd.Process.Signal(sig) // may come after the exit
		err := cmd.Wait()
		var ee *exec.ExitError
		switch {
		case err == nil:
			n.finished++
		case errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signaled():
			n.killed++
		case errors.As(err, &ee) && ee.ExitCode() == exitInterrupted:
			n.interrupted++
		default:
			t.Fatalf("run %d (%v after %v): %v\n%s", run, sig, delay, err, out.String())
		}
		names := dirNames(t, dir)
		if slices.Contains(names, "vm.qcow2") {
			n.published++
			if !clonePrepared(t, bin, dest) {
				t.Fatalf("run %d (%v after %v): an unprepared clone under its final name", run, sig, delay)
			}
		}
		if sig == syscall.SIGINT && len(names) > 0 && !slices.Equal(names, []string{"vm.qcow2"}) {
			t.Fatalf("run %d (SIGINT after %v): left %q\n%s", run, delay, names, out.String())
		}
		if sig == syscall.SIGKILL && !slices.Contains(names, "vm.qcow2") {
			n.reruns++
			if out, err := exec.Command(bin, "clone", "--full", "-q", tmpl, dest).CombinedOutput(); err != nil {
				t.Fatalf("run %d: the rerun after a kill (which left %q): %v\n%s", run, names, err, out)
			}
			if got := dirNames(t, dir); !slices.Equal(got, []string{"vm.qcow2"}) || !clonePrepared(t, bin, dest) {
				t.Fatalf("run %d: after the rerun the directory holds %q", run, got)
			}
		}
	}
	t.Logf("%d runs: %d killed, %d interrupted (exit 130), %d finished; %d left a prepared clone; %d reruns after a kill",
		runs, n.killed, n.interrupted, n.finished, n.published, n.reruns)
}

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
