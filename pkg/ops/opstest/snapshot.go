package opstest

import (
	"crypto/sha256"
	"fmt"
	"path"
	"sort"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/pkg/fs"
)

// Entry is what a snapshot records of one path: everything but link
// counts and times, which change as a side effect of changes elsewhere.
type Entry struct {
	Type   fs.FileType
	Perm   uint32
	UID    uint32
	GID    uint32
	Ino    uint64
	Size   int64
	Sum    [32]byte // sha256 of a regular file's content
	Target string   // symlink target
	Rdev   uint32
	Xattrs string // sorted name=value list
}

// Snapshot maps every path of a tree to its Entry.
type Snapshot map[string]Entry

// maxSnapshot bounds the walk, which never follows symlinks.
const maxSnapshot = 1 << 20

// Take walks t from "/" without following symlinks.
func Take(tb testing.TB, t fs.ReadTree) Snapshot {
	tb.Helper()
	s := Snapshot{}
	todo := []string{"/"}
	for len(todo) > 0 {
		if len(s) > maxSnapshot {
			tb.Fatalf("opstest: snapshot over %d paths", maxSnapshot)
		}
		p := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		a, err := t.Lstat(p)
		if err != nil {
			tb.Fatalf("opstest: lstat %s: %v", p, err)
		}
		e := Entry{Type: a.Type(), Perm: a.Perm(), UID: a.UID, GID: a.GID, Ino: a.Ino, Size: a.Size, Rdev: a.Rdev}
		switch a.Type() {
		case fs.TypeRegular:
			data, err := t.ReadFile(p)
			if err != nil {
				tb.Fatalf("opstest: read %s: %v", p, err)
			}
			e.Sum = sha256.Sum256(data)
		case fs.TypeSymlink:
			if e.Target, err = t.Readlink(p); err != nil {
				tb.Fatalf("opstest: readlink %s: %v", p, err)
			}
		case fs.TypeDir:
			ents, err := t.ReadDir(p)
			if err != nil {
				tb.Fatalf("opstest: readdir %s: %v", p, err)
			}
			for _, d := range ents {
				todo = append(todo, path.Join(p, d.Name))
			}
			e.Size = 0
		}
		x, err := t.Xattrs(p)
		if err != nil {
			tb.Fatalf("opstest: xattrs %s: %v", p, err)
		}
		var kv []string
		for k, v := range x {
			kv = append(kv, k+"="+fmt.Sprintf("%x", v))
		}
		sort.Strings(kv)
		e.Xattrs = strings.Join(kv, ",")
		s[p] = e
	}
	return s
}

// Diff returns the sorted paths that were added, removed or changed
// between a and b: two Snapshots, or any two indexes of entries by path.
func Diff[E comparable](a, b map[string]E) []string {
	var out []string
	for p, ea := range a {
		if eb, ok := b[p]; !ok || eb != ea {
			out = append(out, p)
		}
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}
