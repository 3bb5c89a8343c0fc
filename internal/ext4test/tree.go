package ext4test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/imgprep/imgprep/pkg/fs"
)

// Entry is what a snapshot records about one path.
type Entry struct {
	Path  string
	Ino   uint64
	Type  fs.FileType
	Mode  uint32 // st_mode, type and permission bits
	UID   uint32
	GID   uint32
	Size  int64
	Nlink uint32
	// Rdev is new_encode_dev(major, minor) for device nodes, else 0.
	Rdev  uint32
	Atime time.Time
	Mtime time.Time
	Ctime time.Time
	// Crtime is the creation time; zero when the inode has none (128-byte
	// inodes, or an i_extra_isize too small to hold it).
	Crtime time.Time
	// SHA256 is the hex digest of a regular file's contents.
	SHA256 string
	// Target is a symlink's target.
	Target string
	// BlockMap is debugfs's listing of the file's blocks or extents (only
	// Snapshot fills it; Compare ignores it unless both sides have one).
	BlockMap string
	// Xattrs maps every extended attribute's full name to its value,
	// except system.data (the inline-data area, an implementation detail).
	Xattrs map[string]string
}

// DefaultMaxRead is the largest regular file a snapshot reads by default.
// Larger (sparse) files, like ext3-1k.img's 70 MiB /data/triple, cost
// seconds through debugfs, so by default only their block map is compared.
const DefaultMaxRead = 16 << 20

// Options tune a snapshot.
type Options struct {
	// MaxRead is the size above which a regular file's contents are not
	// read: 0 means DefaultMaxRead, a negative value means no limit.
	MaxRead int64
	// Skip, when set, leaves out of a SnapshotFS the paths it returns
	// true for (and, for a directory, everything below it). Snapshot
	// ignores it; filter its tree with Tree.Without.
	Skip func(path string) bool
}

func (o Options) maxRead() int64 {
	switch {
	case o.MaxRead == 0:
		return DefaultMaxRead
	case o.MaxRead < 0:
		return 1<<63 - 1
	}
	return o.MaxRead
}

// NotRead is the SHA256 recorded for a file too large to read; its
// BlockMap stands for its contents.
const NotRead = "(not read)"

// Tree maps every path of a filesystem ("/", "/etc", "/etc/machine-id")
// to its entry.
type Tree map[string]Entry

// Without returns a copy of t without the paths skip returns true for,
// nor anything below them.
func (t Tree) Without(skip func(path string) bool) Tree {
	out := Tree{}
	for p, e := range t {
		drop := false
		for q := p; q != "/"; q = parent(q) {
			if skip(q) {
				drop = true
				break
			}
		}
		if !drop {
			out[p] = e
		}
	}
	return out
}

func parent(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "/"
	}
	return p[:i]
}

