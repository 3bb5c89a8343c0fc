package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/urfave/cli/v3"

	"github.com/imgprep/imgprep/pkg/batch"
	"github.com/imgprep/imgprep/pkg/image"
	"github.com/imgprep/imgprep/pkg/sysprep"
)

// protectFlags guard templates of linked clones.
func protectFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "force", Usage: "write an image even when linked clones use it as their backing file (corrupts them)"},
		&cli.StringSliceFlag{Name: "clones-dir", Usage: "also look for linked clones of each image in `DIR` (repeatable)"},
	}
}

// runSysprepBatch prepares images with opts, -j at a time, printing each
// report as it finishes.
func runSysprepBatch(ctx context.Context, c *cli.Command, e env, set imageSet, opts sysprep.Options) error {
	images := set.paths
	if err := checkJobs(c); err != nil {
		return err
	}
	asJSON, quiet, verbose := c.Bool("json"), c.Bool("quiet"), c.Bool("verbose")
	force := c.Bool("force")
	dirs := c.StringSlice("clones-dir")
	idx := image.NewCloneIndex()
	jobs := batch.Jobs(c.Int("jobs"), len(images))
	bp := &batchPrinter{e: e, prog: newProgress(e, !asJSON && !quiet && len(images) > 1, len(images), jobs, "images"), asJSON: asJSON, quiet: quiet, shard: set.part}
	report, err := openReport(c, set.part)
	if err != nil {
		return err
	}
	if report != nil {
		defer report.Close()
		bp.report = report
	}
	reports := make([]*sysprep.Report, len(images))
	obs := observer{start: bp.prog.started, finish: func(o batch.Outcome) {
		rep := reports[o.Index]
		if rep == nil {
			rep = &sysprep.Report{Image: o.Item, DryRun: opts.DryRun, Operations: []string{}, Guests: []sysprep.GuestReport{}, Filesystems: []string{}}
			for _, op := range opts.Operations {
				rep.Operations = append(rep.Operations, op.Name())
			}
			rep.Error = o.Err.Error()
		}
		rep.Error = userMessage(rep.Error)
		bp.item(o, rep, func(w io.Writer) { printReport(w, rep, verbose) })
	}}
	sum := batch.Run(ctx, images, batch.Options{Jobs: jobs, Observer: obs}, func(ctx context.Context, s batch.Slot) error {
		o := set.options(s.Item, opts)
		// Linked clones are looked for by sysprep.Run under the image's
		// lock, the directory scans shared by the batch.
		o.Unprotected = force
		o.Clones, o.CloneDirs = idx, dirs
		rep, err := sysprep.Run(ctx, s.Item, o)
		if errors.Is(err, image.ErrTemplateInUse) {
			err = fmt.Errorf("%w; --force writes it anyway", err)
			rep.Error = err.Error()
		}
		reports[s.Index] = rep
		return err
	})
	if err := bp.end(sum); err != nil {
		return err
	}
	if sum.Failed > 0 {
		return failedExit(sum, "images")
	}
	return nil
}
