package image

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/imgprep/imgprep/pkg/qcow2"
	"github.com/imgprep/imgprep/pkg/storage"
)

// MaxChainDepth bounds the number of backing files below an image.
const MaxChainDepth = 64

// fileID identifies a host file across names: device and inode.
type fileID struct{ dev, ino uint64 }

func idOf(fi os.FileInfo) (fileID, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	return fileID{dev: uint64(st.Dev), ino: st.Ino}, true
}

// chain opens an image's backing files under the host-safety policy and
// records every layer. One chain serves one Open.
type chain struct {
	allow         []string // AllowBacking trees, absolute, as given and resolved
	backingFormat string   // OpenOptions.BackingFormat
	seen          map[fileID]string
	layers        []Layer
}

func newChain(opts OpenOptions) *chain {
	c := &chain{backingFormat: opts.BackingFormat, seen: map[fileID]string{}}
	for _, dir := range opts.AllowBacking {
		// Both as given (for the check on the name) and with symlinks
		// resolved (for the check on the real path).
		if abs, err := filepath.Abs(dir); err == nil {
			c.allow = append(c.allow, abs)
		}
		if real, err := realDir(dir); err == nil {
			c.allow = append(c.allow, real)
		}
	}
	return c
}

// realDir returns dir made absolute with symlinks resolved.
func realDir(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(abs)
}

// note records the file behind path as part of the chain, failing with
// ErrBackingLoop when it already is.
func (c *chain) note(fi os.FileInfo, path string) error {
	id, ok := idOf(fi)
	if !ok {
		return nil
	}
	if prev, dup := c.seen[id]; dup {
		return fmt.Errorf("%w: %s is the same file as %s, already in the chain", ErrBackingLoop, path, prev)
	}
	c.seen[id] = path
	return nil
}

// hasProtocol reports whether QEMU would take name for a protocol
// specification rather than a file name: it contains "://", or a ':'
// comes before any '/' (QEMU's path_has_protocol; "json:{...}",
// "nbd:host:port", "file:x" all match).
func hasProtocol(name string) bool {
	if strings.Contains(name, "://") {
		return true
	}
	colon := strings.IndexByte(name, ':')
	if colon < 0 {
		return false
	}
	slash := strings.IndexByte(name, '/')
	return slash < 0 || colon < slash
}

// within reports whether path lies in the tree rooted at dir (both clean
// and absolute).
func within(path, dir string) bool {
	if path == dir {
		return true
	}
	if dir == "/" {
		return true
	}
	return strings.HasPrefix(path, dir+string(filepath.Separator))
}

// allowed reports whether path lies in one of trees or in an AllowBacking
// tree.
func (c *chain) allowed(path string, trees ...string) bool {
	for _, t := range append(trees, c.allow...) {
		if abs, err := filepath.Abs(t); err == nil && within(path, abs) {
			return true
		}
	}
	return false
}

// trees lists the directory trees allowed for a backing file of an image
// in tree, for messages.
func (c *chain) trees(tree string) string {
	out := []string{tree}
	seen := map[string]bool{tree: true}
	for _, t := range c.allow {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return strings.Join(out, ", ")
}

// resolve applies the policy to the backing name recorded by the image at
// imagePath and returns the real path of the backing file and its stat.
func (c *chain) resolve(imagePath, name string) (string, os.FileInfo, error) {
	if name == "" {
		return "", nil, fmt.Errorf("%w: empty name", ErrBackingNotRegular)
	}
	if hasProtocol(name) {
		return "", nil, ErrBackingProtocol
	}
	dir := filepath.Dir(imagePath)
	p := name
	if !filepath.IsAbs(p) {
		p = filepath.Join(dir, p)
	}
	tree, err := realDir(dir)
	if err != nil {
		return "", nil, err
	}
	// Checked on the name first, so that nothing outside the trees is
	// even looked up, then on the real path, symlinks resolved.
	if abs, err := filepath.Abs(p); err != nil || !c.allowed(abs, tree, filepath.Clean(dir)) {
		return "", nil, fmt.Errorf("%w (%s)", ErrBackingOutsideTree, c.trees(tree))
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %w", ErrBackingNotRegular, err)
	}
	real, err = filepath.Abs(real)
	if err != nil {
		return "", nil, err
	}
	if !c.allowed(real, tree) {
		return "", nil, fmt.Errorf("%w: it resolves to %s (%s)", ErrBackingOutsideTree, real, c.trees(tree))
	}
	fi, err := os.Stat(real)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %w", ErrBackingNotRegular, err)
	}
	if !fi.Mode().IsRegular() {
		return "", nil, fmt.Errorf("%w: %s is a %s", ErrBackingNotRegular, real, kindOf(fi.Mode()))
	}
	return real, fi, nil
}

