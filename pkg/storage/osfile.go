package storage

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// OpenOptions says how OpenFile opens an image.
type OpenOptions struct {
	// Write opens for reading and writing, holding QEMU's write locks.
	// Without it the file is opened read-only and WriteAt, Truncate
	// return ErrReadOnly.
	Write bool
	// Name is the image's name in errors; the path when empty.
	Name string
	// ForceShare opens read-only even when another process holds the
	// image in a way that forbids it (a writer that does not share
	// consistent reads), as qemu-img -U does: no lock is taken, and
	// Others says what the other processes held. It is refused with
	// Write: a writer never ignores another's locks.
	ForceShare bool
}

// OSFile is a host file (a regular file or a block device) holding an
// image, with QEMU's locks held for as long as it is open. It implements
// File and is safe for concurrent use (pread/pwrite).
type OSFile struct {
	f      *os.File
	path   string
	name   string
	write  bool
	others Locks // what other processes held at OpenFile
	closed atomic.Bool
}

var _ File = (*OSFile)(nil)

// OpenFile opens the image file at path. With opts.Write it refuses, with
// an error matching ErrInUse, an image another process holds (a running
// VM, qemu-nbd, qemu-img, another imgprep), and with an error matching
// ErrReadOnly a file it cannot write: a read-only host file or
// filesystem, or a file whose mode grants no write permission at all
// (root could write it, but its owner marked it read-only). Read-only
// opening is refused only when a holder forbids consistent reads.
func OpenFile(path string, opts OpenOptions) (*OSFile, error) {
	name := opts.Name
	if name == "" {
		name = path
	}
	if opts.Write && opts.ForceShare {
		return nil, &PathError{Op: "open for writing", Name: name, Err: ErrForceShareWrite}
	}
	flag := os.O_RDONLY
	op := "open"
	if opts.Write {
		flag = os.O_RDWR
		op = "open for writing"
	}
	// Look before opening: opening a FIFO or a character device (a
	// watchdog, a tape) has effects of its own.
	pst, err := os.Stat(path)
	if err != nil {
		return nil, &PathError{Op: op, Name: name, Err: unwrapPath(err)}
	}
	block := pst.Mode()&fs.ModeDevice != 0 && pst.Mode()&fs.ModeCharDevice == 0
	if !pst.Mode().IsRegular() && !block {
		return nil, &PathError{Op: op, Name: name, Err: ErrNotRegular}
	}
	if opts.Write && block {
		// A block device opened O_EXCL fails with EBUSY while it, or a
		// partition of it, is mounted or claimed (device-mapper, md,
		// another O_EXCL opener).
		flag |= unix.O_EXCL
	}
	f, err := os.OpenFile(path, flag|unix.O_CLOEXEC, 0)
	if err != nil {
		if opts.Write && (errors.Is(err, unix.EACCES) || errors.Is(err, unix.EROFS) || errors.Is(err, unix.EPERM)) {
			err = &wrapped{ErrReadOnly, unwrapPath(err)}
		}
		if block && errors.Is(err, unix.EBUSY) {
			if ms, merr := MountsOfPath(path); merr == nil && len(ms) > 0 {
				return nil, &MountError{Name: name, Mounts: ms}
			}
			err = &wrapped{ErrInUse, errors.New("the device is held by another program (opening it O_EXCL: device or resource busy)")}
		}
		return nil, &PathError{Op: op, Name: name, Err: unwrapPath(err)}
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, &PathError{Op: op, Name: name, Err: err}
	}
	if !st.Mode().IsRegular() && st.Mode()&fs.ModeDevice == 0 {
		f.Close()
		return nil, &PathError{Op: op, Name: name, Err: ErrNotRegular}
	}
	if st.Mode().IsRegular() && opts.Write && st.Mode().Perm()&0o222 == 0 {
		f.Close()
		return nil, &PathError{Op: op, Name: name, Err: &wrapped{ErrReadOnly, errors.New("file mode " + st.Mode().Perm().String() + " grants no write permission")}}
	}
	if opts.ForceShare {
		// Look, and take nothing: a lock of ours would only stand in
		// the way of the process that holds the image.
		others, err := probe(f)
		if err != nil && !errors.Is(err, ErrLockUnsupported) {
			f.Close()
			return nil, &PathError{Op: "lock", Name: name, Err: err}
		}
		return &OSFile{f: f, path: path, name: name, others: others}, nil
	}
	if err := lock(f, name, opts.Write); err != nil {
		f.Close()
		return nil, err
	}
	others, _ := probe(f)
	o := &OSFile{f: f, path: path, name: name, write: opts.Write, others: others}
	if opts.Write {
		if err := o.checkMounted(); err != nil {
			o.Close()
			return nil, err
		}
	}
	return o, nil
}

// Others returns the locks other processes held on the file when it was
// opened: with ForceShare, possibly a writer's. A holder that came later
// is not seen.
func (o *OSFile) Others() Locks { return o.others }

