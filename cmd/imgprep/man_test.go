package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/urfave/cli/v3"

	"github.com/imgprep/imgprep/internal/oracle"
)

var manPath = filepath.Join("..", "..", "docs", "man", "imgprep.1")

// TestManPageHasNoDrift: docs/man/imgprep.1 is what imgprep man makes
// from the command definitions (make man, or -update, rewrites it).
func TestManPageHasNoDrift(t *testing.T) {
	r := runCLI(t, memBackend(), "man")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("imgprep man: exit %d\n%s", r.code, r.stderr)
	}
	if *update {
		if err := os.WriteFile(manPath, []byte(r.stdout), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	committed, err := os.ReadFile(manPath)
	if err != nil {
		t.Fatal(err)
	}
	if string(committed) != r.stdout {
		t.Fatalf("%s differs from the command definitions: run make man (or go test ./cmd/imgprep -run TestManPageHasNoDrift -update) and commit it", manPath)
	}
}

// TestManPageRendersAndCoversEveryOption: groff reads the page without a
// warning, and the rendered page names every visible command and each of
// its options; a secret in the environment is never shown as a default.
func TestManPageRendersAndCoversEveryOption(t *testing.T) {
	groff := oracle.Require(t, "groff")
	cmd := exec.Command(groff, "-man", "-ww", "-Tutf8", "-P-cbou", manPath)
	cmd.Env = append(os.Environ(), "MANWIDTH=200")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("groff: %v\n%s", err, stderr.String())
	}
	page := strings.ReplaceAll(string(out), "\u2010\n", "")
	page = strings.ReplaceAll(page, "\u2212", "-")
	page = regexp.MustCompile(` +`).ReplaceAllString(page, " ") // justified lines
	var walk func(prefix string, c *cli.Command)
	walk = func(prefix string, c *cli.Command) {
		if c.Hidden || c.Name == "help" && prefix != "imgprep" {
			return
		}
		name := prefix + " " + c.Name
		if len(subcommands(c)) == 0 {
			if !strings.Contains(page, name) {
				t.Errorf("the man page lacks %q", name)
			}
		}
		for _, f := range visibleFlags(c.Flags) {
			for _, n := range f.Names() {
				dash := "--"
				if len(n) == 1 {
					dash = "-"
				}
				if !strings.Contains(page, dash+n) {
					t.Errorf("the man page lacks %s's option %s%s", name, dash, n)
				}
			}
		}
		for _, sub := range c.Commands {
			walk(name, sub)
		}
	}
	app := newApp(env{})
	for _, c := range app.Commands {
		walk("imgprep", c)
	}
	for _, want := range []string{"EXIT STATUS", "IMGPREP_NETDATA_CLAIM_TOKEN", "imgprep completion"} {
		if !strings.Contains(page, want) {
			t.Errorf("the man page lacks %q", want)
		}
	}

	t.Setenv("IMGPREP_NETDATA_CLAIM_TOKEN", "SECRET-FROM-ENV")
	var b strings.Builder
	if code := run([]string{"imgprep", "man"}, env{stdout: &b, stderr: &b, lookupEnv: os.LookupEnv}); code != 0 || strings.Contains(b.String(), "SECRET-FROM-ENV") {
		t.Fatalf("imgprep man with a claim token in the environment: exit %d, token shown %t", code, strings.Contains(b.String(), "SECRET-FROM-ENV"))
	}
}
