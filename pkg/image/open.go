package image

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/imgprep/imgprep/pkg/qcow2"
	"github.com/imgprep/imgprep/pkg/storage"
	"github.com/imgprep/imgprep/pkg/txn"
)

// Format names.
const (
	FormatAuto  = "auto"
	FormatRaw   = "raw"
	FormatQcow2 = "qcow2"
)

// OpenOptions says how Open opens an image.
type OpenOptions struct {
	// Format is "auto" (or empty: detect by content, the qcow2 magic
	// meaning qcow2 and anything else raw), "raw" or "qcow2".
	Format string
	// Write opens for writing: QEMU's locks are checked and held, a
	// journal left by an interrupted run is rolled back, and writes are
	// staged in a transaction until Commit.
	Write bool
	// DryRun stages writes exactly as Write does, over a file opened
	// read-only; Commit is refused. It overrides Write.
	DryRun bool
	// AllowBacking lists extra directory trees where backing files may
	// live, besides the directory tree of the image naming them.
	AllowBacking []string
	// BackingFormat is the backing file's format when the image records
	// none ("raw" or "qcow2"); a backing file is never probed.
	BackingFormat string
	// ForceShare reads an image another process holds, whatever its
	// locks forbid, as qemu-img -U does (see storage.OpenOptions); Others
	// then says who held it. Only without Write.
	ForceShare bool
	// Journal says where the rollback journal lives (see JournalOptions).
	Journal JournalOptions
	// Fresh says imgprep itself has just created the file (a clone): a
	// journal found for it cannot be its own and is never applied; Open
	// refuses instead.
	Fresh bool
	// Path is the image's path as given. Open sets it; OpenFile needs it
	// to name the image and to find a qcow2 image's backing files.
	Path string
}

// Layer is one file of an image's chain.
type Layer struct {
	Path        string // the top image's path as given; a backing file's real path
	Format      string // "raw" or "qcow2"
	VirtualSize int64
}

// Region is a byte range of the image file.
type Region struct {
	Offset, Length int64
}

// handle states.
const (
	stateOpen = iota
	statePrepared
	stateCommitted
	stateDiscarded
	stateClosed
)

// Handle is an open image. It implements Image over the virtual disk, and
// is safe for concurrent reads and writes; Commit, Discard and Close must
// not race with them.
type Handle struct {
	path   string
	format string
	file   storage.File // the image file, closed by Close
	tx     *txn.Tx      // nil when opened read-only
	disk   Image        // *rawDisk or *qcow2.Image, over tx or file
	cache  *blockCache  // over disk: what ReadAt and WriteAt use
	layers []Layer
	dryRun bool

	mu    sync.Mutex
	state int
}

var _ Image = (*Handle)(nil)

// Open opens the image file at path. See OpenOptions and the package
// documentation for locking, transactions and the backing-file policy.
// It opens the file (QEMU's locks taken), works out where its journal
// lives, and hands both to OpenFile. Its errors are *Error: they name the
// image once, first.
func Open(path string, opts OpenOptions) (*Handle, error) {
	h, err := open(path, opts)
	if err != nil {
		return nil, &Error{Image: path, Err: err}
	}
	return h, nil
}

func open(path string, opts OpenOptions) (*Handle, error) {
	if err := checkFormat(opts.Format); err != nil {
		return nil, err
	}
	write := opts.Write && !opts.DryRun
	f, err := storage.OpenFile(path, storage.OpenOptions{Write: write, Name: path, ForceShare: opts.ForceShare})
	if err != nil {
		return nil, err
	}
	jpath, err := journalPath(path, f, opts.Journal, write)
	if err != nil {
		f.Close()
		return nil, err
	}
	opts.Path, opts.Journal.Path = path, jpath
	return openFile(f, storage.OSDir{}, opts)
}

