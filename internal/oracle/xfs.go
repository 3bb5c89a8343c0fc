package oracle

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// xfsRepairQuiet matches the lines of a clean xfs_repair -n run: its
// phase lines, the no-modify notice, and the complaint about a file's
// host geometry that every image file gets.
var xfsRepairQuiet = regexp.MustCompile(`^(Phase [0-9] - |        - |No modify flag set|Cannot get host filesystem geometry|Repair may fail if there is a sector size mismatch|the image and the host filesystem)`)

// XfsRepairProblems runs xfs_repair -n on the image file dev and returns
// every line of its output that is not part of a clean run, with the whole
// output. A non-zero exit with no such line is reported as one.
func XfsRepairProblems(tb testing.TB, dev string) (problems []string, output string) {
	tb.Helper()
	stdout, stderr, code := Run(tb, "xfs_repair", "-n", "-f", dev)
	output = stdout + stderr
	for _, l := range strings.Split(output, "\n") {
		if l != "" && !xfsRepairQuiet.MatchString(l) {
			problems = append(problems, l)
		}
	}
	if code != 0 && len(problems) == 0 {
		problems = append(problems, "xfs_repair -n exited "+strconv.Itoa(code))
	}
	return problems, output
}

// KernelMountOpts mounts the block device dev as fstype with the mount
// options opts ("ro,norecovery") at a temporary directory, and returns it
// with the function that unmounts it (also called at cleanup; a second
// call does nothing). It needs root and loop devices, as KernelMount.
func KernelMountOpts(tb testing.TB, fstype, dev, opts string) (dir string, cleanup func()) {
	tb.Helper()
	return mount(tb, fstype, dev, opts)
}
