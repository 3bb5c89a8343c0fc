package image

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/imgprep/imgprep/pkg/qcow2"
	"github.com/imgprep/imgprep/pkg/storage"
)

// CopySource is a virtual disk to copy. When it also implements Extenter,
// Copy reads only its data extents.
type CopySource interface {
	io.ReaderAt
	Size() int64
}

// CopyOptions control Copy.
type CopyOptions struct {
	// Format of the destination: "qcow2" (the default when empty) or
	// "raw".
	Format string
	// ClusterSize of a qcow2 destination (default 65536), and the unit in
	// which all-zero data is skipped for both formats.
	ClusterSize int
	// Progress, if set, is called after each piece with the bytes of
	// the virtual disk done so far and the total.
	Progress func(done, total int64)
}

// ErrCopyFormat: CopyOptions.Format names no supported format.
var ErrCopyFormat = errors.New("image: copy: unsupported destination format")

// copyChunk is the most Copy reads at once.
const copyChunk = 4 << 20

// qcow2CommitEvery bounds the writes a qcow2 destination stages between
// commits (its memory is one map entry per cluster).
const qcow2CommitEvery = 1 << 30

// Copy writes the virtual disk of src to dst, replacing dst's contents.
// Only data is written: zero extents are skipped and so is every
// destination cluster that reads as all zeros, so a raw destination stays
// sparse and a qcow2 destination leaves them unallocated. dst is synced
// but not closed. A qcow2 destination's virtual size is src's size rounded
// up to 512 bytes.
func Copy(ctx context.Context, dst storage.File, src CopySource, opts CopyOptions) error {
	cs := int64(opts.ClusterSize)
	if cs == 0 {
		cs = 65536
	}
	if cs <= 0 || cs&(cs-1) != 0 || cs > copyChunk {
		return fmt.Errorf("image: copy: cluster size %d is not a power of two up to %d", cs, copyChunk)
	}
	size := src.Size()
	var (
		w      io.WriterAt
		finish func() error
		qimg   *qcow2.Image
	)
	switch opts.Format {
	case "", "qcow2":
		img, err := qcow2.Create(dst, qcow2.CreateOptions{Size: (size + 511) &^ 511, ClusterSize: int(cs), NoOrderingSync: true})
		if err != nil {
			return fmt.Errorf("image: copy: %w", err)
		}
		qimg = img
		w = img
		finish = img.Close
	case "raw":
		if err := dst.Truncate(0); err != nil {
			return err
		}
		if err := dst.Truncate(size); err != nil {
			return err
		}
		w = dst
		finish = dst.Sync
	default:
		return fmt.Errorf("%w: %q", ErrCopyFormat, opts.Format)
	}
	c := copier{w: w, src: src, size: size, cluster: cs, qimg: qimg, progress: opts.Progress}
	err := c.run(ctx)
	if ferr := finish(); err == nil {
		err = ferr
	}
	if err != nil {
		return fmt.Errorf("image: copy: %w", err)
	}
	return nil
}

// copier copies the data of src to w in pieces aligned to cluster.
type copier struct {
	w        io.WriterAt
	src      CopySource
	size     int64 // bytes of src to copy
	cluster  int64 // unit of zero detection and alignment
	qimg     *qcow2.Image
	progress func(done, total int64)
}

func (c *copier) run(ctx context.Context) error {
	var ranges []Extent
	if ex, ok := c.src.(Extenter); ok {
		ext, err := ex.Extents(0, c.size)
		if err != nil {
			return err
		}
		ranges = c.alignData(ext)
	} else if c.size > 0 {
		ranges = []Extent{{Offset: 0, Length: c.size}}
	}
	buf := make([]byte, min(copyChunk, max(c.cluster, c.size)))
	var staged int64
	for _, r := range ranges {
		for off := r.Offset; off < r.Offset+r.Length; {
			if err := ctx.Err(); err != nil {
				return err
			}
			n := min(int64(len(buf)), r.Offset+r.Length-off)
			p := buf[:n]
			if got, err := c.src.ReadAt(p, off); int64(got) < n {
				if err == nil || errors.Is(err, io.EOF) {
					err = io.ErrUnexpectedEOF
				}
				return fmt.Errorf("reading the source at %d: %w", off, err)
			}
			written, err := c.writeNonZero(p, off)
			if err != nil {
				return err
			}
			staged += written
			if c.qimg != nil && staged >= qcow2CommitEvery {
				if err := c.qimg.Flush(); err != nil {
					return err
				}
				staged = 0
			}
			off += n
			if c.progress != nil {
				c.progress(off, c.size)
			}
		}
	}
	if c.progress != nil {
		c.progress(c.size, c.size)
	}
	return nil
}

// writeNonZero writes the clusters of p (at off, cluster aligned) that are
// not all zeros, consecutive ones in one call, and returns the bytes
// written.
func (c *copier) writeNonZero(p []byte, off int64) (int64, error) {
	var written int64
	start := int64(-1)
	flush := func(end int64) error {
		if start < 0 {
			return nil
		}
		_, err := c.w.WriteAt(p[start:end], off+start)
		written += end - start
		start = -1
		return err
	}
	for i := int64(0); i < int64(len(p)); i += c.cluster {
		end := min(i+c.cluster, int64(len(p)))
		if isZero(p[i:end]) {
			if err := flush(i); err != nil {
				return written, err
			}
		} else if start < 0 {
			start = i
		}
	}
	return written, flush(int64(len(p)))
}

// alignData turns sorted data extents into merged ranges aligned to the
// cluster size (clamped to the source size).
func (c *copier) alignData(ext []Extent) []Extent {
	var out []Extent
	cs := c.cluster
	for _, e := range ext {
		if e.Zero || e.Length <= 0 {
			continue
		}
		lo := e.Offset &^ (cs - 1)
		hi := min(c.size, (e.Offset+e.Length+cs-1)&^(cs-1))
		if k := len(out); k > 0 && lo <= out[k-1].Offset+out[k-1].Length {
			out[k-1].Length = max(out[k-1].Length, hi-out[k-1].Offset)
			continue
		}
		out = append(out, Extent{Offset: lo, Length: hi - lo})
	}
	return out
}

func isZero(b []byte) bool {
	for len(b) >= 32 {
		if binary.NativeEndian.Uint64(b)|binary.NativeEndian.Uint64(b[8:])|
			binary.NativeEndian.Uint64(b[16:])|binary.NativeEndian.Uint64(b[24:]) != 0 {
			return false
		}
		b = b[32:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
