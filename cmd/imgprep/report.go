package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/urfave/cli/v3"

	"github.com/imgprep/imgprep/pkg/audit"
	"github.com/imgprep/imgprep/pkg/shard"
)

func reportCommand(e env) *cli.Command {
	return &cli.Command{
		Name:         "report",
		Usage:        "work with the JSON reports of sharded runs",
		OnUsageError: onUsageError,
		// urfave's own answer to an unknown subcommand exits 3
		Action: func(_ context.Context, c *cli.Command) error {
			if c.NArg() == 0 {
				return cli.ShowSubcommandHelp(c)
			}
			return usagef("report: unknown command %q (commands: merge)", c.Args().First())
		},
		Commands: []*cli.Command{{
			Name:      "merge",
			Usage:     "combine the --json output of the shards of one run into one summary",
			ArgsUsage: "FILE|DIR...",
			Description: "Reads the JSON lines each shard wrote (sysprep --json, inspect --json or audit --json,\n" +
				"with --shard; '-' reads standard input) and prints one summary: every image counted once\n" +
				"(done when any shard's report of it succeeded), the failures, the shards that never\n" +
				"reported, and for audit shards the identities shared across shards. A DIR stands for its\n" +
				"*.json and *.jsonl files (--report's directory). Exit 1 when an image\n" +
				"failed, a shard is missing or an identity is shared.",
			OnUsageError: onUsageError,
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "json", Usage: "the summary as one JSON object"},
				&cli.BoolFlag{Name: "strict", Usage: "audit: shared filesystem UUIDs and host names fail the merge too"},
			},
			Action: action(e, func(ctx context.Context, c *cli.Command) error { return reportMergeAction(c, e) }),
		}},
	}
}

func reportMergeAction(c *cli.Command, e env) error {
	if c.NArg() == 0 {
		return usagef("report merge: no FILE given")
	}
	var inputs []shard.Input
	names, err := reportFiles(c.Args().Slice())
	if err != nil {
		return err
	}
	for _, name := range names {
		if name == "-" {
			r := e.stdin
			if r == nil {
				r = os.Stdin
			}
			inputs = append(inputs, shard.Input{Name: "standard input", R: r})
			continue
		}
		f, err := os.Open(name)
		if err != nil {
			return runError{err}
		}
		defer f.Close()
		inputs = append(inputs, shard.Input{Name: name, R: f})
	}
	strict := c.Bool("strict")
	m, err := shard.Merge(inputs, shard.MergeOptions{FilesystemUUIDWarning: !strict})
	if err != nil {
		return runError{err}
	}
	if c.Bool("json") {
		b, err := json.Marshal(m)
		if err != nil {
			return runError{err}
		}
		fmt.Fprintf(e.stdout, "%s\n", b)
	} else {
		printMerged(e.stdout, m)
	}
	var why []string
	if m.Failed > 0 {
		why = append(why, fmt.Sprintf("%d of %d images failed", m.Failed, m.Images))
	}
	if len(m.Missing) > 0 {
		why = append(why, fmt.Sprintf("%d of %d shards sent no report", len(m.Missing), m.Count))
	}
	if a := m.Audit; a != nil {
		if a.Shared > 0 {
			why = append(why, fmt.Sprintf("%d shared %s", a.Shared, identities(a.Shared)))
		}
		if strict && a.Warnings > 0 {
			why = append(why, fmt.Sprintf("%d %s (--strict)", a.Warnings, plural(a.Warnings, "warning")))
		}
		if n := len(a.Failures); n > 0 {
			why = append(why, fmt.Sprintf("%d of %d images unreadable", n, a.Images))
		}
	}
	if len(why) == 0 {
		return nil
	}
	return cli.Exit("report merge: "+strings.Join(why, ", "), exitFailed)
}

// printMerged writes the human summary of a merge.
func printMerged(w io.Writer, m *shard.Merged) {
	fmt.Fprintf(w, "merged %d %s", m.Reports, plural(m.Reports, "report"))
	if m.Count > 0 {
		fmt.Fprintf(w, " from %d of %d shards", len(m.Shards), m.Count)
	}
	fmt.Fprintln(w)
	if len(m.Missing) > 0 {
		ks := make([]string, len(m.Missing))
		for i, k := range m.Missing {
			ks[i] = fmt.Sprintf("%d/%d", k, m.Count)
		}
		fmt.Fprintf(w, "missing shards: %s\n", strings.Join(ks, " "))
	}
	if m.Images > 0 || m.Audit == nil {
		fmt.Fprintf(w, "images: %d, done %d, failed %d\n", m.Images, m.Done, m.Failed)
	}
	for _, f := range m.Failures {
		line := userMessage(f.Error)
		if !strings.Contains(line, f.Item) {
			line = f.Item + ": " + line
		}
		fmt.Fprintf(w, "  failed: %s\n", escape(line))
	}
	if len(m.Repeated) > 0 {
		fmt.Fprintf(w, "reported by more than one shard (counted once): %s\n", strings.Join(escapeAll(m.Repeated), " "))
	}
	if m.Audit != nil {
		printMergedAudit(w, m.Audit)
	}
}

// printMergedAudit writes the cross-shard audit: identities by digest.
func printMergedAudit(w io.Writer, r *audit.Report) {
	fmt.Fprintf(w, "audit: %d %s (%d read)\n", r.Images, plural(r.Images, "image"), r.Inspected)
	for _, g := range r.Groups {
		fmt.Fprintf(w, "%s: %s (digest %.16s) shared by %d images\n", g.Severity, g.Kind, escape(g.Value), g.Images)
		for _, h := range g.Holders {
			fmt.Fprintf(w, "    %s  %s\n", escape(h.Image), escape(h.Where))
		}
	}
	for _, f := range r.Failures {
		fmt.Fprintf(w, "  unreadable: %s\n", escape(userMessage(f.Error)))
	}
	fmt.Fprintf(w, "result: %d shared %s, %d %s\n", r.Shared, identities(r.Shared), r.Warnings, plural(r.Warnings, "warning"))
}

// reportFiles expands each directory of args into its *.json and *.jsonl
// files, sorted.
func reportFiles(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		if fi, err := os.Stat(a); err != nil || !fi.IsDir() {
			out = append(out, a)
			continue
		}
		var found []string
		for _, pat := range []string{"*.json", "*.jsonl"} {
			m, err := filepath.Glob(filepath.Join(a, pat))
			if err != nil {
				return nil, usagef("report merge: %s: %v", a, err)
			}
			found = append(found, m...)
		}
		if len(found) == 0 {
			return nil, runError{fmt.Errorf("report merge: %s: no *.json or *.jsonl file", a)}
		}
		sort.Strings(found)
		out = append(out, found...)
	}
	return out, nil
}
