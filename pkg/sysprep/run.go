package sysprep

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/imgprep/imgprep/pkg/guest"
	"github.com/imgprep/imgprep/pkg/image"
	"github.com/imgprep/imgprep/pkg/ops"
)

// Errors of Run.
var (
	ErrNoOS         = errors.New("sysprep: " + noOS)
	ErrNoOperations = errors.New("sysprep: no operations selected")
)

const noOS = "no operating system found"

// Options configure Run.
type Options struct {
	Format        string // "auto" when empty
	DryRun        bool
	Operations    []ops.Operation
	AllowBacking  []string
	BackingFormat string
	// Disks are further disks of the same VM as the image (virt-sysprep's
	// repeated -a), in the order the VM sees them: one machine is
	// assembled from all, its fstab resolving across them, and all are
	// committed together (each image prepared, then all committed; on a
	// failure every one is rolled back).
	Disks []string
	// Unprotected writes the image (and every disk) even when it is the
	// backing file of linked clones, which the write corrupts (the
	// CLI's --force; a clone just created, which nothing uses yet). By
	// default a run that writes looks for linked clones once the image
	// is open for writing, its locks held, so that a clone created
	// meanwhile cannot slip in between the check and the write, and
	// refuses to write a template that has any (image.TemplateError).
	Unprotected bool
	// CloneDirs are directories searched for linked clones besides the
	// image's own (the CLI's --clones-dir).
	CloneDirs []string
	// Clones keeps the directory scans of the template check across
	// runs (one for a batch); nil means a fresh one for this run.
	Clones *image.CloneIndex
	// Protect, when set, is a further check called once the image (and
	// every disk) is open for writing, its locks held, and before
	// anything is read or written: an error refuses the run.
	Protect func(path string) error
	// Journal says where rollback journals live (a --journal-dir).
	Journal image.JournalOptions
	// Fresh says the caller has just created the image (a clone): a
	// journal found for it belongs to an earlier file and is refused,
	// never applied (image.OpenOptions.Fresh).
	Fresh bool
	// Backend opens the image; nil means Stack{}, the real disk stack.
	Backend Backend
	// Now is the clock used for the duration; time.Now when nil.
	Now func() time.Time
}

// Report is what Run did to one image. Its JSON form is stable.
type Report struct {
	Image       string        `json:"image"`
	Disks       []string      `json:"disks,omitempty"` // Options.Disks
	Format      string        `json:"format,omitempty"`
	DryRun      bool          `json:"dry_run"`
	Operations  []string      `json:"operations"`
	Guests      []GuestReport `json:"guests"`
	Filesystems []string      `json:"filesystems_touched"`
	// BytesStaged counts the bytes of the image file the run staged: on
	// a real run they were written, on a dry run they would have been.
	BytesStaged int64         `json:"bytes_staged"`
	Committed   bool          `json:"committed"`
	Duration    time.Duration `json:"-"`
	DurationMS  float64       `json:"duration_ms"`
	Error       string        `json:"error,omitempty"`
}

// GuestReport is what Run did to one guest.
type GuestReport struct {
	Root    string   `json:"root"`
	OS      string   `json:"os,omitempty"`
	Changes []Change `json:"changes"`
	// Notes say what of the guest was left alone: fstab entries whose
	// filesystem is missing, or that the guest does not mount at boot.
	Notes []string `json:"notes,omitempty"`
}

// Change is an ops.Change with the operation that made it.
type Change struct {
	Operation string `json:"operation"`
	ops.Change
}

// Changes returns every change of the report, guest after guest.
func (r *Report) Changes() []Change {
	var out []Change
	for _, g := range r.Guests {
		out = append(out, g.Changes...)
	}
	return out
}

// protect refuses a run that would write a template under its linked
// clones (unless opts.Unprotected), then calls opts.Protect, for the
// image and every disk. It runs with their locks held.
func protect(path string, opts Options) error {
	paths := append([]string{path}, opts.Disks...)
	if !opts.DryRun && !opts.Unprotected {
		idx := opts.Clones
		if idx == nil {
			idx = image.NewCloneIndex()
		}
		for _, p := range paths {
			if err := idx.Check(p, opts.CloneDirs); err != nil {
				return fmt.Errorf("%w (nothing was written)", err)
			}
		}
	}
	if opts.Protect != nil {
		for _, p := range paths {
			if err := opts.Protect(p); err != nil {
				return err
			}
		}
	}
	return nil
}

