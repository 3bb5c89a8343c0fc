package faultfile

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"sync"

	"github.com/imgprep/imgprep/pkg/storage"
)

// Disk simulates power loss and I/O errors across one or more files and
// directories. Every WriteAt, Truncate and Sync of any wrapped file, and
// every Create, Remove and SyncDir of any wrapped directory, is one op,
// numbered from 0. It is safe for concurrent use; the decision for an op
// and the op itself happen under one lock, so numbering follows the order
// in which the ops reached the disk.
type Disk struct {
	mu      sync.Mutex
	crashAt int
	tornAt  int // bytes a crashing WriteAt keeps; -1: none
	ops     int
	crashed bool
	fails   map[int]error
	log     []string
	nfiles  int

	// The unsynced model (LoseUnsynced): ops waiting for a sync, and
	// who decides which of them a power loss keeps.
	unsynced bool
	keep     func(i int) bool
	files    []*file
	dirs     []*faultDir
}

// NewDisk returns a Disk that loses power at op crashAt: from that op on,
// nothing persists. crashAt < 0 means it never crashes.
func NewDisk(crashAt int) *Disk {
	return &Disk{crashAt: crashAt, tornAt: -1, fails: map[int]error{}}
}

// FailAt makes op number op return err without persisting anything. Later
// ops proceed normally.
func (d *Disk) FailAt(op int, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.fails[op] = err
}

// TornWrite makes a WriteAt that is the crashing op persist its first keep
// bytes (a torn write) instead of none. Other kinds of crashing op are
// unaffected.
func (d *Disk) TornWrite(keep int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.tornAt = keep
}

// LoseUnsynced switches the Disk to a harsher model of a power loss, that
// of a disk with a volatile cache: a WriteAt or Truncate reaches the disk
// only at the next Sync of its file, a Create or Remove only at the next
// SyncDir of its directory. Until then the program sees the op done. At
// the crash, each op still waiting persists only if keep(i) returns true,
// i numbering the waiting ops from 0 in the order they were issued (keep
// nil: none persists); the kept ones persist in order. Call it before
// wrapping anything.
func (d *Disk) LoseUnsynced(keep func(i int) bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.unsynced = true
	d.keep = keep
}

// Ops returns the number of ops seen so far, including those after a crash.
func (d *Disk) Ops() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ops
}

// Crashed reports whether the power has gone.
func (d *Disk) Crashed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.crashed
}

// Log returns one line per op seen, in order, naming the op, its target
// and what became of it; for test failure messages.
func (d *Disk) Log() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.log...)
}

// fate is what becomes of one op.
type fate int

const (
	persist fate = iota // the op reaches the disk
	lost                // the power went first: report success, change nothing
	failed              // the op returns an error and changes nothing
	crashOp             // the op the power loss cuts (lost, or torn for a write)
)

// begin numbers the next op and decides its fate. The caller holds d.mu.
func (d *Disk) begin(what string) (fate, error) {
	n := d.ops
	d.ops++
	if err, ok := d.fails[n]; ok {
		d.log = append(d.log, fmt.Sprintf("%d %s: fails: %v", n, what, err))
		return failed, err
	}
	if d.crashAt >= 0 && n >= d.crashAt {
		first := !d.crashed
		d.crashed = true
		d.log = append(d.log, fmt.Sprintf("%d %s: lost (power off)", n, what))
		if first {
			d.powerLoss()
			return crashOp, nil
		}
		return lost, nil
	}
	d.log = append(d.log, fmt.Sprintf("%d %s", n, what))
	return persist, nil
}

// Wrap returns f with its WriteAt, Truncate and Sync subject to the Disk.
func (d *Disk) Wrap(f storage.File) storage.File {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.nfiles++
	return d.wrapLocked(fmt.Sprintf("file%d", d.nfiles), f)
}

// WrapNamed is Wrap with a name for the op log.
func (d *Disk) WrapNamed(name string, f storage.File) storage.File {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.wrapLocked(name, f)
}

