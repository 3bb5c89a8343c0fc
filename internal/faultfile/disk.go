package faultfile

import (
	"fmt"
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
	return &file{d: d, f: f, name: fmt.Sprintf("file%d", d.nfiles)}
}

// WrapNamed is Wrap with a name for the op log.
func (d *Disk) WrapNamed(name string, f storage.File) storage.File {
	return &file{d: d, f: f, name: name}
}

// WrapDir returns dir with its Create, Remove and SyncDir subject to the
// Disk, and every file it creates or opens wrapped.
func (d *Disk) WrapDir(dir storage.Dir) storage.Dir {
	return &faultDir{d: d, dir: dir}
}

type file struct {
	d    *Disk
	f    storage.File
	name string
}

func (w *file) ReadAt(p []byte, off int64) (int, error) { return w.f.ReadAt(p, off) }
func (w *file) Size() (int64, error)                    { return w.f.Size() }
func (w *file) Close() error                            { return w.f.Close() }

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
	return w.f.Sync()
}

type faultDir struct {
	d   *Disk
	dir storage.Dir
}

func (w *faultDir) Create(path string) (storage.File, error) {
	w.d.mu.Lock()
	fa, err := w.d.begin("Create " + path)
	switch fa {
	case failed:
		w.d.mu.Unlock()
		return nil, err
	case lost, crashOp:
		// The program believes the file exists; nothing on disk does.
		w.d.mu.Unlock()
		return w.d.WrapNamed(path, &Mem{}), nil
	}
	f, err := w.dir.Create(path)
	w.d.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return w.d.WrapNamed(path, f), nil
}

func (w *faultDir) Open(path string) (storage.File, error) {
	f, err := w.dir.Open(path)
	if err != nil {
		return nil, err
	}
	return w.d.WrapNamed(path, f), nil
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
	return w.dir.Remove(path)
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
	return w.dir.SyncDir(path)
}