// CreateFile creates a new image file at path (mode 0644; failing if the
// path exists) and opens it for writing with QEMU's write locks held.
func CreateFile(path string) (*OSFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL|unix.O_CLOEXEC, 0o644)
	if err != nil {
		if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EROFS) {
			err = &wrapped{ErrReadOnly, unwrapPath(err)}
		}
		return nil, &PathError{Op: "create", Name: path, Err: unwrapPath(err)}
	}
	if err := lock(f, path, true); err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	return &OSFile{f: f, path: path, name: path, write: true}, nil
}

// unwrapPath strips *fs.PathError, whose text repeats the path.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Path returns the path the file was opened with.
func (o *OSFile) Path() string { return o.path }

// Name returns the file's name for messages.
func (o *OSFile) Name() string { return o.name }

// Writable reports whether the file was opened for writing.
func (o *OSFile) Writable() bool { return o.write }

// ReadAt reads len(p) bytes at off, as pread(2); io.EOF past the end.
func (o *OSFile) ReadAt(p []byte, off int64) (int, error) {
	if o.closed.Load() {
		return 0, &PathError{Op: "read", Name: o.name, Err: ErrClosed}
	}
	return o.f.ReadAt(p, off)
}

// WriteAt writes p at off, as pwrite(2).
func (o *OSFile) WriteAt(p []byte, off int64) (int, error) {
	if err := o.writable("write"); err != nil {
		return 0, err
	}
	return o.f.WriteAt(p, off)
}

// Size returns the length of the file or block device.
func (o *OSFile) Size() (int64, error) {
	if o.closed.Load() {
		return 0, &PathError{Op: "stat", Name: o.name, Err: ErrClosed}
	}
	st, err := o.f.Stat()
	if err != nil {
		return 0, err
	}
	if st.Mode().IsRegular() {
		return st.Size(), nil
	}
	// A block device: its size is where its end is. Seeking does not
	// disturb ReadAt/WriteAt, which use pread/pwrite.
	return o.f.Seek(0, io.SeekEnd)
}

// Truncate sets the file's length, as ftruncate(2).
func (o *OSFile) Truncate(size int64) error {
	if err := o.writable("truncate"); err != nil {
		return err
	}
	return o.f.Truncate(size)
}

// Sync makes completed writes durable, as fsync(2).
func (o *OSFile) Sync() error {
	if o.closed.Load() {
		return &PathError{Op: "sync", Name: o.name, Err: ErrClosed}
	}
	return o.f.Sync()
}

// Close closes the file, releasing its locks. A second Close returns
// ErrClosed.
//
// The locks are released explicitly before the descriptor is closed: a
// child process being started elsewhere in this program may briefly hold a
// duplicate of the descriptor (until its exec closes it), and an OFD lock
// lives as long as any descriptor of its open file description does.
func (o *OSFile) Close() error {
	if o.closed.Swap(true) {
		return &PathError{Op: "close", Name: o.name, Err: ErrClosed}
	}
	unlockAll(o.f)
	return o.f.Close()
}

func (o *OSFile) writable(op string) error {
	if o.closed.Load() {
		return &PathError{Op: op, Name: o.name, Err: ErrClosed}
	}
	if !o.write {
		return &PathError{Op: op, Name: o.name, Err: &wrapped{ErrReadOnly, errors.New("opened without Write")}}
	}
	return nil
}

// OSDir is the host filesystem as a Dir. Its files take no QEMU locks:
// they are imgprep's own (the transaction journal), not images.
type OSDir struct{}

var _ Dir = OSDir{}

// Create makes a new file at path, mode 0600, failing if it exists.
func (OSDir) Create(path string) (File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	return &OSFile{f: f, path: path, name: path, write: true}, nil
}

// Open opens the existing file at path for reading and writing, or for
// reading only when the host refuses writing. It follows no symlink and
// blocks on no FIFO, and refuses, with an error matching ErrUntrusted, a
// file that is not regular, that is owned by neither the effective user
// nor root, or that its group or others may write: a journal someone else
// could have planted or changed.
func (OSDir) Open(path string) (File, error) {
	const flags = unix.O_CLOEXEC | unix.O_NOFOLLOW | unix.O_NONBLOCK
	write := true
	f, err := os.OpenFile(path, os.O_RDWR|flags, 0)
	if err != nil && (errors.Is(err, unix.EACCES) || errors.Is(err, unix.EROFS)) {
		write = false
		f, err = os.OpenFile(path, os.O_RDONLY|flags, 0)
	}
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENXIO) {
		return nil, fmt.Errorf("%w: %s is a symlink or a special file", ErrUntrusted, path)
	}
	if err != nil {
		return nil, err
	}
	if err := trusted(f, path); err != nil {
		f.Close()
		return nil, err
	}
	return &OSFile{f: f, path: path, name: path, write: write}, nil
}

// Remove deletes the file at path.
func (OSDir) Remove(path string) error { return os.Remove(path) }

// SyncDir fsyncs the directory holding path, making a creation or removal
// of path durable.
func (OSDir) SyncDir(path string) error {
	d, err := os.OpenFile(filepath.Dir(path), os.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
