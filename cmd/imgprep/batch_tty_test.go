package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/imgprep/imgprep/pkg/sysprep"
)

// openPTY returns the two ends of a new pseudo-terminal.
func openPTY(tb testing.TB) (master, slave *os.File) {
	tb.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		tb.Fatalf("no pseudo-terminal on this machine: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		tb.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		tb.Fatal(err)
	}
	return m, s
}

func TestBatchOnATerminalShowsTheLiveDisplay(t *testing.T) {
	imgs := fleet(t, 4)
	master, slave := openPTY(t)
	defer master.Close()
	got := make(chan string)
	go func() {
		var b bytes.Buffer
		io.Copy(&b, master) // ends with EIO once the slave is closed
		got <- b.String()
	}()
	var errOut bytes.Buffer
	code := run([]string{"imgprep", "sysprep", "-j", "2", "--enable", "machine-id", imgs[0], imgs[1], imgs[2], imgs[3]},
		env{stdout: slave, stderr: &errOut, backend: sysprep.Stack{}, recover: sysprep.Recover})
	slave.Close()
	out := <-got
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, want := range []string{"\x1b[2K", "\x1b[", "4/4 images", "[####################]"} {
		if !strings.Contains(out, want) {
			t.Errorf("terminal output lacks %q:\n%q", want, out)
		}
	}
	for _, p := range imgs {
		if !strings.Contains(out, p+" (qcow2): prepared in ") {
			t.Errorf("no report for %s", p)
		}
	}
}

func TestFullCloneOnATerminalShowsProgress(t *testing.T) {
	imgs := fleet(t, 1)
	master, slave := openPTY(t)
	defer master.Close()
	got := make(chan string)
	go func() {
		var b bytes.Buffer
		io.Copy(&b, master)
		got <- b.String()
	}()
	dest := imgs[0] + ".full.qcow2"
	var errOut bytes.Buffer
	code := run([]string{"imgprep", "clone", "--full", "--no-sysprep", imgs[0], dest},
		env{stdout: slave, stderr: &errOut, backend: sysprep.Stack{}, recover: sysprep.Recover})
	slave.Close()
	out := <-got
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, want := range []string{"0/1 clones", "[1] ", "vm-000.qcow2.full.qcow2\r\n", "[####################] 1/1 clones", dest + " (qcow2): full clone of"} {
		if !strings.Contains(out, want) {
			t.Errorf("terminal output lacks %q:\n%q", want, out)
		}
	}
}
