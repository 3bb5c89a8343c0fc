package syspreptest

import (
	"bytes"
	"path"

	"github.com/imgprep/imgprep/pkg/fs"
)

// equalTrees reports whether two trees hold the same paths, types, modes,
// owners, contents and symlink targets.
func equalTrees(a, b fs.ReadTree) bool {
	todo := []string{"/"}
	for len(todo) > 0 {
		p := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		x, errA := a.Lstat(p)
		y, errB := b.Lstat(p)
		if (errA == nil) != (errB == nil) {
			return false
		}
		if errA != nil {
			continue
		}
		if x.Mode != y.Mode || x.UID != y.UID || x.GID != y.GID || x.Size != y.Size {
			return false
		}
		switch x.Type() {
		case fs.TypeRegular:
			da, _ := a.ReadFile(p)
			db, _ := b.ReadFile(p)
			if !bytes.Equal(da, db) {
				return false
			}
		case fs.TypeSymlink:
			ta, _ := a.Readlink(p)
			tb, _ := b.Readlink(p)
			if ta != tb {
				return false
			}
		case fs.TypeDir:
			ea, _ := a.ReadDir(p)
			eb, _ := b.ReadDir(p)
			if len(ea) != len(eb) {
				return false
			}
			for _, e := range ea {
				todo = append(todo, path.Join(p, e.Name))
			}
		}
	}
	return true
}