func (d *Disk) wrapLocked(name string, f storage.File) *file {
	w := &file{d: d, f: f, name: name}
	d.files = append(d.files, w)
	return w
}

// WrapDir returns dir with its Create, Remove and SyncDir subject to the
// Disk, and every file it creates or opens wrapped.
func (d *Disk) WrapDir(dir storage.Dir) storage.Dir {
	d.mu.Lock()
	defer d.mu.Unlock()
	w := &faultDir{d: d, dir: dir, removed: map[string]bool{}}
	d.dirs = append(d.dirs, w)
	return w
}

// powerLoss settles the ops still waiting for a sync: each persists if
// keep says so. The caller holds d.mu.
func (d *Disk) powerLoss() {
	i := 0
	kept := func() bool {
		k := d.keep != nil && d.keep(i)
		i++
		return k
	}
	for _, w := range d.files {
		for _, op := range w.pending {
			if kept() {
				_ = op.apply(w.f)
			}
		}
		w.pending, w.shadow = nil, nil
	}
	for _, w := range d.dirs {
		for _, op := range w.pending {
			k := kept()
			switch {
			case op.create && !k:
				_ = w.dir.Remove(op.path) // the entry never reached the disk
			case !op.create && k:
				_ = w.dir.Remove(op.path)
			}
		}
		w.pending = nil
	}
}

// fileOp is a WriteAt (data non-nil) or Truncate waiting for a Sync.
type fileOp struct {
	off  int64
	data []byte
	size int64
}

func (op fileOp) apply(f storage.File) error {
	if op.data == nil {
		return f.Truncate(op.size)
	}
	_, err := f.WriteAt(op.data, op.off)
	return err
}

type file struct {
	d    *Disk
	f    storage.File
	name string
	// The unsynced model: ops since the last Sync, and the file as the
	// program sees it with them applied.
	pending []fileOp
	shadow  *Mem
}

// view returns what reads see. The caller holds d.mu.
func (w *file) view() storage.File {
	if w.shadow != nil {
		return w.shadow
	}
	return w.f
}

func (w *file) ReadAt(p []byte, off int64) (int, error) {
	w.d.mu.Lock()
	v := w.view()
	w.d.mu.Unlock()
	return v.ReadAt(p, off)
}

func (w *file) Size() (int64, error) {
	w.d.mu.Lock()
	v := w.view()
	w.d.mu.Unlock()
	return v.Size()
}

func (w *file) Close() error { return w.f.Close() }

// defer_ queues op until the next Sync, in the unsynced model. The caller
// holds d.mu.
func (w *file) defer_(op fileOp) error {
	if w.shadow == nil {
		size, err := w.f.Size()
		if err != nil {
			return err
		}
		buf := make([]byte, size)
		if n, err := w.f.ReadAt(buf, 0); int64(n) != size {
			return err
		}
		w.shadow = NewMem(buf)
	}
	if err := op.apply(w.shadow); err != nil {
		return err
	}
	w.pending = append(w.pending, op)
	return nil
}