// Run prepares the image at path: every selected operation on every guest
// found, then one atomic commit. It returns a report even on failure, and
// then an error naming the image; a failed run leaves the image as it was.
func Run(ctx context.Context, path string, opts Options) (*Report, error) {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	start := now()
	rep := &Report{Image: path, Disks: opts.Disks, DryRun: opts.DryRun, Operations: []string{}, Guests: []GuestReport{}, Filesystems: []string{}}
	for _, op := range opts.Operations {
		rep.Operations = append(rep.Operations, op.Name())
	}
	err := run(ctx, path, opts, rep)
	rep.Duration = now().Sub(start)
	rep.DurationMS = float64(rep.Duration.Microseconds()) / 1000
	if err != nil {
		rep.Error = err.Error()
		rep.Guests = []GuestReport{}
		rep.Filesystems = []string{}
		rep.BytesStaged = 0
	}
	return rep, err
}

func run(ctx context.Context, path string, opts Options, rep *Report) (err error) {
	if opts.Backend == nil {
		opts.Backend = Stack{}
	}
	if len(opts.Operations) == 0 {
		return fmt.Errorf("%s: %w", path, ErrNoOperations)
	}
	format := opts.Format
	if format == "" {
		format = "auto"
	}
	img, err := opts.Backend.Open(ctx, path, OpenOptions{OpenOptions: image.OpenOptions{
		Format: format, Write: !opts.DryRun, DryRun: opts.DryRun,
		AllowBacking: opts.AllowBacking, BackingFormat: opts.BackingFormat,
		Journal: opts.Journal, Fresh: opts.Fresh,
	}, Disks: opts.Disks})
	if err != nil {
		return named(path, err)
	}
	finished := false
	defer func() {
		if !finished {
			img.Finish(false)
		}
		if cerr := img.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("%s: closing: %w", path, cerr)
		}
	}()
	if err := protect(path, opts); err != nil {
		return err
	}
	rep.Format = img.Info().Format
	guests, err := img.Guests()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if len(guests) == 0 {
		return fmt.Errorf("%s: %w%s", path, ErrNoOS, unreadable(img.Info()))
	}
	touched := map[string]bool{}
	for _, g := range guests {
		gr := GuestReport{Root: g.Root(), OS: g.OSRelease()["PRETTY_NAME"], Changes: []Change{}, Notes: g.Warnings()}
		for _, op := range opts.Operations {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			changes, err := op.Apply(ctx, g)
			var ro *guest.ReadOnlyError
			if errors.As(err, &ro) {
				// One line: the image, the path, the filesystem and why
				// it is not written, without the layers between.
				return fmt.Errorf("%s: operation %s: %s: %w (nothing was written)", path, op.Name(), ro.Path, ro)
			}
			if err != nil {
				return fmt.Errorf("%s: operation %s on the guest with root %s: %w (nothing was written)", path, op.Name(), g.Root(), err)
			}
			for _, c := range changes {
				gr.Changes = append(gr.Changes, Change{Operation: op.Name(), Change: c})
				touched[c.Filesystem] = true
			}
		}
		rep.Guests = append(rep.Guests, gr)
	}
	for _, g := range guests {
		if err := g.Sync(); err != nil {
			return fmt.Errorf("%s: writing the changes to %s: %w (nothing was written)", path, g.Root(), err)
		}
	}
	for fs := range touched {
		rep.Filesystems = append(rep.Filesystems, fs)
	}
	sort.Strings(rep.Filesystems)
	finished = true
	staged, err := img.Finish(!opts.DryRun)
	if err != nil {
		var ie *image.Error
		if errors.As(err, &ie) && ie.Image == path {
			return err
		}
		return fmt.Errorf("%s: committing: %w", path, err)
	}
	rep.BytesStaged = staged
	rep.Committed = !opts.DryRun
	return nil
}

// ImageDirs returns the directory of every image, once each, in order: the
// trees where the backing-file policy also lets the images' backing files
// live when they are named together (Options.AllowBacking), so that a
// linked clone in a subdirectory of its template's directory, or beside
// another image named with it, opens without --allow-backing.
func ImageDirs(images []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, p := range images {
		d := filepath.Dir(p)
		if abs, err := filepath.Abs(d); err == nil {
			d = abs
		}
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

// named prefixes err with the image's path, unless it names the image
// already (the real stack's errors, *image.Error, do).
func named(path string, err error) error {
	var ie *image.Error
	if errors.As(err, &ie) && ie.Image == path {
		return err
	}
	return fmt.Errorf("%s: %w", path, err)
}

// unreadable lists the filesystems a guest root could hide on, for the
// "no operating system found" error: "; imgprep cannot look inside xfs on
// the whole disk (imgprep cannot read or write xfs)".
func unreadable(info ImageInfo) string {
	var out []string
	for _, f := range info.Filesystems {
		switch {
		case f.Supported || f.Type == "" || f.Type == "swap":
			continue
		case f.Why != "":
			out = append(out, f.Desc+" ("+f.Why+")")
		default:
			out = append(out, f.Desc)
		}
	}
	if len(out) == 0 {
		return ""
	}
	return "; imgprep cannot look inside " + strings.Join(out, ", ")
}
