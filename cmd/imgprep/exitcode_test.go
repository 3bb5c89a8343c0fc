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

// TestUnknownOptionsAreNamedWithTheNearestOne: a mistyped option is named
// as typed, with the command and the option meant; exit 2.
func TestUnknownOptionsAreNamedWithTheNearestOne(t *testing.T) {
	for args, want := range map[string]string{
		"sysprep template.qcow2 --dryrn":                "unknown option --dryrn for sysprep; did you mean --dryrun?",
		"sysprep --opertions=machine-id template.qcow2": "unknown option --opertions for sysprep; did you mean --operations?",
		"inspect template.qcow2 --jsn":                  "unknown option --jsn for inspect; did you mean --json?",
		"clone --linkd template.qcow2 a.qcow2":          "unknown option --linkd for clone; did you mean --linked?",
		"report merge --strikt f.json":                  "unknown option --strikt for report merge; did you mean --strict?",
		"sysprep --bogus template.qcow2":                "unknown option --bogus for sysprep\n",
		"--bogus sysprep template.qcow2":                "unknown option --bogus\n",
		"sysprep -Z template.qcow2":                     "unknown option -Z for sysprep\n",
	} {
		b := memBackend()
		r := runCLI(t, b, strings.Fields(args)...)
		if r.code != exitUsage || !strings.Contains(r.stderr, "imgprep: "+want) {
			t.Errorf("imgprep %s: exit %d, stderr %q; want 2 and %q", args, r.code, r.stderr, want)
		}
		if n := len(b.Images["template.qcow2"].Opens); n != 0 {
			t.Errorf("imgprep %s opened the image", args)
		}
	}
}