func kindOf(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&os.ModeCharDevice != 0:
		return "character device"
	case m&os.ModeDevice != 0:
		return "block device"
	case m&os.ModeNamedPipe != 0:
		return "FIFO"
	case m&os.ModeSocket != 0:
		return "socket"
	}
	return "special file"
}

// rawBacking is a raw backing file: its whole content is the disk.
type rawBacking struct {
	f    *storage.OSFile
	size int64
}

func (r *rawBacking) ReadAt(p []byte, off int64) (int, error) {
	return readClamped(r.f, r.size, p, off)
}
func (r *rawBacking) Size() int64 { return r.size }

// Extents maps the raw backing file's holes (see fileExtents), so that a
// qcow2 image above it reports them as zero extents.
func (r *rawBacking) Extents(off, length int64) ([]Extent, error) {
	if off < 0 || length < 0 || off > r.size || length > r.size-off {
		return nil, fmt.Errorf("%w: extents %d+%d of a %d-byte backing file", ErrOutOfRange, off, length, r.size)
	}
	return fileExtents(r.f, off, length), nil
}
func (r *rawBacking) Close() error { return r.f.Close() }

// qcowBacking is a qcow2 backing file and the host file under it.
type qcowBacking struct {
	*qcow2.Image
	f *storage.OSFile
}

func (q *qcowBacking) Close() error {
	err := q.Image.Close()
	if cerr := q.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// opener returns the qcow2 Backing resolver for the image at imagePath,
// depth backing files below the top image.
func (c *chain) opener(imagePath string, depth int) func(name, format string) (qcow2.Backing, error) {
	return func(name, format string) (qcow2.Backing, error) {
		b, err := c.open(imagePath, name, format, depth)
		if err != nil {
			return nil, &BackingError{Image: imagePath, Backing: name, Err: err}
		}
		return b, nil
	}
}

func (c *chain) open(imagePath, name, format string, depth int) (qcow2.Backing, error) {
	if depth >= MaxChainDepth {
		return nil, fmt.Errorf("%w: more than %d backing files", ErrBackingTooDeep, MaxChainDepth)
	}
	real, fi, err := c.resolve(imagePath, name)
	if err != nil {
		return nil, err
	}
	if format == "" {
		format = c.backingFormat
	}
	switch format {
	case "raw", "qcow2":
	case "":
		return nil, fmt.Errorf("%w: the image records no backing format and none was given", ErrBackingFormatUnknown)
	default:
		return nil, fmt.Errorf("%w: %q", ErrBackingFormatUnknown, format)
	}
	if err := c.note(fi, real); err != nil {
		return nil, err
	}
	f, err := storage.OpenFile(real, storage.OpenOptions{Name: real})
	if err != nil {
		return nil, err
	}
	idx := len(c.layers)
	c.layers = append(c.layers, Layer{Path: real, Format: format})
	if format == "raw" {
		size, err := f.Size()
		if err != nil {
			f.Close()
			return nil, err
		}
		c.layers[idx].VirtualSize = size
		return &rawBacking{f: f, size: size}, nil
	}
	img, err := qcow2.OpenFile(f, qcow2.Options{ReadOnly: true, Backing: c.opener(real, depth+1)})
	if err != nil {
		f.Close()
		return nil, loopErr(err)
	}
	c.layers[idx].VirtualSize = img.Size()
	return &qcowBacking{Image: img, f: f}, nil
}

// loopErr makes qcow2's own loop check (an image naming itself) match
// ErrBackingLoop too.
func loopErr(err error) error {
	if errors.Is(err, qcow2.ErrBackingLoop) && !errors.Is(err, ErrBackingLoop) {
		return fmt.Errorf("%w: %w", ErrBackingLoop, err)
	}
	return err
}
