package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v3"

	"github.com/imgprep/imgprep/pkg/audit"
	"github.com/imgprep/imgprep/pkg/batch"
	"github.com/imgprep/imgprep/pkg/shard"
	"github.com/imgprep/imgprep/pkg/sysprep"
)

func auditCommand(e env) *cli.Command {
	return &cli.Command{
		Name:      "audit",
		Usage:     "find images that share an identity (machine-id, Netdata, SSH host keys, filesystem UUIDs), read-only",
		ArgsUsage: "IMAGE...",
		Description: "Reads every image read-only, in parallel, and reports the groups of images holding the\n" +
			"same machine-id, Netdata GUID or claimed_id, or SSH host key (errors), and the same\n" +
			"filesystem UUID or host name (warnings; --strict makes them errors). Exit 1 when any\n" +
			"error-level identity is shared or an image cannot be read.",
		OnUsageError: onUsageError,
		Flags: flagGroups([]cli.Flag{
			formatFlag(),
			&cli.BoolFlag{Name: "json", Usage: "the report as one JSON object"},
			&cli.BoolFlag{Name: "strict", Usage: "shared filesystem UUIDs and host names fail the audit too"},
		}, backingFlags(), batchFlags(), []cli.Flag{shardFlag(), reportFlag()}),
		Action: action(e, func(ctx context.Context, c *cli.Command) error { return auditAction(ctx, c, e) }),
	}
}

func auditAction(ctx context.Context, c *cli.Command, e env) error {
	set, err := imageSetOf(ctx, c, e)
	if err != nil {
		return err
	}
	images := set.paths
	if err := checkFormat(c); err != nil {
		return err
	}
	if err := checkJobs(c); err != nil {
		return err
	}
	if e.backend == nil {
		return runError{errNoBackend}
	}
	strict := c.Bool("strict")
	jobs := batch.Jobs(c.Int("jobs"), len(images))
	prog := newProgress(e, !c.Bool("json") && len(images) > 1, len(images), jobs, "images")
	run := audit.Run
	if set.part != nil {
		// A shard also writes the digests of every identity it saw, for
		// imgprep report merge to find those shared across shards.
		key := auditDigestKey(e)
		run = func(ctx context.Context, images []string, opts audit.Options) *audit.Report {
			return audit.RunDigests(ctx, images, opts, key)
		}
	}
	rep := run(ctx, images, audit.Options{
		Inspect: sysprep.Options{Format: c.String("format"), Backend: backendOf(c, e),
			AllowBacking: c.StringSlice("allow-backing"), BackingFormat: c.String("backing-format")},
		Jobs: jobs, FilesystemUUIDWarning: !strict,
		Observer: observer{start: prog.started, finish: func(o batch.Outcome) { prog.finished(o, e, "", "") }},
	})
	prog.close()
	for i := range rep.Failures {
		rep.Failures[i].Error = userMessage(rep.Failures[i].Error)
	}
	b, err := json.Marshal(struct {
		*audit.Report
		Shard *shard.Spec `json:"shard,omitempty"`
	}{rep, set.part})
	if err != nil {
		return runError{err}
	}
	if err := writeReport(c, set.part, b); err != nil {
		return err
	}
	if c.Bool("json") {
		fmt.Fprintf(e.stdout, "%s\n", b)
	} else {
		printAudit(e.stdout, rep)
	}
	for _, f := range rep.Failures {
		fmt.Fprintf(e.stderr, "imgprep: %s\n", escape(userMessage(f.Error)))
	}
	failed := rep.Shared > 0 || len(rep.Failures) > 0 || (strict && rep.Warnings > 0)
	if !failed {
		return nil
	}
	var why []string
	if n := rep.Shared; n > 0 {
		why = append(why, fmt.Sprintf("%d shared %s", n, identities(n)))
	}
	if strict && rep.Warnings > 0 {
		why = append(why, fmt.Sprintf("%d %s (--strict)", rep.Warnings, plural(rep.Warnings, "warning")))
	}
	if n := len(rep.Failures); n > 0 {
		why = append(why, fmt.Sprintf("%d of %d images unreadable", n, rep.Images))
	}
	return cli.Exit("audit failed: "+strings.Join(why, ", "), exitFailed)
}

// printAudit writes the human report.
func printAudit(w io.Writer, r *audit.Report) {
	fmt.Fprintf(w, "audited %d %s (%d read)\n", r.Images, plural(r.Images, "image"), r.Inspected)
	for _, g := range r.Groups {
		fmt.Fprintf(w, "%s: %s %s shared by %d images\n", g.Severity, g.Kind, escape(g.Value), g.Images)
		for _, h := range g.Holders {
			fmt.Fprintf(w, "    %s  %s\n", escape(h.Image), escape(h.Where))
		}
	}
	if len(r.Clusters) > 0 {
		fmt.Fprintf(w, "images sharing identities, grouped:\n")
		for i, c := range r.Clusters {
			kinds := make([]string, len(c.Kinds))
			for j, k := range c.Kinds {
				kinds[j] = string(k)
			}
			fmt.Fprintf(w, "  group %d: %d images (%s): %s\n", i+1, len(c.Images), strings.Join(kinds, ", "), strings.Join(escapeAll(c.Images), " "))
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s: %s\n", escape(n.Image), escape(userMessage(n.Note)))
	}
	fmt.Fprintf(w, "result: %d shared %s, %d %s\n", r.Shared, identities(r.Shared), r.Warnings, plural(r.Warnings, "warning"))
}

func identities(n int) string {
	if n == 1 {
		return "identity"
	}
	return "identities"
}
