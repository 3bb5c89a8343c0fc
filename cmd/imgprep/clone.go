package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v3"

	"github.com/imgprep/imgprep/pkg/batch"
	"github.com/imgprep/imgprep/pkg/clone"
	"github.com/imgprep/imgprep/pkg/customize"
	"github.com/imgprep/imgprep/pkg/ops"
)

func cloneCommand(e env) *cli.Command {
	custom := &customizations{}
	return custom.addTo(&cli.Command{
		Name:      "clone",
		Usage:     "make clones of a template (linked overlays or full copies), each prepared as its own machine",
		ArgsUsage: "TEMPLATE DEST... | TEMPLATE --count N --name-pattern 'web-{n}.qcow2'",
		Description: "Creates each clone, then runs sysprep's operations on it (never on the template,\n" +
			"which is only read). A clone that fails is removed; the others go on.",
		OnUsageError: onUsageError,
		Flags: flagGroups([]cli.Flag{
			formatFlag(),
			&cli.BoolFlag{Name: "linked", Usage: "qcow2 overlays whose backing file is the template"},
			&cli.BoolFlag{Name: "full", Usage: "independent sparse copies (the default)"},
			&cli.StringFlag{Name: "output-format", Value: "qcow2", Usage: "format of full clones: qcow2 or raw"},
			&cli.IntFlag{Name: "count", Usage: "make `N` clones named by --name-pattern"},
			&cli.StringFlag{Name: "name-pattern", Usage: "clone file names, {n} numbered from 1 (with --count)"},
			&cli.StringFlag{Name: "hostname-pattern", Usage: "give each clone a host name, {n} its number ('web-{n}')"},
			&cli.StringFlag{Name: "machine-id", Usage: "'random': write a fresh /etc/machine-id into each clone"},
			&cli.StringFlag{Name: "manifest", Usage: "write a JSON manifest of the clones to `FILE`"},
			&cli.StringSliceFlag{Name: "operations", Aliases: []string{"operation"}, Usage: "operations to run on each clone, as in sysprep (repeatable)"},
			&cli.StringFlag{Name: "enable", Usage: "run exactly these operations on each clone (comma list)"},
			&cli.BoolFlag{Name: "no-sysprep", Usage: "create the clones only; run no operation"},
			&cli.IntFlag{Name: "jobs", Aliases: []string{"j"}, Usage: "clones made at once (default: the number of CPUs)"},
			&cli.BoolFlag{Name: "json", Usage: "one JSON object per clone as it finishes, then a summary"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print errors only"},
		}, backingFlags(), identityOpFlags(identityFlagText{modeNote: "; not with --machine-id random", claimTarget: " into each clone"})),
		Action: action(e, func(ctx context.Context, c *cli.Command) error { return cloneAction(ctx, c, e, custom) }),
	})
}

// cloneOperations selects the clones' operations as sysprep does: the
// catalogue with its options, then the customizations in command-line
// order.
func cloneOperations(c *cli.Command, custom *customizations) ([]ops.Operation, error) {
	if c.IsSet("machine-id-mode") && c.String("machine-id") != "" {
		return nil, usagef("--machine-id-mode and --machine-id: the clone's machine-id is either left for first boot or set, not both")
	}
	selected, err := selectOperations(c, custom)
	if err != nil {
		return nil, err
	}
	for _, s := range custom.steps {
		if s.Kind == customize.Hostname && c.String("hostname-pattern") != "" {
			return nil, usagef("--hostname and --hostname-pattern: give each clone its name with --hostname-pattern only")
		}
	}
	return selected, nil
}

// clonePlan is what the command line asks for.
type clonePlan struct {
	template  string
	dests     []string
	hostnames []string
	randomID  bool
	opts      clone.Options
}

func parseClone(c *cli.Command, custom *customizations) (*clonePlan, error) {
	if err := checkFormat(c); err != nil {
		return nil, err
	}
	if err := checkJobs(c); err != nil {
		return nil, err
	}
	args := c.Args().Slice()
	if len(args) == 0 {
		return nil, usagef("clone: no TEMPLATE given")
	}
	p := &clonePlan{template: args[0]}
	switch {
	case c.Bool("linked") && c.Bool("full"):
		return nil, usagef("--linked and --full cannot be used together")
	case c.Bool("linked"):
		p.opts.Mode = clone.Linked
		if c.IsSet("output-format") && c.String("output-format") != "qcow2" {
			return nil, usagef("--output-format %s: linked clones are qcow2 overlays", c.String("output-format"))
		}
	default:
		p.opts.Mode = clone.Full
		switch f := c.String("output-format"); f {
		case "qcow2", "raw":
			p.opts.OutputFormat = f
		default:
			return nil, usagef("--output-format %q: want qcow2 or raw", f)
		}
	}
	p.dests = args[1:]
	switch n, pat := c.Int("count"), c.String("name-pattern"); {
	case (n != 0 || pat != "") && len(p.dests) > 0:
		return nil, usagef("give either DEST... or --count with --name-pattern, not both")
	case n != 0 || pat != "":
		if n <= 0 || pat == "" {
			return nil, usagef("--count N (N > 0) and --name-pattern go together")
		}
		for i := 1; i <= n; i++ {
			d, err := clone.Expand(pat, i)
			if err != nil {
				return nil, usagef("--name-pattern: %v", err)
			}
			p.dests = append(p.dests, d)
		}
	case len(p.dests) == 0:
		return nil, usagef("clone: no DEST given (or --count N --name-pattern PATTERN)")
	}
	seen := map[string]bool{}
	tmplAbs, _ := filepath.Abs(p.template)
	for _, d := range p.dests {
		abs, _ := filepath.Abs(d)
		if seen[abs] || abs == tmplAbs {
			return nil, usagef("clone: destination %s given twice, or is the template", d)
		}
		seen[abs] = true
	}
	if pat := c.String("hostname-pattern"); pat != "" {
		for i := range p.dests {
			h, err := clone.Expand(pat, i+1)
			if err == nil {
				err = clone.ValidHostname(h)
			}
			if err != nil {
				return nil, usagef("--hostname-pattern: %v", err)
			}
			p.hostnames = append(p.hostnames, h)
		}
	}
	switch m := c.String("machine-id"); m {
	case "":
	case "random":
		p.randomID = true
	default:
		return nil, usagef("--machine-id %q: only 'random' is supported", m)
	}
	if !c.Bool("no-sysprep") {
		selected, err := cloneOperations(c, custom)
		if err != nil {
			return nil, err
		}
		p.opts.Operations = selected
	} else {
		for _, f := range c.FlagNames() {
			if f != "no-sysprep" && c.IsSet(f) && sysprepOnly[f] {
				return nil, usagef("--no-sysprep runs no operation; drop --%s", f)
			}
		}
		if len(custom.steps) > 0 {
			return nil, usagef("--no-sysprep runs no operation; drop the customizations")
		}
	}
	p.opts.Format = c.String("format")
	p.opts.AllowBacking = c.StringSlice("allow-backing")
	p.opts.BackingFormat = c.String("backing-format")
	return p, nil
}

// sysprepOnly are the options that only mean something with sysprep
// (not the claim token, which may come from the environment).
var sysprepOnly = map[string]bool{
	"operations": true, "enable": true, "machine-id-mode": true, "netdata-claim-rooms": true,
	"netdata-claim-proxy": true, "netdata-claim-insecure": true, "remove-user-accounts": true, "keep-user-accounts": true,
	"cloud-init-network": true,
}

func cloneAction(ctx context.Context, c *cli.Command, e env, custom *customizations) error {
	p, err := parseClone(c, custom)
	if err != nil {
		return err
	}
	if e.backend == nil {
		return runError{errNoBackend}
	}
	p.opts.Backend = backendOf(c, e)
	if c.Bool("trace") {
		p.opts.Operations = traceOperations(e.stderr, p.opts.Operations)
	}
	asJSON, quiet := c.Bool("json"), c.Bool("quiet")
	jobs := batch.Jobs(c.Int("jobs"), len(p.dests))
	prog := newProgress(e, !asJSON && !quiet, len(p.dests), jobs, "clones")
	bp := &batchPrinter{e: e, prog: prog, asJSON: asJSON, quiet: quiet}
	results := make([]*clone.Result, len(p.dests))
	obs := observer{start: prog.started, finish: func(o batch.Outcome) {
		r := results[o.Index]
		if r != nil {
			r.Error = userMessage(r.Error)
			if r.Report != nil {
				r.Report.Error = userMessage(r.Report.Error)
			}
		}
		bp.item(o, r, func(w io.Writer) { fmt.Fprintln(w, cloneLine(p.template, r)) })
	}}
	sum := batch.Run(ctx, p.dests, batch.Options{Jobs: jobs, Observer: obs}, func(ctx context.Context, s batch.Slot) error {
		opts := p.opts
		if p.hostnames != nil {
			opts.Identity.Hostname = p.hostnames[s.Index]
		}
		if p.randomID {
			id, err := clone.RandomMachineID()
			if err != nil {
				results[s.Index] = &clone.Result{Path: s.Item, Mode: opts.Mode, Operations: []string{}, Error: err.Error()}
				return err
			}
			opts.Identity.MachineID = id
		}
		if prog.live() && opts.Mode == clone.Full {
			opts.Progress = func(done, total int64) {
				prog.status(s.Worker, "copying "+batch.Bar(done, total, 20)+" "+batch.Percent(done, total))
			}
		}
		r, err := clone.Clone(ctx, p.template, s.Item, opts)
		results[s.Index] = r
		return err
	})
	if err := bp.end(sum); err != nil {
		return err
	}
	if path := c.String("manifest"); path != "" {
		m := clone.Manifest{Template: p.template, Mode: p.opts.Mode, Clones: []clone.Result{}, Failures: sum.Failures}
		for _, r := range results {
			if r != nil && r.Error == "" {
				m.Clones = append(m.Clones, *r)
			}
		}
		if err := clone.WriteManifest(path, m); err != nil {
			printError(e.stderr, err)
			if sum.Failed == 0 {
				return cli.Exit("the clones were made but the manifest was not written", exitFailed)
			}
		}
	}
	if sum.Failed > 0 {
		return failedExit(sum, "clones")
	}
	return nil
}

// cloneLine is the plain report of one clone.
func cloneLine(template string, r *clone.Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s): %s clone of %s", escape(r.Path), r.Format, r.Mode, escape(template))
	if r.BackingFile != "" {
		fmt.Fprintf(&b, ", backing file %s (%s)", escape(r.BackingFile), r.BackingFormat)
	}
	if r.Report != nil {
		fmt.Fprintf(&b, "; prepared: %d %s changed", len(r.Report.Changes()), plural(len(r.Report.Changes()), "path"))
	} else {
		b.WriteString("; not prepared (--no-sysprep)")
	}
	if r.Hostname != "" {
		fmt.Fprintf(&b, "; hostname %s", escape(r.Hostname))
	}
	if r.MachineID != "" {
		fmt.Fprintf(&b, "; machine-id %s", r.MachineID)
	}
	return b.String()
}
