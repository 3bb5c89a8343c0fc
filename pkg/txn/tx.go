package txn

import (
	"fmt"
	"io"
	"sort"
	"sync"

	"github.com/imgprep/imgprep/pkg/storage"
)

// JournalSuffix is appended to an image's path to name its journal.
const JournalSuffix = "-imgprep-journal"

// JournalDir is the directory access the journal needs; storage.OSDir by
// default, a faultfile wrapper in tests.
type JournalDir = storage.Dir

// Options configures Begin and Recover.
type Options struct {
	// JournalPath is where the journal lives. Empty: the image's path
	// plus JournalSuffix, when the file says its path (Path() string,
	// as *storage.OSFile does).
	JournalPath string
	// Dir creates, opens and removes the journal. Nil: storage.OSDir.
	Dir JournalDir
	// BufferSize is the size of the journal's write buffer, hence of
	// its largest write. Zero: 1 MiB.
	BufferSize int
	// Identity is the image file's identity, recorded in the journal by
	// Commit and compared by Recover. Zero: the file's own
	// (Identity() (storage.Identity, error), as *storage.OSFile has),
	// or unknown.
	Identity storage.Identity
	// ImageName names the image in errors. Empty: the file's Name(),
	// or "the image".
	ImageName string
}

// JournalPathFor returns the default journal path of the image at path.
func JournalPathFor(imagePath string) string { return imagePath + JournalSuffix }

func (o Options) resolve(f storage.File) (Options, error) {
	if o.Dir == nil {
		o.Dir = storage.OSDir{}
	}
	if o.BufferSize <= 0 {
		o.BufferSize = 1 << 20
	}
	if o.Identity.IsZero() {
		if idf, ok := f.(interface {
			Identity() (storage.Identity, error)
		}); ok {
			id, err := idf.Identity()
			if err != nil {
				return o, err
			}
			o.Identity = id
		}
	}
	if o.ImageName == "" {
		o.ImageName = "the image"
		if n, ok := f.(interface{ Name() string }); ok && n.Name() != "" {
			o.ImageName = n.Name()
		}
	}
	if o.JournalPath == "" {
		p, ok := f.(interface{ Path() string })
		if !ok || p.Path() == "" {
			return o, ErrNoJournalPath
		}
		o.JournalPath = JournalPathFor(p.Path())
	}
	return o, nil
}

// Region is a byte range of the image file.
type Region struct {
	Off int64
	Len int64
}

// End returns Off+Len.
func (r Region) End() int64 { return r.Off + r.Len }

// Stats summarises the staged changes.
type Stats struct {
	Bytes      int64 // staged bytes written
	Regions    int   // disjoint staged regions
	SizeBefore int64 // the file's size at Begin
	SizeAfter  int64 // its size if committed
}

// extent is one staged region and its new bytes.
type extent struct {
	off  int64
	data []byte
}

func (e *extent) end() int64 { return e.off + int64(len(e.data)) }

// Tx is one transaction over a storage.File. It implements storage.File:
// WriteAt and Truncate are staged in memory, ReadAt sees the staged bytes
// over the file's, and nothing reaches the file before Commit. It is safe
// for concurrent use.
type Tx struct {
	f    storage.File
	opts Options

	mu   sync.RWMutex
	base int64     // the file's size at Begin
	low  int64     // the lowest size reached: beyond it, unstaged bytes read as zero
	size int64     // the current size
	ext  []extent  // sorted, disjoint, not adjacent
	done error     // non-nil once committed or discarded
	prep *prepared // set by Prepare
}

var _ storage.File = (*Tx)(nil)

// Begin starts a transaction over f. It does not touch f or the journal;
// Recover must have run on f first (the image layer does it on every
// open for writing).
func Begin(f storage.File, opts Options) (*Tx, error) {
	o, err := opts.resolve(f)
	if err != nil {
		return nil, err
	}
	size, err := f.Size()
	if err != nil {
		return nil, fmt.Errorf("txn: begin: size of image: %w", err)
	}
	return &Tx{f: f, opts: o, base: size, low: size, size: size}, nil
}

// JournalPath returns where Commit writes the journal.
func (t *Tx) JournalPath() string { return t.opts.JournalPath }

// ReadAt reads the transaction's view: staged bytes over the file's, zeros
// where a staged truncation cut the file and a later extension grew it.
func (t *Tx) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, ErrNegative
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.done != nil {
		return 0, t.done
	}
	return t.readLocked(p, off)
}

