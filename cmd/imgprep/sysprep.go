package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v3"

	"github.com/imgprep/imgprep/pkg/image"
	"github.com/imgprep/imgprep/pkg/sysprep"
)

func formatFlag() cli.Flag {
	return &cli.StringFlag{Name: "format", Value: "auto", Usage: "image format: auto, raw or qcow2"}
}

func backingFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "allow-backing", Usage: "a directory tree where backing files may live (repeatable)"},
		&cli.StringFlag{Name: "backing-format", Usage: "backing file format when the image records none"},
	}
}

// journalFlags say where rollback journals live.
func journalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "journal-dir", Usage: "keep rollback journals in `DIR`, named after each image's identity (default: beside an image file; " + image.DefaultDeviceJournalDir + " for a block device)"},
		&cli.BoolFlag{Name: "volatile-journal", Usage: "allow --journal-dir on tmpfs or devtmpfs (a power loss then loses the journal)"},
	}
}

// journalOptions reads the journal flags.
func journalOptions(c *cli.Command) image.JournalOptions {
	return image.JournalOptions{Dir: c.String("journal-dir"), Volatile: c.Bool("volatile-journal")}
}

func checkFormat(c *cli.Command) error {
	switch f := c.String("format"); f {
	case "auto", "raw", "qcow2":
		return nil
	default:
		return usagef("--format %q: want auto, raw or qcow2", f)
	}
}

func sysprepCommand(e env) *cli.Command {
	custom := &customizations{}
	return custom.addTo(&cli.Command{
		Name:      "sysprep",
		Usage:     "remove the identity a template would hand to every clone",
		ArgsUsage: "IMAGE...",
		Description: "Runs the selected operations (see list-operations) on every guest of each image,\n" +
			"then commits all changes at once. A failure leaves that image byte-identical.",
		OnUsageError: onUsageError,
		Flags: flagGroups([]cli.Flag{
			formatFlag(),
			addFlag(),
			&cli.StringSliceFlag{Name: "operations", Aliases: []string{"operation"}, Usage: "operations to run: comma list, 'defaults', 'all', '-name' removes (repeatable)"},
			&cli.StringFlag{Name: "enable", Usage: "run exactly these operations (comma list)"},
			&cli.BoolFlag{Name: "list-operations", Usage: "list the operations, as imgprep list-operations, and exit"},
			&cli.BoolFlag{Name: "dry-run", Aliases: []string{"n", "dryrun"}, Usage: "do everything but write; report what would change"},
			&cli.BoolFlag{Name: "json", Usage: "one JSON report per image on stdout, one line each"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print errors only"},
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "also print the filesystem of each change and the bytes written"},
		}, identityOpFlags(identityFlagText{}), backingFlags(), batchFlags(), []cli.Flag{shardFlag(), reportFlag()}, vmFlags(), protectFlags(), journalFlags()),
		Action: action(e, func(ctx context.Context, c *cli.Command) error { return sysprepAction(ctx, c, e, custom) }),
	})
}

func sysprepAction(ctx context.Context, c *cli.Command, e env, custom *customizations) error {
	if c.Bool("list-operations") {
		return listOperations(c)
	}
	set, err := imageSetOf(ctx, c, e)
	if err != nil {
		return err
	}
	if err := checkFormat(c); err != nil {
		return err
	}
	// Customizations run after the operations, in command-line order.
	selected, err := selectOperations(c, custom)
	if err != nil {
		return err
	}
	if len(selected) == 0 {
		return usagef("no operations selected (see imgprep list-operations)")
	}
	if e.backend == nil {
		return runError{errNoBackend}
	}
	opts := sysprep.Options{
		Format: c.String("format"), DryRun: c.Bool("dry-run"), Operations: selected,
		AllowBacking: c.StringSlice("allow-backing"), BackingFormat: c.String("backing-format"), Backend: backendOf(c, e),
		Journal: journalOptions(c),
	}
	if c.Bool("trace") {
		opts.Operations = traceOperations(e.stderr, opts.Operations)
	}
	return runSysprepBatch(ctx, c, e, set, opts)
}

var errNoBackend = errors.New("this build of imgprep cannot open disk images (the image layers are missing)")

// printReport writes the human summary of one image.
func printReport(w io.Writer, r *sysprep.Report, verbose bool) {
	changes := r.Changes()
	verb := "prepared"
	if r.DryRun {
		verb = "dry run, nothing written"
	}
	fmt.Fprintf(w, "%s (%s): %s in %s\n", escape(r.Image), r.Format, verb, formatMS(r.DurationMS))
	// The operation and action columns are as wide as their longest
	// entry in this report.
	opWidth, actWidth := 0, 0
	for _, ch := range changes {
		opWidth = max(opWidth, len(ch.Operation))
		actWidth = max(actWidth, len(ch.Action))
	}
	for _, g := range r.Guests {
		os := ""
		if g.OS != "" {
			os = " (" + escape(g.OS) + ")"
		}
		fmt.Fprintf(w, "  guest on %s%s\n", escape(g.Root), os)
		if len(g.Changes) == 0 {
			fmt.Fprintf(w, "    nothing to change\n")
		}
		for _, ch := range g.Changes {
			line := fmt.Sprintf("    %-*s %-*s %s", opWidth, ch.Operation, actWidth, ch.Action, escape(ch.Path))
			if ch.Detail != "" {
				line += " (" + escape(ch.Detail) + ")"
			}
			if verbose {
				line += "  [" + escape(ch.Filesystem) + "]"
			}
			fmt.Fprintln(w, strings.TrimRight(line, " "))
		}
		for _, n := range g.Notes {
			fmt.Fprintf(w, "    note: %s\n", n)
		}
	}
	would := ""
	if r.DryRun {
		would = "would be "
	}
	fmt.Fprintf(w, "  operations: %s; %d %s %schanged\n", strings.Join(r.Operations, ", "), len(changes), plural(len(changes), "path"), would)
	if len(r.Filesystems) > 0 {
		fmt.Fprintf(w, "  filesystems touched: %s\n", strings.Join(escapeAll(r.Filesystems), ", "))
	}
	if verbose {
		fmt.Fprintf(w, "  bytes %swritten: %d\n", would, r.BytesStaged)
	}
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

func formatMS(ms float64) string {
	if ms >= 1000 {
		return fmt.Sprintf("%.2f s", ms/1000)
	}
	return fmt.Sprintf("%.1f ms", ms)
}
