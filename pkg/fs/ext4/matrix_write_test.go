package ext4_test

import (
	"errors"
	"path"
	"sync"
	"testing"

	"github.com/imgprep/imgprep/internal/ext4test"
	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/fs/ext4"
)

// writeOp is one row of the write matrix: something done to a writable
// filesystem, and what the tree must look like afterwards.
type writeOp struct {
	// name carries the rule being checked, in the spec's words.
	name string
	// do performs the operation. An error fails the test unless wantErr
	// matches it.
	do func(f *ext4.FS) error
	// wantErr, when set, is the sentinel the operation must fail with;
	// the tree must then be unchanged.
	wantErr error
	// expect returns the changes allowed, given the tree before.
	expect func(before ext4test.Tree) ext4test.Expect
	// verify, when set, checks the tree after (as debugfs reads it).
	verify func(t *testing.T, img string, before, after ext4test.Tree)
}

// pristine caches the debugfs snapshot of each unmodified fixture.
var pristine sync.Map // image name -> ext4test.Tree

func pristineTree(t *testing.T, name string) ext4test.Tree {
	t.Helper()
	if v, ok := pristine.Load(name); ok {
		return v.(ext4test.Tree)
	}
	tr := ext4test.Snapshot(t, fixture.Path(t, name))
	pristine.Store(name, tr)
	return tr
}

// runMatrix runs every op on a fresh copy of every image: the op, Sync,
// e2fsck -fn, a debugfs snapshot diffed against the pristine one, and our
// own reader's view of the result against debugfs's.
func runMatrix(t *testing.T, images []string, ops []writeOp) {
	for _, name := range images {
		t.Run(name, func(t *testing.T) {
			before := pristineTree(t, name)
			for _, op := range ops {
				t.Run(op.name, func(t *testing.T) {
					t.Parallel()
					runOp(t, name, before, op)
				})
			}
		})
	}
}

func runOp(t *testing.T, name string, before ext4test.Tree, op writeOp) {
	img := fixture.Path(t, name)
	fsys, done := openWrite(t, img)
	err := op.do(fsys)
	done()
	switch {
	case op.wantErr != nil && !errors.Is(err, op.wantErr):
		t.Errorf("got error %v, want one wrapping %v", err, op.wantErr)
	case op.wantErr == nil && err != nil:
		t.Errorf("%v", err)
	}
	oracle.E2fsckClean(t, img)
	after := ext4test.Snapshot(t, img)
	var want ext4test.Expect
	if op.expect != nil && op.wantErr == nil {
		want = op.expect(before)
	}
	ext4test.DiffTrees(before, after).Check(t, want)
	if op.verify != nil && !t.Failed() {
		op.verify(t, img, before, after)
	}
	// Our reader sees what debugfs sees. The htree image is left out:
	// its 5000 lookups are covered by TestReadParityWithDebugfs.
	if name != "ext4-htree.img" {
		ext4test.Parity(t, ext4test.SnapshotFS(t, openRead(t, img)), after)
	}
}

// parentMay lets the parent directories of paths change their times, size
// and (for directories added or removed) link count.
func parentMay(e *ext4test.Expect, paths ...string) {
	if e.May == nil {
		e.May = map[string][]string{}
	}
	for _, p := range paths {
		e.May[path.Dir(p)] = ext4test.DirTimes
	}
}

// changed adds required field changes for path p.
func changed(e *ext4test.Expect, p string, fields ...string) {
	if e.Changed == nil {
		e.Changed = map[string][]string{}
	}
	e.Changed[p] = append(e.Changed[p], fields...)
}

// namesOf returns every path of tr naming the same inode as p.
func namesOf(tr ext4test.Tree, p string) []string {
	var out []string
	for _, q := range tr.Paths() {
		if tr[q].Ino == tr[p].Ino {
			out = append(out, q)
		}
	}
	return out
}

// expectRemoved is the expectation for removing p (and everything below
// it): those paths go, their parents may change, other names of removed
// inodes lose links, and a removed directory's parent loses one.
func expectRemoved(before ext4test.Tree, paths ...string) ext4test.Expect {
	var e ext4test.Expect
	gone := map[string]bool{}
	for _, p := range paths {
		for _, q := range before.Below(p) {
			gone[q] = true
		}
	}
	for q := range gone {
		e.Removed = append(e.Removed, q)
		parentMay(&e, q)
	}
	for q := range gone {
		if before[q].Type == fs.TypeDir {
			if parent := path.Dir(q); !gone[parent] && before[parent].Nlink > 2 {
				changed(&e, parent, ext4test.FieldNlink)
			}
			continue
		}
		// Names of the same inode that survive lose a link each.
		for _, other := range namesOf(before, q) {
			if !gone[other] {
				if !contains(e.Changed[other], ext4test.FieldNlink) {
					changed(&e, other, ext4test.FieldNlink)
				}
			}
		}
	}
	return e
}

// expectInode is the expectation for changing fields of the inode at p:
// every name of the inode shows the change.
func expectInode(before ext4test.Tree, p string, fields ...string) ext4test.Expect {
	var e ext4test.Expect
	for _, q := range namesOf(before, p) {
		changed(&e, q, fields...)
	}
	return e
}

func contains(a []string, s string) bool {
	for _, x := range a {
		if x == s {
			return true
		}
	}
	return false
}

// TestWriteMatrixCommonTree runs every write operation on every flavour of
// the common tree.
func TestWriteMatrixCommonTree(t *testing.T) {
	runMatrix(t, commonFixtures, commonOps())
}

// TestWriteMatrixSpecial runs the operations that need one structure: the
// 5000-entry htree, the depth-1 extent tree, the triple-indirect sparse
// file, many names and xattrs.
func TestWriteMatrixSpecial(t *testing.T) {
	for image, ops := range specialOps() {
		runMatrix(t, []string{image}, ops)
	}
}
