package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v3"

	"github.com/imgprep/imgprep/pkg/batch"
	"github.com/imgprep/imgprep/pkg/ops/netdata"
	"github.com/imgprep/imgprep/pkg/sysprep"
)

func inspectCommand(e env) *cli.Command {
	return &cli.Command{
		Name:         "inspect",
		Usage:        "describe images read-only: format, partitions, filesystems, OS and identity",
		ArgsUsage:    "IMAGE...",
		OnUsageError: onUsageError,
		Flags: append([]cli.Flag{
			formatFlag(),
			addFlag(),
			&cli.BoolFlag{Name: "json", Usage: "one JSON object per image on stdout, one line each (with --shard, then a summary line)"},
			&cli.StringFlag{Name: "from", Usage: "also read image paths, one per line, from `FILE` ('-': standard input)"},
			shardFlag(),
		}, append(backingFlags(), vmFlags()...)...),
		Action: action(e, func(ctx context.Context, c *cli.Command) error {
			set, err := imageSetOf(ctx, c, e)
			if err != nil {
				return err
			}
			if err := checkFormat(c); err != nil {
				return err
			}
			if e.backend == nil {
				return runError{errNoBackend}
			}
			opts := sysprep.Options{Format: c.String("format"), Backend: backendOf(c, e),
				AllowBacking: c.StringSlice("allow-backing"), BackingFormat: c.String("backing-format")}
			failed := 0
			sum := batch.Summary{Total: len(set.paths), Failures: []batch.Failure{}}
			for i, img := range set.paths {
				in, err := sysprep.Inspect(ctx, img, set.options(img, opts))
				if err != nil {
					failed++
					printError(e.stderr, err)
					if in == nil {
						in = &sysprep.Inspection{Image: img, Guests: []sysprep.GuestFacts{}}
					}
					in.Error = userMessage(err.Error())
					sum.Failures = append(sum.Failures, batch.Failure{Index: i, Item: img, Error: in.Error})
				}
				if c.Bool("json") {
					b, jerr := json.Marshal(in)
					if jerr != nil {
						return runError{jerr}
					}
					fmt.Fprintf(e.stdout, "%s\n", b)
				} else if err == nil {
					printInspection(e.stdout, in)
				}
			}
			if c.Bool("json") && set.part != nil {
				sum.Failed, sum.Done = failed, len(set.paths)-failed
				if err := writeSummaryJSON(e.stdout, sum, set.part); err != nil {
					return runError{err}
				}
			}
			if failed > 0 {
				return cli.Exit(fmt.Sprintf("%d of %d images failed", failed, len(set.paths)), exitFailed)
			}
			return nil
		}),
	}
}

func printInspection(w io.Writer, in *sysprep.Inspection) {
	i := in.Info
	fmt.Fprintf(w, "%s: %s, virtual size %s\n", escape(in.Image), i.Format, size(i.VirtualSize))
	for n, l := range i.Chain {
		if n == 0 {
			continue
		}
		fmt.Fprintf(w, "  backing file: %s (%s)\n", escape(l.Path), l.Format)
	}
	table := i.Table
	if i.DiskUUID != "" {
		table += " " + i.DiskUUID
	}
	fmt.Fprintf(w, "  partition table: %s\n", escape(table))
	for _, p := range i.Partitions {
		name := ""
		if p.Name != "" {
			name = " " + fmt.Sprintf("%q", p.Name)
		}
		fmt.Fprintf(w, "    %d: start %d, %s, type %s%s, uuid %s\n", p.Number, p.Start, size(p.Size), escape(p.Type), name, escape(p.UUID))
	}
	fmt.Fprintf(w, "  filesystems:\n")
	mounted := map[string][]string{}
	for _, g := range in.Guests {
		for _, m := range g.Mounts {
			mounted[m.Filesystem] = append(mounted[m.Filesystem], m.Point)
		}
	}
	for _, f := range i.Filesystems {
		var attrs []string
		for _, p := range mounted[f.Desc] {
			attrs = append(attrs, "mounted at "+p)
		}
		if f.UUID != "" {
			attrs = append(attrs, "UUID="+f.UUID)
		}
		if f.Label != "" {
			attrs = append(attrs, "LABEL="+f.Label)
		}
		switch {
		case f.Writable:
			attrs = append(attrs, "writable")
		case f.Why != "":
			attrs = append(attrs, f.Why)
		case !f.Supported && f.Type != "":
			attrs = append(attrs, "imgprep has no "+f.Type+" engine")
		}
		fmt.Fprintf(w, "    %s: %s\n", escape(f.Desc), escape(strings.Join(attrs, ", ")))
	}
	for _, g := range in.Guests {
		fmt.Fprintf(w, "  guest on %s: %s\n", escape(g.Root), escape(orDash(g.OS)))
		fmt.Fprintf(w, "    hostname: %s\n", escape(orLink(g, "/etc/hostname", g.Hostname)))
		for _, m := range g.Mounts {
			fmt.Fprintf(w, "    mount %s: %s\n", escape(m.Point), escape(m.Filesystem))
		}
		fmt.Fprintf(w, "    /etc/machine-id: %s\n", escape(idString(g.MachineID)))
		fmt.Fprintf(w, "    /var/lib/dbus/machine-id: %s\n", escape(idString(g.DbusID)))
		fmt.Fprintf(w, "    netdata guid: %s\n", escape(orLink(g, netdata.GUIDPath, g.Netdata.GUID)))
		fmt.Fprintf(w, "    netdata claimed_id: %s\n", escape(orLink(g, netdata.CloudDir+"/claimed_id", g.Netdata.ClaimedID)))
		claim := "absent"
		if g.Netdata.ClaimConf {
			claim = "present (token not shown)"
		}
		fmt.Fprintf(w, "    netdata claim.conf: %s\n", claim)
		for _, k := range g.SSHKeys {
			fmt.Fprintf(w, "    ssh host key %s: %s %s\n", escape(k.Path), escape(k.Type), escape(k.Fingerprint))
		}
		for _, l := range g.Symlinks {
			if strings.HasPrefix(l.Path, "/etc/ssh/") {
				fmt.Fprintf(w, "    ssh host key %s: %s (not followed)\n", escape(l.Path), escape(l.String()))
			}
		}
		for _, n := range g.Notes {
			fmt.Fprintf(w, "    note: %s\n", escape(userMessage(n)))
		}
	}
	for _, n := range in.Notes {
		fmt.Fprintf(w, "  note: %s\n", escape(userMessage(n)))
	}
}

// orLink shows an identity value, "symlink to X" when its file is a
// symlink (never followed), or "-".
func orLink(g sysprep.GuestFacts, p, v string) string {
	if l, ok := g.LinkAt(p); ok {
		return l.String() + " (not followed)"
	}
	return orDash(v)
}

func idString(f sysprep.IDFact) string {
	if f.Target != "" {
		return "symlink to " + f.Target + " (not followed)"
	}
	if f.Value != "" {
		return f.State + " " + f.Value
	}
	return f.State
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// size prints a byte count the way qemu-img info does, with the exact
// count in parentheses.
func size(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	v := float64(n)
	u := 0
	for v >= 1024 && u < len(units)-1 {
		v /= 1024
		u++
	}
	if u == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.3g %s (%d bytes)", v, units[u], n)
}
