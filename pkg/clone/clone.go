package clone

import (
	"context"
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"path/filepath"

	"github.com/imgprep/imgprep/pkg/image"
	"github.com/imgprep/imgprep/pkg/ops"
	"github.com/imgprep/imgprep/pkg/qcow2"
	"github.com/imgprep/imgprep/pkg/storage"
	"github.com/imgprep/imgprep/pkg/sysprep"
)

// Mode is the kind of clone.
type Mode string

// Modes.
const (
	// Linked clones are qcow2 overlays on the template.
	Linked Mode = "linked"
	// Full clones are independent copies.
	Full Mode = "full"
)

// Options configure Clone.
type Options struct {
	Mode Mode
	// OutputFormat of a full clone: "qcow2" (the default) or "raw". A
	// linked clone is always qcow2.
	OutputFormat string
	// Format, AllowBacking and BackingFormat open the template, as in
	// sysprep.Options. The clone's sysprep also allows the template's
	// directory for its backing file.
	Format        string
	AllowBacking  []string
	BackingFormat string
	// Operations run on the clone after creation (sysprep); with none and
	// a zero Identity the clone is left as created.
	Operations []ops.Operation
	// Identity is written last, by IdentityOp.
	Identity Identity
	// Progress, when set, follows a full clone's copy: bytes of the
	// virtual disk done and the total.
	Progress func(done, total int64)
	// Backend runs the clone's sysprep; sysprep.Stack{} when nil.
	Backend sysprep.Backend
}

// Result is one clone, as the manifest records it.
type Result struct {
	Path          string   `json:"path"`
	Mode          Mode     `json:"mode"`
	Format        string   `json:"format"`
	VirtualSize   int64    `json:"virtual_size"`
	BackingFile   string   `json:"backing_file,omitempty"` // as recorded in the clone
	BackingFormat string   `json:"backing_format,omitempty"`
	Hostname      string   `json:"hostname,omitempty"`
	MachineID     string   `json:"machine_id,omitempty"`
	Operations    []string `json:"operations"`
	// Report is the clone's sysprep report, nil when none ran.
	Report *sysprep.Report `json:"-"`
	Error  string          `json:"error,omitempty"`
}

