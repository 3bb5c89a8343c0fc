package main

import (
	"strings"
	"testing"
)

// TestHelpAndUnknownCommandsExitZeroOrTwo: help in every spelling exits
// 0 with the help on stdout; an unknown command or help topic exits 2
// with a usage line on stderr, never urfave's 3.
func TestHelpAndUnknownCommandsExitZeroOrTwo(t *testing.T) {
	for _, args := range [][]string{
		{}, {"--help"}, {"-h"}, {"help"}, {"help", "sysprep"}, {"sysprep", "--help"}, {"clone", "-h"},
		{"help", "report"}, {"report", "merge", "--help"}, {"help", "completion"}, {"completion", "--help"},
	} {
		b := memBackend()
		r := runCLI(t, b, args...)
		if r.code != exitOK || !strings.Contains(r.stdout, "USAGE:") || r.stderr != "" {
			t.Errorf("imgprep %s: exit %d, want 0 with help on stdout\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
	}
	for _, args := range [][]string{
		{"nosuch"}, {"help", "nosuch"}, {"help", "sysprep", "extra"}, {"sysprepp", "template.qcow2"},
		{"report", "nosuch"}, {"completion", "tcsh"}, {"--nosuch"},
	} {
		r := runCLI(t, memBackend(), args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, "Run 'imgprep --help'") || r.stdout != "" {
			t.Errorf("imgprep %s: exit %d, want 2 with a usage line on stderr\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
	}
}