func (w *file) WriteAt(p []byte, off int64) (int, error) {
	w.d.mu.Lock()
	defer w.d.mu.Unlock()
	switch fa, err := w.d.begin(fmt.Sprintf("WriteAt %s off=%d len=%d", w.name, off, len(p))); fa {
	case failed:
		return 0, err
	case lost:
		return len(p), nil
	case crashOp:
		if keep := w.d.tornAt; keep > 0 {
			if _, err := w.f.WriteAt(p[:min(keep, len(p))], off); err != nil {
				return 0, err
			}
		}
		return len(p), nil
	}
	if w.d.unsynced {
		if err := w.defer_(fileOp{off: off, data: append([]byte(nil), p...)}); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return w.f.WriteAt(p, off)
}

func (w *file) Truncate(size int64) error {
	w.d.mu.Lock()
	defer w.d.mu.Unlock()
	switch fa, err := w.d.begin(fmt.Sprintf("Truncate %s size=%d", w.name, size)); fa {
	case failed:
		return err
	case lost, crashOp:
		return nil
	}
	if w.d.unsynced {
		return w.defer_(fileOp{size: size})
	}
	return w.f.Truncate(size)
}

func (w *file) Sync() error {
	w.d.mu.Lock()
	defer w.d.mu.Unlock()
	switch fa, err := w.d.begin("Sync " + w.name); fa {
	case failed:
		return err
	case lost, crashOp:
		return nil
	}
	for _, op := range w.pending {
		if err := op.apply(w.f); err != nil {
			return err
		}
	}
	w.pending, w.shadow = nil, nil
	return w.f.Sync()
}

type faultDir struct {
	d   *Disk
	dir storage.Dir
	// The unsynced model: creations and removals since the last SyncDir,
	// and the paths the program believes removed.
	pending []dirOp
	removed map[string]bool
}

// dirOp is a Create or Remove waiting for a SyncDir.
type dirOp struct {
	create bool
	path   string
}

func (w *faultDir) Create(path string) (storage.File, error) {
	w.d.mu.Lock()
	defer w.d.mu.Unlock()
	fa, err := w.d.begin("Create " + path)
	switch fa {
	case failed:
		return nil, err
	case lost, crashOp:
		// The program believes the file exists; nothing on disk does.
		return w.d.wrapLocked(path, &Mem{}), nil
	}
	if w.removed[path] {
		// Removed but not yet synced: settle it before creating anew.
		if err := w.dir.Remove(path); err != nil {
			return nil, err
		}
		w.dropPending(path)
		delete(w.removed, path)
	}
	f, err := w.dir.Create(path)
	if err != nil {
		return nil, err
	}
	if w.d.unsynced {
		w.pending = append(w.pending, dirOp{create: true, path: path})
	}
	return w.d.wrapLocked(path, f), nil
}

// dropPending forgets the waiting ops on path. The caller holds d.mu.
func (w *faultDir) dropPending(path string) {
	kept := w.pending[:0]
	for _, op := range w.pending {
		if op.path != path {
			kept = append(kept, op)
		}
	}
	w.pending = kept
}

func (w *faultDir) Open(path string) (storage.File, error) {
	w.d.mu.Lock()
	defer w.d.mu.Unlock()
	if w.removed[path] {
		return nil, &fs.PathError{Op: "open", Path: path, Err: fs.ErrNotExist}
	}
	f, err := w.dir.Open(path)
	if err != nil {
		return nil, err
	}
	return w.d.wrapLocked(path, f), nil
}

func (w *faultDir) Remove(path string) error {
	w.d.mu.Lock()
	defer w.d.mu.Unlock()
	switch fa, err := w.d.begin("Remove " + path); fa {
	case failed:
		return err
	case lost, crashOp:
		return nil
	}
	if !w.d.unsynced {
		return w.dir.Remove(path)
	}
	if w.removed[path] {
		return &fs.PathError{Op: "remove", Path: path, Err: fs.ErrNotExist}
	}
	f, err := w.dir.Open(path)
	if err != nil {
		return err
	}
	f.Close()
	w.removed[path] = true
	w.pending = append(w.pending, dirOp{path: path})
	return nil
}

func (w *faultDir) SyncDir(path string) error {
	w.d.mu.Lock()
	defer w.d.mu.Unlock()
	switch fa, err := w.d.begin("SyncDir " + path); fa {
	case failed:
		return err
	case lost, crashOp:
		return nil
	}
	dir := filepath.Dir(path)
	var rest []dirOp
	for _, op := range w.pending {
		if filepath.Dir(op.path) != dir {
			rest = append(rest, op)
			continue
		}
		if !op.create {
			if err := w.dir.Remove(op.path); err != nil {
				return err
			}
			delete(w.removed, op.path)
		}
	}
	w.pending = rest
	return w.dir.SyncDir(path)
}
