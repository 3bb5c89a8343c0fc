// Package oracle runs the tools we did not write — e2fsck, debugfs and
// qemu-img — against images our code produced, and turns their output into
// test failures. A missing tool skips the test on a developer machine and
// fails it when CI=true.
package oracle

import (
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Require returns the path of tool, or ends the test: with Fatal when the
// environment says CI=true, with Skip otherwise.
func Require(tb testing.TB, tool string) string {
	tb.Helper()
	p, err := exec.LookPath(tool)
	if err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/bin"} {
		cand := dir + "/" + tool
		if st, err := os.Stat(cand); err == nil && !st.IsDir() {
			return cand
		}
	}
	if os.Getenv("CI") == "true" {
		tb.Fatalf("oracle %s is not installed, and CI=true requires it", tool)
	}
	tb.Skipf("oracle %s is not installed", tool)
	return ""
}

// Run runs tool with args and returns stdout, stderr and the exit code. A
// failure to start the tool ends the test.
func Run(tb testing.TB, tool string, args ...string) (stdout, stderr string, code int) {
	tb.Helper()
	path := Require(tb, tool)
	cmd := exec.Command(path, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	err := cmd.Run()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return o.String(), e.String(), ee.ExitCode()
		}
		tb.Fatalf("running %s %v: %v", tool, args, err)
	}
	return o.String(), e.String(), 0
}

// e2fsckBad matches the lines of e2fsck -fn output that report a problem.
// e2fsck exits 0 when only the superblock's free counts are wrong, so the
// output is what counts.
var e2fsckBad = regexp.MustCompile(`(?i)(fix\?|differences|wrong|checksum|unattached|invalid|corrupt|error|illegal|bad |not clear|unconnected|clear\?|salvage|relocate|count wrong|should be)`)

// Device names an ext filesystem for e2fsck and debugfs: a file, plus the
// byte offset of the filesystem inside it (0 for a bare filesystem image).
func Device(path string, offset int64) string {
	if offset == 0 {
		return path
	}
	return path + "?offset=" + strconv.FormatInt(offset, 10)
}

// E2fsckProblems runs e2fsck -fn on dev and returns the lines reporting a
// problem, together with the whole output. An exit code other than 0 also
// counts as a problem.
func E2fsckProblems(tb testing.TB, dev string) (problems []string, output string) {
	tb.Helper()
	out, errOut, code := Run(tb, "e2fsck", "-fn", dev)
	output = out + errOut
	for _, line := range strings.Split(output, "\n") {
		l := strings.TrimSpace(line)
		if l == "" || strings.HasPrefix(l, "e2fsck ") || strings.HasPrefix(l, "Pass ") {
			continue
		}
		if e2fsckBad.MatchString(l) {
			problems = append(problems, l)
		}
	}
	if code != 0 {
		problems = append(problems, "e2fsck exit code "+strconv.Itoa(code))
	}
	return problems, output
}

// E2fsckClean fails the test unless e2fsck -fn finds nothing wrong on dev.
func E2fsckClean(tb testing.TB, dev string) {
	tb.Helper()
	if problems, out := E2fsckProblems(tb, dev); len(problems) > 0 {
		tb.Fatalf("e2fsck -fn %s found problems:\n  %s\nfull output:\n%s", dev, strings.Join(problems, "\n  "), out)
	}
}

// Debugfs runs one debugfs request (-R) read-only on dev and returns its
// stdout. A non-zero exit ends the test.
func Debugfs(tb testing.TB, dev, request string) string {
	tb.Helper()
	out, errOut, code := Run(tb, "debugfs", "-R", request, dev)
	if code != 0 {
		tb.Fatalf("debugfs -R %q %s: exit %d: %s", request, dev, code, errOut)
	}
	return out
}

// DebugfsCat returns the contents of the file at path, as debugfs cat
// reads it, and whether debugfs found it.
func DebugfsCat(tb testing.TB, dev, path string) ([]byte, bool) {
	tb.Helper()
	out, errOut, code := Run(tb, "debugfs", "-R", "cat \""+path+"\"", dev)
	if code != 0 || strings.Contains(errOut, "File not found") || strings.Contains(errOut, "not found by ext2_lookup") {
		return nil, false
	}
	return []byte(out), true
}

// Rdump extracts the whole filesystem on dev into a new directory below
// dir with debugfs rdump, and returns the directory holding the root's
// contents.
func Rdump(tb testing.TB, dev, dir string) string {
	tb.Helper()
	dest := dir + "/rdump"
	if err := os.MkdirAll(dest, 0o755); err != nil {
		tb.Fatal(err)
	}
	_, errOut, code := Run(tb, "debugfs", "-R", "rdump / "+dest, dev)
	if code != 0 {
		tb.Fatalf("debugfs rdump %s: exit %d: %s", dev, code, errOut)
	}
	return dest
}

// QemuImgCheck runs qemu-img check on path and fails the test on any exit
// code but 0 (clean). With allowLeaks, exit 3 (leaked clusters only) is
// accepted too.
func QemuImgCheck(tb testing.TB, path string, allowLeaks bool) string {
	tb.Helper()
	out, errOut, code := Run(tb, "qemu-img", "check", "-U", path)
	if code == 0 || (allowLeaks && code == 3) {
		return out
	}
	tb.Fatalf("qemu-img check %s: exit %d\n%s%s", path, code, out, errOut)
	return ""
}

// QemuImgCompare fails the test unless qemu-img compare finds the two
// images' virtual disks identical.
func QemuImgCompare(tb testing.TB, a, b string) {
	tb.Helper()
	out, errOut, code := Run(tb, "qemu-img", "compare", "-U", a, b)
	if code != 0 {
		tb.Fatalf("qemu-img compare %s %s: exit %d\n%s%s", a, b, code, out, errOut)
	}
}

// QemuImgConvertRaw converts src to a raw file at dst with qemu-img.
func QemuImgConvertRaw(tb testing.TB, src, dst string) {
	tb.Helper()
	_, errOut, code := Run(tb, "qemu-img", "convert", "-U", "-O", "raw", src, dst)
	if code != 0 {
		tb.Fatalf("qemu-img convert %s: exit %d: %s", src, code, errOut)
	}
}
