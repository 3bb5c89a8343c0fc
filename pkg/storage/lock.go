package storage

import (
	"errors"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Perm is one of QEMU's block-layer permissions, numbered as its lock
// bytes number them.
type Perm uint8

// QEMU's permissions (include/block/block-common.h, BLK_PERM_*), in the
// order of their lock bytes.
const (
	PermConsistentRead Perm = iota // 100 / 200
	PermWrite                      // 101 / 201
	PermWriteUnchanged             // 102 / 202
	PermResize                     // 103 / 203
	PermGraphMod                   // 104 / 204, QEMU 6.1 and earlier
	numPerms
)

// Lock byte bases: byte lockPermBase+i is held for permission i, byte
// lockSharedBase+i for permission i not shared.
const (
	lockPermBase   = 100
	lockSharedBase = 200
)

var permNames = [numPerms]string{"consistent-read", "write", "write-unchanged", "resize", "graph-mod"}

func (p Perm) String() string {
	if p < numPerms {
		return permNames[p]
	}
	return "perm" + strconv.Itoa(int(p))
}

// PermSet is a set of permissions, bit i for Perm i.
type PermSet uint8

// Has reports whether p is in the set.
func (s PermSet) Has(p Perm) bool { return s&(1<<p) != 0 }

// List returns the permissions in the set, in order.
func (s PermSet) List() []Perm {
	var ps []Perm
	for p := range numPerms {
		if s.Has(p) {
			ps = append(ps, p)
		}
	}
	return ps
}

// String joins the names: "consistent-read, write and resize".
func (s PermSet) String() string {
	var names []string
	for _, p := range s.List() {
		names = append(names, p.String())
	}
	switch len(names) {
	case 0:
		return "nothing"
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// Locks describes the QEMU-style locks other processes hold on an image.
type Locks struct {
	Held     PermSet // permissions someone holds (bytes 100+i)
	Unshared PermSet // permissions someone refuses to share (bytes 200+i)
}

// Writing reports whether another process holds the write permission:
// a VM running on the image, qemu-nbd serving it read-write, another
// imgprep preparing it.
func (l Locks) Writing() bool { return l.Held.Has(PermWrite) }

// Any reports whether anyone holds any lock byte.
func (l Locks) Any() bool { return l.Held != 0 || l.Unshared != 0 }

// String describes the holder, leading with the lock that matters most:
// "holds its write lock; also holds consistent-read and resize; does not
// share write and resize".
func (l Locks) String() string {
	var parts []string
	rest := l.Held
	for _, p := range []Perm{PermWrite, PermConsistentRead, PermResize, PermWriteUnchanged, PermGraphMod} {
		if l.Held.Has(p) {
			parts = append(parts, "holds its "+p.String()+" lock")
			rest &^= 1 << p
			break
		}
	}
	if rest != 0 {
		parts = append(parts, "also holds "+rest.String())
	}
	if l.Unshared != 0 {
		parts = append(parts, "does not share "+l.Unshared.String())
	}
	if len(parts) == 0 {
		return "holds no lock"
	}
	return strings.Join(parts, "; ")
}

// InUseError is the error for an image whose locks forbid our access. It
// matches ErrInUse with errors.Is.
type InUseError struct {
	Name   string // the image's name, as in OpenOptions.Name
	Write  bool   // whether we wanted to write
	Others Locks  // what the other processes hold
}

func (e *InUseError) Error() string {
	verb := "read"
	if e.Write {
		verb = "write"
	}
	return "refusing to " + verb + ": " + e.Name + " is in use by another process (QEMU " + e.Others.String() + ")"
}

// Reason is Error without the image's name, for a caller that names the
// image itself: "refusing to write: in use by another process (QEMU ...)".
func (e *InUseError) Reason() string {
	verb := "read"
	if e.Write {
		verb = "write"
	}
	return "refusing to " + verb + ": in use by another process (QEMU " + e.Others.String() + ")"
}

// Unwrap returns ErrInUse.
func (e *InUseError) Unwrap() error { return ErrInUse }

// probe asks, for every lock byte, whether another open file description
// holds it. Locks of f's own description never count.
func probe(f *os.File) (Locks, error) {
	var l Locks
	for p := range numPerms {
		held, err := lockedByOther(f, lockPermBase+int64(p))
		if err != nil {
			return l, err
		}
		if held {
			l.Held |= 1 << p
		}
		unshared, err := lockedByOther(f, lockSharedBase+int64(p))
		if err != nil {
			return l, err
		}
		if unshared {
			l.Unshared |= 1 << p
		}
	}
	return l, nil
}

// lockedByOther reports whether a write lock on byte off would conflict
// with a lock held through another open file description.
func lockedByOther(f *os.File, off int64) (bool, error) {
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: io.SeekStart, Start: off, Len: 1}
	if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_GETLK, &lk); err != nil {
		return false, lockErr(err)
	}
	return lk.Type != unix.F_UNLCK, nil
}

// readLock takes a shared OFD lock on n bytes from off.
func readLock(f *os.File, off, n int64) error {
	lk := unix.Flock_t{Type: unix.F_RDLCK, Whence: io.SeekStart, Start: off, Len: n}
	return lockErr(unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk))
}

// unlockAll releases every lock byte this open file description holds. It
// is best effort: close releases them too once no descriptor remains.
func unlockAll(f *os.File) {
	lk := unix.Flock_t{Type: unix.F_UNLCK, Whence: io.SeekStart, Start: lockPermBase, Len: lockSharedBase + int64(numPerms) - lockPermBase}
	_ = unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk)
}

// lockErr maps the errors of a filesystem without OFD locks to
// ErrLockUnsupported; EAGAIN/EACCES (someone holds a write lock) pass on.
func lockErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, unix.ENOLCK) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP) {
		return &wrapped{ErrLockUnsupported, err}
	}
	return err
}

// lock takes the locks for our access and checks nobody else forbids it.
// On success the locks stay held until f is closed.
func lock(f *os.File, name string, write bool) error {
	type span struct{ off, n int64 }
	spans := []span{{lockPermBase + int64(PermConsistentRead), 1}}
	if write {
		spans = []span{
			{lockPermBase + int64(PermConsistentRead), 2}, // consistent-read, write
			{lockPermBase + int64(PermResize), 1},
			{lockSharedBase, 4}, // share none of the first four
		}
	}
	for _, s := range spans {
		if err := readLock(f, s.off, s.n); err != nil {
			if errors.Is(err, ErrLockUnsupported) {
				return &PathError{Op: "lock", Name: name, Err: err}
			}
			// A write lock on a QEMU byte: held by something not QEMU,
			// but it forbids us all the same.
			others, _ := probe(f)
			return &InUseError{Name: name, Write: write, Others: others}
		}
	}
	others, err := probe(f)
	if err != nil {
		return &PathError{Op: "lock", Name: name, Err: err}
	}
	conflict := others.Any()
	if !write {
		conflict = others.Unshared.Has(PermConsistentRead)
	}
	if conflict {
		return &InUseError{Name: name, Write: write, Others: others}
	}
	return nil
}

// Probe reports the QEMU-style locks other processes hold on the file at
// path, without taking any. It is for diagnostics ("imgprep info" saying
// a VM is running); OpenFile does its own check atomically with locking.
func Probe(path string) (Locks, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return Locks{}, &PathError{Op: "open", Name: path, Err: err}
	}
	defer f.Close()
	l, err := probe(f)
	if err != nil {
		return l, &PathError{Op: "lock", Name: path, Err: err}
	}
	return l, nil
}