// OpenFile opens the image held by f, an open file, as Open does: the
// rollback journal at opts.Journal.Path is made, opened and removed
// through journal (an interrupted run's rolled back first when opening
// for writing), and writes are staged in a transaction over f. The
// handle owns f: Close closes it, and so does a failed OpenFile. Open
// is this with the host's file, locks and journal directory. Its errors
// are *Error.
func OpenFile(f storage.File, journal storage.Dir, opts OpenOptions) (*Handle, error) {
	name := opts.Path
	if name == "" {
		name = "the image"
	}
	if err := checkFormat(opts.Format); err != nil {
		f.Close()
		return nil, &Error{Image: name, Err: err}
	}
	if opts.Journal.Path == "" && (opts.Write || opts.DryRun) {
		f.Close()
		return nil, &Error{Image: name, Err: txn.ErrNoJournalPath}
	}
	h, err := openFile(f, journal, opts)
	if err != nil {
		return nil, &Error{Image: name, Err: err}
	}
	return h, nil
}

func checkFormat(format string) error {
	switch format {
	case "", FormatAuto, FormatRaw, FormatQcow2:
		return nil
	}
	return fmt.Errorf("%w: %q (want auto, raw or qcow2)", ErrUnknownFormat, format)
}

// journalExists reports whether the journal at path is there; one that
// is there but cannot be opened counts as there.
func journalExists(dir storage.Dir, path string) bool {
	jf, err := dir.Open(path)
	if err != nil {
		return !errors.Is(err, fs.ErrNotExist)
	}
	jf.Close()
	return true
}

func openFile(f storage.File, journal storage.Dir, opts OpenOptions) (_ *Handle, err error) {
	path, jpath := opts.Path, opts.Journal.Path
	format := opts.Format
	if format == "" {
		format = FormatAuto
	}
	stage := opts.Write || opts.DryRun
	write := opts.Write && !opts.DryRun
	h := &Handle{path: path, file: f, dryRun: opts.DryRun}
	defer func() {
		if err != nil {
			if h.tx != nil {
				h.tx.Discard()
			}
			f.Close()
		}
	}()
	var base storage.File = f
	topts := txn.Options{JournalPath: jpath, Dir: journal, ImageName: path}
	switch {
	case jpath == "":
	case write && !opts.Fresh:
		// Recover does nothing when there is no journal.
		if _, err := txn.Recover(base, topts); err != nil {
			return nil, fmt.Errorf("rolling back an interrupted run: %w", err)
		}
	case !journalExists(journal, jpath):
	case opts.Fresh:
		return nil, fmt.Errorf("%w (%s), yet imgprep has just created the image: the journal belongs to an earlier file of that name and is not applied; remove it", ErrJournalLeft, jpath)
	default:
		return nil, fmt.Errorf("%w (%s): roll it back first (imgprep recover, or any run that writes)",
			ErrJournalLeft, displayJournal(path, jpath))
	}
	if stage {
		if h.tx, err = txn.Begin(base, topts); err != nil {
			return nil, err
		}
		base = h.tx
	}
	size, err := base.Size()
	if err != nil {
		return nil, err
	}
	if format == FormatAuto {
		format = FormatRaw
		if size >= 4 {
			magic := make([]byte, 4)
			if err := readFull(base, magic, 0); err != nil {
				return nil, fmt.Errorf("reading the header: %w", err)
			}
			if qcow2.Probe(magic) {
				format = FormatQcow2
			}
		}
	}
	h.format = format
	c := newChain(opts)
	if fi, err := os.Stat(path); path != "" && err == nil {
		abs, _ := filepath.Abs(path)
		if err := c.note(fi, abs); err != nil {
			return nil, err
		}
	}
	switch format {
	case FormatRaw:
		h.disk = &rawDisk{f: base, size: size, readOnly: !stage}
	case FormatQcow2:
		// No Name: qcow2 would prefix its errors with it, and Error names
		// the image already. Loops are caught by chain.note.
		img, err := qcow2.OpenFile(base, qcow2.Options{ReadOnly: !stage, Backing: c.opener(path, 0)})
		if err != nil {
			return nil, loopErr(err)
		}
		h.disk = img
	}
	h.cache = newBlockCache(h.disk, cacheBlocks)
	h.layers = append([]Layer{{Path: path, Format: format, VirtualSize: h.disk.Size()}}, c.layers...)
	return h, nil
}

