package txn

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
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
	// MemoryLimit bounds the staged bytes kept in memory; past it they
	// spill to a temporary file beside the journal (made through Dir
	// and removed at once, so none outlives the process). Zero: 8 MiB.
	MemoryLimit int64
}

// DefaultMemoryLimit is the MemoryLimit of a zero Options.
const DefaultMemoryLimit = 8 << 20

// JournalPathFor returns the default journal path of the image at path.
func JournalPathFor(imagePath string) string { return imagePath + JournalSuffix }

func (o Options) resolve(f storage.File) (Options, error) {
	if o.Dir == nil {
		o.Dir = storage.OSDir{}
	}
	if o.BufferSize <= 0 {
		o.BufferSize = 1 << 20
	}
	if o.MemoryLimit <= 0 {
		o.MemoryLimit = DefaultMemoryLimit
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

// Tx is one transaction over a storage.File. It implements storage.File:
// WriteAt and Truncate are staged in memory, ReadAt sees the staged bytes
// over the file's, and nothing reaches the file before Commit. It is safe
// for concurrent use.
type Tx struct {
	f    storage.File
	opts Options

	mu   sync.RWMutex
	base int64       // the file's size at Begin
	low  int64       // the lowest size reached: beyond it, unstaged bytes read as zero
	size int64       // the current size
	st   stagedPages // the staged bytes
	done error       // non-nil once committed or discarded
	prep *prepared   // set by Prepare
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
	t := &Tx{f: f, opts: o, base: size, low: size, size: size}
	t.st = newStagedPages(o.MemoryLimit, t.openSpill)
	return t, nil
}

// SpillSuffix is appended to the journal's path to name the spill file
// of staged writes past Options.MemoryLimit, which lives only while it
// is open.
const SpillSuffix = ".spill"

// openSpill makes the spill file beside the journal and unlinks it. When
// the journal's directory refuses (a dry run of an image in a directory
// this user cannot write), it is made in the host's temporary directory.
func (t *Tx) openSpill() (storage.File, error) {
	p, dir := t.opts.JournalPath+SpillSuffix, t.opts.Dir
	f, err := dir.Create(p)
	if errors.Is(err, fs.ErrExist) {
		// Left by a process that died between making and unlinking it.
		if err = dir.Remove(p); err == nil {
			f, err = dir.Create(p)
		}
	}
	if err != nil {
		var rnd [8]byte
		if _, rerr := rand.Read(rnd[:]); rerr != nil {
			return nil, err
		}
		p, dir = filepath.Join(os.TempDir(), fmt.Sprintf("imgprep-spill-%x", rnd)), storage.OSDir{}
		var terr error
		if f, terr = dir.Create(p); terr != nil {
			return nil, fmt.Errorf("%w; in %s: %w", err, os.TempDir(), terr)
		}
	}
	if err := dir.Remove(p); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
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
	if err := t.st.overlay(q, off); err != nil {
		return 0, err
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
	if err := t.st.write(p, off); err != nil {
		return 0, err
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
	return t.st.truncate(size)
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
	t.st.reset()
}

// Stats summarises the staged changes.
func (t *Tx) Stats() Stats {
	t.mu.RLock()
	defer t.mu.RUnlock()
	rs, _ := t.st.regions()
	return Stats{Bytes: t.st.bytes(), Regions: len(rs), SizeBefore: t.base, SizeAfter: t.size}
}

// Regions returns the staged regions, in increasing order, disjoint.
// A size change is in Stats, not here.
func (t *Tx) Regions() []Region {
	t.mu.RLock()
	defer t.mu.RUnlock()
	rs, _ := t.st.regions()
	return rs
}

// originals returns the regions of the file Commit overwrites or cuts,
// clipped to the original size and merged: what the journal must keep.
// The caller holds the lock.
func (t *Tx) originals() ([]Region, error) {
	staged, err := t.st.regions()
	if err != nil {
		return nil, err
	}
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
	for _, e := range staged {
		if e.Off >= t.low {
			break
		}
		add(Region{Off: e.Off, Len: min(e.End(), t.low) - e.Off})
	}
	if t.low < t.base {
		add(Region{Off: t.low, Len: t.base - t.low})
	}
	return rs, nil
}