// readLocked is ReadAt with the lock held (and off >= 0).
func (t *Tx) readLocked(p []byte, off int64) (int, error) {
	if off >= t.size {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), t.size-off))
	q := p[:n]
	end := off + int64(n)
	if off < t.low {
		m := min(end, t.low) - off
		rn, err := t.f.ReadAt(q[:m], off)
		if err != nil && err != io.EOF {
			return 0, err
		}
		clear(q[rn:])
	} else {
		clear(q)
	}
	i := sort.Search(len(t.ext), func(i int) bool { return t.ext[i].end() > off })
	for ; i < len(t.ext) && t.ext[i].off < end; i++ {
		e := &t.ext[i]
		lo, hi := max(e.off, off), min(e.end(), end)
		copy(q[lo-off:hi-off], e.data[lo-e.off:hi-e.off])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// WriteAt stages p at off.
func (t *Tx) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, ErrNegative
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done != nil {
		return 0, t.done
	}
	if len(p) == 0 {
		return 0, nil
	}
	end := off + int64(len(p))
	// Extents [i, j) overlap or touch [off, end).
	i := sort.Search(len(t.ext), func(i int) bool { return t.ext[i].end() >= off })
	j := i
	for j < len(t.ext) && t.ext[j].off <= end {
		j++
	}
	switch {
	case i == j:
		t.ext = append(t.ext, extent{})
		copy(t.ext[i+1:], t.ext[i:])
		t.ext[i] = extent{off: off, data: append([]byte(nil), p...)}
	case j-i == 1 && t.ext[i].off <= off:
		// Grow one extent in place (amortised for sequential writes).
		e := &t.ext[i]
		if need := int(end - e.off); need > len(e.data) {
			// Every byte past the old end is covered by p below.
			if need <= cap(e.data) {
				e.data = e.data[:need]
			} else {
				nd := make([]byte, need, max(need, 2*cap(e.data)))
				copy(nd, e.data)
				e.data = nd
			}
		}
		copy(e.data[off-e.off:], p)
	default:
		lo := min(off, t.ext[i].off)
		hi := max(end, t.ext[j-1].end())
		data := make([]byte, hi-lo)
		for k := i; k < j; k++ {
			copy(data[t.ext[k].off-lo:], t.ext[k].data)
		}
		copy(data[off-lo:], p)
		t.ext[i] = extent{off: lo, data: data}
		t.ext = append(t.ext[:i+1], t.ext[j:]...)
	}
	t.size = max(t.size, end)
	return len(p), nil
}

// Size returns the transaction's view of the length.
func (t *Tx) Size() (int64, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.done != nil {
		return 0, t.done
	}
	return t.size, nil
}

// Truncate stages a change of length.
func (t *Tx) Truncate(size int64) error {
	if size < 0 {
		return ErrNegative
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done != nil {
		return t.done
	}
	t.size = size
	t.low = min(t.low, size)
	i := sort.Search(len(t.ext), func(i int) bool { return t.ext[i].end() > size })
	if i < len(t.ext) && t.ext[i].off < size {
		t.ext[i].data = t.ext[i].data[:size-t.ext[i].off]
		i++
	}
	t.ext = t.ext[:i]
	return nil
}

// Sync does nothing: Commit is the durability point.
func (t *Tx) Sync() error {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.done
}

// Close discards the transaction if it was not committed. It does not
// close the underlying file, which belongs to the caller.
func (t *Tx) Close() error {
	t.Discard()
	return nil
}

// Discard drops every staged change (a dry run). The file was never
// touched.
func (t *Tx) Discard() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done == nil {
		t.done = fmt.Errorf("%w (discarded)", ErrFinished)
	}
	t.ext = nil
}

// Stats summarises the staged changes.
func (t *Tx) Stats() Stats {
	t.mu.RLock()
	defer t.mu.RUnlock()
	s := Stats{Regions: len(t.ext), SizeBefore: t.base, SizeAfter: t.size}
	for _, e := range t.ext {
		s.Bytes += int64(len(e.data))
	}
	return s
}

// Regions returns the staged regions, in increasing order, disjoint.
// A size change is in Stats, not here.
func (t *Tx) Regions() []Region {
	t.mu.RLock()
	defer t.mu.RUnlock()
	rs := make([]Region, len(t.ext))
	for i, e := range t.ext {
		rs[i] = Region{Off: e.off, Len: int64(len(e.data))}
	}
	return rs
}

// originals returns the regions of the file Commit overwrites or cuts,
// clipped to the original size and merged: what the journal must keep.
// The caller holds the lock.
func (t *Tx) originals() []Region {
	var rs []Region
	add := func(r Region) {
		if r.Len <= 0 {
			return
		}
		if n := len(rs); n > 0 && rs[n-1].End() >= r.Off {
			rs[n-1].Len = max(rs[n-1].End(), r.End()) - rs[n-1].Off
			return
		}
		rs = append(rs, r)
	}
	for _, e := range t.ext {
		if e.off >= t.low {
			break
		}
		add(Region{Off: e.off, Len: min(e.end(), t.low) - e.off})
	}
	if t.low < t.base {
		add(Region{Off: t.low, Len: t.base - t.low})
	}
	return rs
}
