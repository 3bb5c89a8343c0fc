package main

import (
	"strings"
	"testing"
)

// The cases of issue 10 that urfave/cli v2 got wrong: an option after the
// operand became another image name.
func TestOptionsAfterOperandsAreOptions(t *testing.T) {
	t.Run("dry-run after the image writes nothing", func(t *testing.T) {
		b := memBackend()
		r := runCLI(t, b, "sysprep", "template.qcow2", "--dry-run")
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		img := b.Images["template.qcow2"]
		if img.Commits != 0 || img.Discards != 1 {
			t.Errorf("commits %d, discards %d: want a dry run (0, 1)", img.Commits, img.Discards)
		}
		if !strings.Contains(r.stdout, "dry run, nothing written") {
			t.Errorf("report is not a dry run:\n%s", r.stdout)
		}
	})
	t.Run("operations after the image select", func(t *testing.T) {
		r := runCLI(t, memBackend(), "sysprep", "template.qcow2", "--operations", "machine-id", "--json")
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		if !strings.Contains(r.stdout, `"operations":["machine-id"]`) {
			t.Errorf("want only machine-id run:\n%s", r.stdout)
		}
	})
	t.Run("-- ends the options", func(t *testing.T) {
		b := memBackend()
		r := runCLI(t, b, "sysprep", "template.qcow2", "--", "--dry-run")
		if r.code != 1 || !strings.Contains(r.stderr, "--dry-run") {
			t.Errorf("exit %d, want 1 with --dry-run taken as an image:\n%s", r.code, r.stderr)
		}
		if b.Images["template.qcow2"].Commits != 1 {
			t.Errorf("template.qcow2 was not prepared: --dry-run after -- is an operand")
		}
	})
}
