package image

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/imgprep/imgprep/pkg/qcow2"
	"golang.org/x/sys/unix"
)

// ErrTemplateInUse: the image is the backing file of linked clones, and
// writing it would corrupt every one of them.
var ErrTemplateInUse = errors.New("image: image is the backing file of linked clones")

// TemplateError names the linked clones that use an image.
type TemplateError struct {
	Image  string
	Clones []string // sorted
}

func (e *TemplateError) Error() string {
	list := e.Clones
	more := ""
	if len(list) > 3 {
		list, more = list[:3], fmt.Sprintf(" and %d more", len(e.Clones)-3)
	}
	return fmt.Sprintf("%s: %v: %d linked %s (%s%s) would be corrupted by writing it",
		e.Image, ErrTemplateInUse, len(e.Clones), plural(len(e.Clones), "clone", "clones"), strings.Join(list, ", "), more)
}

func (e *TemplateError) Unwrap() error { return ErrTemplateInUse }

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// CloneIndex finds linked clones: for each directory scanned, the backing file
// of every qcow2 image in it, read from its header once. It is safe for
// concurrent use; a directory is scanned on first use and its result
// reused until an entry is added to it or removed (its times change).
type CloneIndex struct {
	mu   sync.Mutex
	dirs map[string]*dirScan
}

type dirScan struct {
	mu    sync.Mutex
	stamp dirStamp // the directory's times when scanned
	done  bool
	links []link
	err   error
}

// dirStamp is what changes in a directory when an entry is added,
// removed or renamed: its modification and change times.
type dirStamp struct{ mtime, ctime unix.Timespec }

func stampOf(dir string) (dirStamp, bool) {
	var st unix.Stat_t
	if unix.Stat(dir, &st) != nil {
		return dirStamp{}, false
	}
	return dirStamp{st.Mtim, st.Ctim}, true
}

// link is one qcow2 image and the file its backing name resolves to.
type link struct {
	path    string
	backing os.FileInfo
}

// NewCloneIndex returns an empty CloneIndex.
func NewCloneIndex() *CloneIndex { return &CloneIndex{dirs: map[string]*dirScan{}} }

// Dependents returns the qcow2 images, in image's own directory and in
// dirs, whose backing file is image (the same host file, however named).
// A missing image has none.
func (x *CloneIndex) Dependents(image string, dirs []string) ([]string, error) {
	fi, err := os.Stat(image)
	if err != nil {
		return nil, nil
	}
	abs, err := filepath.Abs(image)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, d := range append([]string{filepath.Dir(abs)}, dirs...) {
		d, err := filepath.Abs(d)
		if err != nil {
			return nil, err
		}
		links, err := x.scan(d)
		if err != nil {
			return nil, err
		}
		for _, l := range links {
			if os.SameFile(l.backing, fi) && !seen[l.path] {
				seen[l.path] = true
				out = append(out, l.path)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// Check returns a *TemplateError when image has linked clones.
func (x *CloneIndex) Check(image string, dirs []string) error {
	deps, err := x.Dependents(image, dirs)
	if err != nil {
		return fmt.Errorf("%s: looking for linked clones: %w", image, err)
	}
	if len(deps) > 0 {
		return &TemplateError{Image: image, Clones: deps}
	}
	return nil
}

func (x *CloneIndex) scan(dir string) ([]link, error) {
	x.mu.Lock()
	s := x.dirs[dir]
	if s == nil {
		s = &dirScan{}
		x.dirs[dir] = s
	}
	x.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	// Rescanned when an entry was added since: the check runs under the
	// image's lock, and a clone created after an earlier image's scan
	// must still be seen.
	stamp, ok := stampOf(dir)
	if !s.done || !ok || stamp != s.stamp {
		s.stamp = stamp
		s.links, s.err = scanDir(dir)
		s.done = true
	}
	return s.links, s.err
}

// DeviceDir reports whether dir is /dev, under it, or a devtmpfs elsewhere:
// a directory of device nodes, where opening an entry can arm a watchdog,
// rewind a tape or block on a console, and where no image lives.
func DeviceDir(dir string) bool {
	if dir == "/dev" || strings.HasPrefix(dir, "/dev/") {
		return true
	}
	var sfs unix.Statfs_t
	if unix.Statfs(dir, &sfs) != nil || uint32(sfs.Type) != tmpfsMagic {
		return false
	}
	// A tmpfs holding device nodes is a devtmpfs (or a copy of /dev).
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if e.Type()&os.ModeDevice != 0 {
			return true
		}
	}
	return false
}

// scanDir reads the header of every qcow2 image directly in dir. Only
// regular files are looked at (by the directory entry's type, as lstat
// gives it: a symlink, FIFO, socket or device node is never opened), and
// a directory of device nodes is never scanned.
func scanDir(dir string) ([]link, error) {
	if DeviceDir(dir) {
		return nil, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []link
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		p := filepath.Join(dir, e.Name())
		name, ok := BackingName(p)
		if !ok {
			continue
		}
		target := name
		if !filepath.IsAbs(target) {
			target = filepath.Join(dir, target)
		}
		bfi, err := os.Stat(target)
		if err != nil {
			continue // a dangling or protocol name backs nothing here
		}
		out = append(out, link{path: p, backing: bfi})
	}
	return out, nil
}

// errStop ends a header read once the backing name is known.
var errStop = errors.New("image: backing name read")

// BackingName returns the backing file name recorded in the header of
// the qcow2 image at path; ok is false for anything else (not a regular
// file, not qcow2, unreadable, no backing file). It reads the header
// through pkg/qcow2 and opens no backing file.
//
// It opens path O_NONBLOCK|O_NOFOLLOW: a symlink is not followed, and a
// FIFO planted under a qcow2's name does not block it.
func BackingName(path string) (name string, ok bool) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return "", false
	}
	return backingNameAt(f, fi.Size())
}

// backingNameAt is BackingName over size bytes of r.
func backingNameAt(r io.ReaderAt, size int64) (name string, ok bool) {
	magic := make([]byte, 4)
	if size < 4 {
		return "", false
	}
	if _, err := r.ReadAt(magic, 0); err != nil || !qcow2.Probe(magic) {
		return "", false
	}
	img, err := qcow2.Open(r, size, qcow2.Options{Backing: func(n, _ string) (qcow2.Backing, error) {
		name = n
		return nil, errStop
	}})
	if err == nil {
		img.Close()
		return "", false
	}
	return name, name != "" && errors.Is(err, errStop)
}