func readFull(f storage.File, p []byte, off int64) error {
	n, err := f.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil {
		err = fmt.Errorf("short read of %d bytes at %d", n, off)
	}
	return err
}

// Format returns "qcow2" or "raw".
func (h *Handle) Format() string { return h.format }

// Path returns the image's path as given to Open.
func (h *Handle) Path() string { return h.path }

// Chain returns the image, then each backing file down the chain.
func (h *Handle) Chain() []Layer { return append([]Layer(nil), h.layers...) }

// Others returns the QEMU-style locks other processes held on the image
// file when it was opened. A read-only open succeeds while a VM writes the
// image (it shares consistent reads); Others().Held.Has(storage.PermWrite)
// then says that what was read may be changing.
func (h *Handle) Others() storage.Locks {
	if l, ok := h.file.(interface{ Others() storage.Locks }); ok {
		return l.Others()
	}
	return storage.Locks{}
}

// DryRun reports whether the handle was opened for a dry run.
func (h *Handle) DryRun() bool { return h.dryRun }

// Writable reports whether writes are accepted (staged): Write or DryRun.
func (h *Handle) Writable() bool { return h.tx != nil }

func (h *Handle) live() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.state != stateOpen {
		return ErrFinished
	}
	return nil
}

// ReadAt reads the virtual disk, staged writes included.
func (h *Handle) ReadAt(p []byte, off int64) (int, error) {
	if err := h.live(); err != nil {
		return 0, err
	}
	return h.cache.ReadAt(p, off)
}

// WriteAt stages a write to the virtual disk; it fails with ErrReadOnly
// on a handle opened without Write or DryRun.
func (h *Handle) WriteAt(p []byte, off int64) (int, error) {
	if err := h.live(); err != nil {
		return 0, err
	}
	if h.tx == nil {
		return 0, fmt.Errorf("%w: %s", ErrReadOnly, h.path)
	}
	return h.cache.WriteAt(p, off)
}

// Size returns the virtual disk's size in bytes.
func (h *Handle) Size() int64 { return h.disk.Size() }

// Flush moves the format's pending metadata (qcow2 tables) into the
// transaction. Nothing reaches the file before Commit.
func (h *Handle) Flush() error {
	if err := h.live(); err != nil {
		return err
	}
	if h.tx == nil {
		return nil
	}
	return h.disk.Flush()
}

// Commit flushes the format, then commits the transaction: every staged
// write lands in the file and is made durable, or none does. It fails with
// ErrDryRun on a dry-run handle and ErrReadOnly on a read-only one. After
// Commit (successful or not) the handle accepts no more reads or writes;
// Close it. After Prepare, Commit is the second phase: it only marks the
// transaction committed.
func (h *Handle) Commit() error {
	if err := h.canCommit(); err != nil {
		return err
	}
	h.mu.Lock()
	prepared := h.state == statePrepared
	h.mu.Unlock()
	if !prepared {
		if err := h.live(); err != nil {
			return err
		}
		if err := h.disk.Flush(); err != nil {
			return &Error{Image: h.path, Err: fmt.Errorf("flushing %s metadata: %w", h.format, err)}
		}
	}
	h.mu.Lock()
	h.state = stateCommitted
	h.mu.Unlock()
	if err := h.tx.Commit(); err != nil {
		return &Error{Image: h.path, Err: fmt.Errorf("commit: %w", err)}
	}
	return nil
}

func (h *Handle) canCommit() error {
	switch {
	case h.dryRun:
		return fmt.Errorf("%w: %s", ErrDryRun, h.path)
	case h.tx == nil:
		return fmt.Errorf("%w: %s", ErrReadOnly, h.path)
	}
	return nil
}