// Clone makes dest a clone of template and prepares it. The template is
// opened read-only, never for writing. dest must not exist. The clone is
// built and prepared under a temporary name in dest's directory and
// renamed to dest only then: a clone interrupted (killed, or ctx
// cancelled by Ctrl-C) never leaves an unprepared machine under its
// final name, and a rerun removes what a killed one left. When any step
// fails, the file Clone created is removed and the error names dest.
func Clone(ctx context.Context, template, dest string, opts Options) (res *Result, err error) {
	res = &Result{Path: dest, Mode: opts.Mode, Operations: []string{}}
	defer func() {
		if err != nil {
			res.Error = err.Error()
		}
	}()
	outFormat, err := checkOptions(opts)
	if err != nil {
		return res, err
	}
	res.Format = outFormat
	if _, err := os.Lstat(dest); err == nil {
		return res, fmt.Errorf("%s: %w", dest, ErrDestExists)
	} else if !errors.Is(err, iofs.ErrNotExist) {
		return res, fmt.Errorf("%s: %w", dest, err)
	}
	tmplAbs, err := filepath.Abs(template)
	if err != nil {
		return res, err
	}
	destAbs, err := filepath.Abs(dest)
	if err != nil {
		return res, err
	}
	h, err := image.Open(template, image.OpenOptions{Format: opts.Format, AllowBacking: opts.AllowBacking, BackingFormat: opts.BackingFormat})
	if err != nil {
		return res, fmt.Errorf("%s: opening the template: %w", dest, err)
	}
	if l, err := storage.Probe(template); err == nil && l.Held.Has(storage.PermWrite) {
		h.Close()
		return res, fmt.Errorf("%s: %w (%s: %s); shut it down first", dest, ErrTemplateBusy, template, l)
	}
	res.VirtualSize = (h.Size() + 511) &^ 511
	if err := cleanStale(destAbs); err != nil {
		h.Close()
		return res, fmt.Errorf("%s: %w", dest, err)
	}
	f, tmp, err := createStaging(destAbs)
	if err != nil {
		h.Close()
		return res, fmt.Errorf("%s: %w", dest, err)
	}
	defer func() {
		if err != nil {
			removeStaging(tmp)
		}
	}()
	if opts.Mode == Linked {
		res.BackingFormat = h.Format()
		res.BackingFile = tmplAbs
		if filepath.Dir(tmplAbs) == filepath.Dir(destAbs) {
			res.BackingFile = filepath.Base(tmplAbs)
		}
		err = createOverlay(f, h, res)
	} else {
		// The handle reports its extents (down the backing chain), so
		// Copy reads only data.
		err = image.Copy(ctx, f, h, image.CopyOptions{Format: outFormat, Progress: opts.Progress})
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if cerr := h.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return res, fmt.Errorf("%s: creating the %s clone: %w", dest, opts.Mode, err)
	}
	if opts.Mode == Full {
		if err := sparsify(tmp); err != nil {
			return res, fmt.Errorf("%s: making the copy sparse: %w", dest, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("%s: %w", dest, err)
	}
	if len(opts.Operations) == 0 && opts.Identity.IsZero() {
		return res, publish(tmp, destAbs)
	}
	list := append([]ops.Operation(nil), opts.Operations...)
	if !opts.Identity.IsZero() {
		list = append(list, NewIdentityOp(opts.Identity))
	}
	allow := append([]string(nil), opts.AllowBacking...)
	if opts.Mode == Linked {
		allow = append(allow, filepath.Dir(tmplAbs))
	}
	rep, err := sysprep.Run(ctx, tmp, sysprep.Options{
		Format: outFormat, Operations: list, AllowBacking: allow,
		BackingFormat: opts.BackingFormat, Backend: opts.Backend, Fresh: true,
		// Nothing uses a file just created as its backing file.
		Unprotected: true,
	})
	if rep != nil {
		rep.Image = dest
	}
	res.Report = rep
	if err != nil {
		return res, fmt.Errorf("%s: preparing the clone: %w", dest, err)
	}
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("%s: %w", dest, err)
	}
	if err := publish(tmp, destAbs); err != nil {
		return res, err
	}
	res.Operations = rep.Operations
	res.Hostname, res.MachineID = opts.Identity.Hostname, opts.Identity.MachineID
	return res, nil
}

func checkOptions(opts Options) (string, error) {
	if err := opts.Identity.Validate(); err != nil {
		return "", err
	}
	switch opts.Mode {
	case Linked:
		if opts.OutputFormat != "" && opts.OutputFormat != image.FormatQcow2 {
			return "", fmt.Errorf("%w: a linked clone is a qcow2 overlay, not %s", ErrFormat, opts.OutputFormat)
		}
	case Full:
		if f := opts.OutputFormat; f != "" && f != image.FormatQcow2 && f != image.FormatRaw {
			return "", fmt.Errorf("%w: %q (want qcow2 or raw)", ErrFormat, f)
		}
		if opts.OutputFormat == image.FormatRaw {
			return image.FormatRaw, nil
		}
	default:
		return "", fmt.Errorf("%w: %q", ErrMode, opts.Mode)
	}
	return image.FormatQcow2, nil
}

// createOverlay writes an empty qcow2 overlay of res.VirtualSize naming
// the template (h) as its backing file.
func createOverlay(f storage.File, h *image.Handle, res *Result) error {
	img, err := qcow2.Create(f, qcow2.CreateOptions{
		Size: res.VirtualSize, BackingFile: res.BackingFile, BackingFormat: res.BackingFormat,
		Backing: func(string, string) (qcow2.Backing, error) { return borrowed{h}, nil },
	})
	if err != nil {
		return err
	}
	return img.Close()
}

// borrowed lends the open template to the new overlay without handing
// over its Close.
type borrowed struct{ h *image.Handle }

func (b borrowed) ReadAt(p []byte, off int64) (int, error) { return b.h.ReadAt(p, off) }
func (b borrowed) Size() int64                             { return b.h.Size() }
func (b borrowed) Close() error                            { return nil }