// Paths returns the tree's paths, sorted.
func (t Tree) Paths() []string {
	ps := make([]string, 0, len(t))
	for p := range t {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	return ps
}

// Fields that Compare and Diff report, by name.
const (
	FieldIno    = "ino"
	FieldType   = "type"
	FieldMode   = "mode"
	FieldUID    = "uid"
	FieldGID    = "gid"
	FieldSize   = "size"
	FieldNlink  = "nlink"
	FieldRdev   = "rdev"
	FieldAtime  = "atime"
	FieldMtime  = "mtime"
	FieldCtime  = "ctime"
	FieldCrtime = "crtime"
	FieldData   = "content"
	FieldTarget = "target"
	FieldXattrs = "xattrs"
)

// Compare returns the names of the fields in which a and b differ.
func Compare(a, b Entry) []string {
	var f []string
	add := func(diff bool, name string) {
		if diff {
			f = append(f, name)
		}
	}
	add(a.Ino != b.Ino, FieldIno)
	add(a.Type != b.Type, FieldType)
	add(a.Mode != b.Mode, FieldMode)
	add(a.UID != b.UID, FieldUID)
	add(a.GID != b.GID, FieldGID)
	add(a.Size != b.Size, FieldSize)
	add(a.Nlink != b.Nlink, FieldNlink)
	add(a.Rdev != b.Rdev, FieldRdev)
	add(!a.Atime.Equal(b.Atime), FieldAtime)
	add(!a.Mtime.Equal(b.Mtime), FieldMtime)
	add(!a.Ctime.Equal(b.Ctime), FieldCtime)
	add(!a.Crtime.Equal(b.Crtime), FieldCrtime)
	add(a.SHA256 != b.SHA256 || (a.BlockMap != "" && b.BlockMap != "" && a.BlockMap != b.BlockMap), FieldData)
	add(a.Target != b.Target, FieldTarget)
	add(!sameXattrs(a.Xattrs, b.Xattrs), FieldXattrs)
	return f
}

func sameXattrs(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// Describe renders the fields of e named in fields, for failure messages.
func (e Entry) Describe(fields []string) string {
	var b strings.Builder
	for _, f := range fields {
		if b.Len() > 0 {
			b.WriteString(" ")
		}
		switch f {
		case FieldIno:
			fmt.Fprintf(&b, "ino=%d", e.Ino)
		case FieldType:
			fmt.Fprintf(&b, "type=%s", e.Type)
		case FieldMode:
			fmt.Fprintf(&b, "mode=%#o", e.Mode)
		case FieldUID:
			fmt.Fprintf(&b, "uid=%d", e.UID)
		case FieldGID:
			fmt.Fprintf(&b, "gid=%d", e.GID)
		case FieldSize:
			fmt.Fprintf(&b, "size=%d", e.Size)
		case FieldNlink:
			fmt.Fprintf(&b, "nlink=%d", e.Nlink)
		case FieldRdev:
			fmt.Fprintf(&b, "rdev=%#x", e.Rdev)
		case FieldAtime:
			fmt.Fprintf(&b, "atime=%s", e.Atime.UTC().Format(time.RFC3339Nano))
		case FieldMtime:
			fmt.Fprintf(&b, "mtime=%s", e.Mtime.UTC().Format(time.RFC3339Nano))
		case FieldCtime:
			fmt.Fprintf(&b, "ctime=%s", e.Ctime.UTC().Format(time.RFC3339Nano))
		case FieldCrtime:
			fmt.Fprintf(&b, "crtime=%s", e.Crtime.UTC().Format(time.RFC3339Nano))
		case FieldData:
			fmt.Fprintf(&b, "sha256=%.12s", e.SHA256)
		case FieldTarget:
			fmt.Fprintf(&b, "target=%q", e.Target)
		case FieldXattrs:
			fmt.Fprintf(&b, "xattrs=%s", xattrString(e.Xattrs))
		}
	}
	return b.String()
}

func xattrString(m map[string]string) string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, k := range names {
		v := m[k]
		if len(v) > 40 {
			sum := sha256.Sum256([]byte(v))
			parts[i] = fmt.Sprintf("%s=(%d bytes, sha256 %.12x)", k, len(v), sum)
		} else {
			parts[i] = fmt.Sprintf("%s=%q", k, v)
		}
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// SnapshotFS walks r from "/" with ReadDir, Lstat, Open (contents streamed
// through ReadAt), Readlink and
// Xattrs and returns the same shape of tree Snapshot builds from debugfs.
// Any error fails the test, naming the path. Files larger than
// DefaultMaxRead are not read, as in Snapshot.
func SnapshotFS(tb testing.TB, r fs.ReadTree) Tree {
	tb.Helper()
	return SnapshotFSWith(tb, r, Options{})
}

// SnapshotFSWith is SnapshotFS with options.
func SnapshotFSWith(tb testing.TB, r fs.ReadTree, opts Options) Tree {
	tb.Helper()
	t := Tree{}
	var walk func(p string)
	walk = func(p string) {
		e, err := entryFS(r, p, opts.maxRead())
		if err != nil {
			tb.Fatalf("reading %s through fs.ReadTree: %v", p, err)
		}
		t[p] = e
		if e.Type != fs.TypeDir {
			return
		}
		ents, err := r.ReadDir(p)
		if err != nil {
			tb.Fatalf("ReadDir(%q): %v", p, err)
		}
		for _, de := range ents {
			if q := join(p, de.Name); opts.Skip == nil || !opts.Skip(q) {
				walk(q)
			}
		}
	}
	walk("/")
	return t
}

func entryFS(r fs.ReadTree, p string, maxRead int64) (Entry, error) {
	a, err := r.Lstat(p)
	if err != nil {
		return Entry{}, fmt.Errorf("lstat: %w", err)
	}
	e := Entry{
		Path: p, Ino: a.Ino, Type: a.Type(), Mode: a.Mode, UID: a.UID, GID: a.GID,
		Size: a.Size, Nlink: a.Nlink, Atime: a.Atime, Mtime: a.Mtime, Ctime: a.Ctime, Crtime: a.Crtime,
	}
	if e.Type == fs.TypeChar || e.Type == fs.TypeBlock {
		e.Rdev = a.Rdev
	}
	switch e.Type {
	case fs.TypeRegular:
		if a.Size > maxRead {
			e.SHA256 = NotRead
			break
		}
		f, err := r.Open(p)
		if err != nil {
			return e, fmt.Errorf("open: %w", err)
		}
		h := sha256.New()
		n, err := io.Copy(h, io.NewSectionReader(f, 0, a.Size+1))
		f.Close()
		if err != nil {
			return e, fmt.Errorf("read: %w", err)
		}
		if n != a.Size {
			return e, fmt.Errorf("read %d bytes, Lstat says %d", n, a.Size)
		}
		e.SHA256 = hex.EncodeToString(h.Sum(nil))
	case fs.TypeSymlink:
		if e.Target, err = r.Readlink(p); err != nil {
			return e, fmt.Errorf("readlink: %w", err)
		}
	}
	xs, err := r.Xattrs(p)
	if err != nil {
		return e, fmt.Errorf("xattrs: %w", err)
	}
	e.Xattrs = map[string]string{}
	for k, v := range xs {
		if k != "system.data" {
			e.Xattrs[k] = string(v)
		}
	}
	return e, nil
}

func join(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}