// Prepare is the first phase of a commit that spans several images (the
// disks of one VM; see txn.Tx.Prepare): it flushes the format and writes
// the staged changes to the file under a pending journal. Then Commit
// makes them stand, or Rollback (or Close, or a crash and the next open)
// restores the file. On error the file is as before. A prepared handle
// accepts no more reads or writes.
func (h *Handle) Prepare() error {
	if err := h.canCommit(); err != nil {
		return err
	}
	if err := h.live(); err != nil {
		return err
	}
	if err := h.disk.Flush(); err != nil {
		return &Error{Image: h.path, Err: fmt.Errorf("flushing %s metadata: %w", h.format, err)}
	}
	h.mu.Lock()
	h.state = statePrepared
	h.mu.Unlock()
	if err := h.tx.Prepare(); err != nil {
		h.mu.Lock()
		h.state = stateDiscarded
		h.mu.Unlock()
		return &Error{Image: h.path, Err: fmt.Errorf("commit: %w", err)}
	}
	return nil
}

// Rollback restores a prepared image from its journal (txn.Tx.Rollback).
// Without Prepare it fails with txn.ErrNotPrepared.
func (h *Handle) Rollback() error {
	h.mu.Lock()
	prepared := h.state == statePrepared
	if prepared {
		h.state = stateDiscarded
	}
	h.mu.Unlock()
	if !prepared {
		return &Error{Image: h.path, Err: txn.ErrNotPrepared}
	}
	if err := h.tx.Rollback(); err != nil {
		return &Error{Image: h.path, Err: fmt.Errorf("rollback: %w", err)}
	}
	return nil
}

// Discard drops every staged write (the end of a dry run). The file was
// never touched.
func (h *Handle) Discard() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.state == stateOpen {
		h.state = stateDiscarded
	}
	if h.tx != nil {
		h.tx.Discard()
	}
}

// Staged returns the regions of the image file that Commit would write, in
// increasing order: the format's pending metadata is flushed into the
// transaction first, so they include it. Nil for a read-only handle.
func (h *Handle) Staged() []Region {
	if h.tx == nil {
		return nil
	}
	if h.live() == nil {
		h.disk.Flush() // an error here resurfaces at Commit
	}
	var out []Region
	for _, r := range h.tx.Regions() {
		out = append(out, Region{Offset: r.Off, Length: r.Len})
	}
	return out
}

// StagedStats summarises the staged writes: bytes, regions, and the file's
// size before and after.
func (h *Handle) StagedStats() txn.Stats {
	if h.tx == nil {
		return txn.Stats{}
	}
	return h.tx.Stats()
}

// Close releases the image, its backing chain and its locks. Writes not
// committed are discarded; a prepared image is rolled back.
func (h *Handle) Close() error {
	h.mu.Lock()
	if h.state == stateClosed {
		h.mu.Unlock()
		return nil
	}
	var rerr error
	if h.state == statePrepared {
		h.mu.Unlock()
		rerr = h.Rollback()
		h.mu.Lock()
	}
	finished := h.state != stateOpen
	h.state = stateClosed
	h.mu.Unlock()
	// Closing a qcow2 image flushes its pending metadata into the
	// transaction, which is then discarded; into a finished one it fails
	// harmlessly.
	err := h.disk.Close()
	if finished && errors.Is(err, txn.ErrFinished) {
		err = nil
	}
	if h.tx != nil {
		h.tx.Discard()
	}
	if cerr := h.file.Close(); err == nil {
		err = cerr
	}
	if rerr != nil {
		return rerr
	}
	return err
}

// displayJournal names the journal for messages: its base name when it is
// beside the image, its full path otherwise.
func displayJournal(path, jpath string) string {
	if filepath.Dir(jpath) == filepath.Dir(path) {
		return filepath.Base(jpath)
	}
	return jpath
}
