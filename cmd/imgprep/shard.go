package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v3"

	"github.com/imgprep/imgprep/pkg/shard"
	"github.com/imgprep/imgprep/pkg/sysprep"
)

// shardFlag is --shard, on sysprep, inspect and audit.
func shardFlag() cli.Flag {
	return &cli.StringFlag{Name: "shard", Usage: "process only part `K/N` of the images (0 <= K < N; sorted by resolved path), or 'auto' " +
		"from a Slurm array job, a Kubernetes Indexed Job (with IMGPREP_SHARD_COUNT) or an AWS Batch array job"}
}

// lookupEnv is e's environment; none when e has no lookupEnv.
func (e env) lookup(key string) (string, bool) {
	if e.lookupEnv == nil {
		return "", false
	}
	return e.lookupEnv(key)
}

// shardImages returns this worker's part of images with --shard, and
// the part (nil without --shard). It says on stderr which part it took,
// unless quiet.
func shardImages(c *cli.Command, e env, images []string, quiet bool) ([]string, *shard.Spec, error) {
	v := c.String("shard")
	if v == "" {
		return images, nil, nil
	}
	spec, src, err := shard.Parse(v, e.lookup)
	if err != nil {
		return nil, nil, usageError{err: err}
	}
	part := shard.Paths(spec.Select(shard.Items(images, shard.Resolve)))
	if !quiet {
		fmt.Fprintf(e.stderr, "imgprep: shard %s (%s): %d of %d %s\n", spec, src, len(part), len(images), plural(len(images), "image"))
	}
	return part, &spec, nil
}

// auditDigestKey keys the identity digests of audit shards: the secret
// IMGPREP_AUDIT_KEY that all shards share, or audit.DefaultDigestKey.
func auditDigestKey(e env) []byte {
	if k, ok := e.lookup("IMGPREP_AUDIT_KEY"); ok && k != "" {
		return []byte(k)
	}
	return nil
}

// imageSet is the images a command processes and how to open each.
type imageSet struct {
	paths []string
	part  *shard.Spec // --shard
	// formats holds the format of images whose source names it (a
	// libvirt domain, a Proxmox VM); the others take --format.
	formats map[string]string
	// backing are directories where the images' backing files may live
	// (a libvirt domain's backing chains), besides --allow-backing.
	backing []string
	// disks are the further disks of the one image in paths (-a): the
	// same VM, one guest.
	disks []string
}

// options are opts for the image path.
func (s imageSet) options(path string, opts sysprep.Options) sysprep.Options {
	if f := s.formats[path]; f != "" {
		opts.Format = f
	}
	if len(s.backing) > 0 {
		opts.AllowBacking = append(append([]string(nil), opts.AllowBacking...), s.backing...)
	}
	if len(s.disks) > 0 {
		opts.Disks = s.disks
	}
	return opts
}

// imageSetOf returns the images of the command line (operands, --from),
// each once, and of them this worker's part with --shard.
func imageSetOf(ctx context.Context, c *cli.Command, e env) (imageSet, error) {
	if set, ok, err := addedImages(c); ok || err != nil {
		return set, err
	}
	if set, ok, err := vmImages(ctx, c, e); ok || err != nil {
		return set, err
	}
	images, err := imageArgs(c, e)
	if err != nil {
		return imageSet{}, err
	}
	if len(images) == 0 {
		return imageSet{}, usagef("%s: no IMAGE given", c.Name)
	}
	part, spec, err := shardImages(c, e, images, c.Bool("quiet"))
	if err != nil {
		return imageSet{}, err
	}
	return imageSet{paths: part, part: spec}, nil
}

// reportFlag is --report FILE: the JSON lines of --json, also written to
// FILE, for a container with no shell to redirect standard output.
func reportFlag() cli.Flag {
	return &cli.StringFlag{Name: "report", Usage: "also write the JSON report to `FILE` (replaced; {shard} becomes K-of-N), " +
		"for imgprep report merge; its directory is created"}
}

// reportPath is --report with {shard} expanded ("" without --report).
func reportPath(c *cli.Command, part *shard.Spec) string {
	p := c.String("report")
	s := "all"
	if part != nil {
		s = fmt.Sprintf("%d-of-%d", part.Index, part.Count)
	}
	return strings.ReplaceAll(p, "{shard}", s)
}

// openReport creates the --report file (nil without --report).
func openReport(c *cli.Command, part *shard.Spec) (*os.File, error) {
	p := reportPath(c, part)
	if p == "" {
		return nil, nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, runError{fmt.Errorf("--report: %w", err)}
	}
	f, err := os.Create(p)
	if err != nil {
		return nil, runError{fmt.Errorf("--report: %w", err)}
	}
	return f, nil
}

// writeReport writes line to the --report file, if any.
func writeReport(c *cli.Command, part *shard.Spec, line []byte) error {
	f, err := openReport(c, part)
	if f == nil || err != nil {
		return err
	}
	_, err = fmt.Fprintf(f, "%s\n", line)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return runError{fmt.Errorf("--report: %w", err)}
	}
	return nil
}
