package ext4_test

import (
	"bytes"
	"errors"
	"os"
	"path"
	"path/filepath"
	"sort"
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

// runMatrix runs every op on a fresh copy of every image: the op, Sync,
// e2fsck -fn, a debugfs snapshot diffed against the pristine one, and our
// own reader's view of the result against debugfs's. Each image is
// decompressed and snapshotted once; every op works on a sparse copy.
func runMatrix(t *testing.T, images []string, ops []writeOp) {
	for _, name := range images {
		t.Run(name, func(t *testing.T) {
			tmpl := fixture.Path(t, name)
			before := ext4test.Snapshot(t, tmpl)
			for _, op := range ops {
				t.Run(op.name, func(t *testing.T) {
					t.Parallel()
					img := filepath.Join(t.TempDir(), name)
					copySparse(t, tmpl, img)
					runOp(t, img, before, op)
				})
			}
		})
	}
}

// copySparse copies the host file src to dst, leaving all-zero 64 KiB
// runs as holes.
func copySparse(tb testing.TB, src, dst string) {
	tb.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		tb.Fatal(err)
	}
	out, err := os.Create(dst)
	if err != nil {
		tb.Fatal(err)
	}
	defer out.Close()
	const chunk = 64 << 10
	zero := make([]byte, chunk)
	for off := 0; off < len(b); off += chunk {
		end := min(off+chunk, len(b))
		if bytes.Equal(b[off:end], zero[:end-off]) {
			continue
		}
		if _, err := out.WriteAt(b[off:end], int64(off)); err != nil {
			tb.Fatal(err)
		}
	}
	if err := out.Truncate(int64(len(b))); err != nil {
		tb.Fatal(err)
	}
}

func runOp(t *testing.T, img string, before ext4test.Tree, op writeOp) {
	sum := fileSHA(t, img)
	fsys, done := openWrite(t, img)
	err := op.do(fsys)
	done()
	// A refused call writes nothing: the image stays byte-identical.
	if op.wantErr != nil {
		if got := fileSHA(t, img); got != sum {
			t.Errorf("the image changed (sha256 %.12s, was %.12s) though the call failed", got, sum)
		}
	}
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
	// Our reader sees what debugfs sees. The htree image is left out:
	// its 5000 lookups are covered by TestReadParityWithDebugfs.
	if filepath.Base(img) != "ext4-htree.img" {
		ext4test.Parity(t, ext4test.SnapshotFS(t, openRead(t, img)), after)
	}
	// verify may write again (a second session), so it comes last.
	if op.verify != nil && !t.Failed() {
		op.verify(t, img, before, after)
	}
}

// parentTouched requires the parent directories of paths, whose entries
// were added or removed, to end with mtime and ctime equal to the clock, as
// the kernel sets them; their size, link count and blocks may change.
func parentTouched(e *ext4test.Expect, paths ...string) {
	e.Now = now
	for _, p := range paths {
		if d := path.Dir(p); !contains(e.Touched, d) {
			e.Touched = append(e.Touched, d)
		}
	}
}

// may lets fields of p change without requiring it.
func may(e *ext4test.Expect, p string, fields ...string) {
	if e.May == nil {
		e.May = map[string][]string{}
	}
	e.May[p] = append(e.May[p], fields...)
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
	ino := tr[p].Ino
	for q, e := range tr {
		if e.Ino == ino {
			out = append(out, q)
		}
	}
	sort.Strings(out)
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
		parentTouched(&e, q)
	}
	for q := range gone {
		if before[q].Type == fs.TypeDir {
			if parent := path.Dir(q); !gone[parent] && before[parent].Nlink > 2 {
				changed(&e, parent, ext4test.FieldNlink)
			}
			continue
		}
		if before[q].Nlink < 2 {
			continue
		}
		// Names of the same inode that survive lose a link each.
		for _, other := range namesOf(before, q) {
			if !gone[other] && !contains(e.Changed[other], ext4test.FieldNlink) {
				changed(&e, other, ext4test.FieldNlink)
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

// TestWriteMatrixCommonTree runs every write operation on the common tree
// as ext2 (indirect maps, no journal) and as ext4 with 1 KiB blocks
// (extents, metadata_csum, two groups), and the operations that touch each
// kind of metadata block on the other ext4 flavours. With IMGPREP_LONG set
// (make test-long) every flavour gets every operation.
func TestWriteMatrixCommonTree(t *testing.T) {
	full := []string{"ext2.img", "ext4-1k.img"}
	var rest []string
	for _, name := range commonFixtures() {
		// ext3 is ext2 plus a journal the engine never writes: its own
		// operations are in TestWriteMatrixSpecial.
		if name != full[0] && name != full[1] && name != "ext3-1k.img" {
			rest = append(rest, name)
		}
	}
	if os.Getenv("IMGPREP_LONG") != "" {
		full, rest = commonFixtures(), nil
	}
	runMatrix(t, full, commonOps())
	runMatrix(t, rest, metadataOps(t))
}

// metadataOps is the subset of commonOps that writes every kind of
// metadata block once: inode and block bitmaps, group descriptors, inode
// table, directory blocks, extent or indirect blocks, xattr blocks, inline
// data, symlink blocks, and the ".." of a moved directory.
func metadataOps(t *testing.T) []writeOp {
	t.Helper()
	want := map[string]bool{
		"Remove/a regular file: its entry goes, its inode and blocks are freed":                                     true,
		"Remove/a file whose xattrs live in an xattr block (refcount dropped, block freed)":                         true,
		"Remove/an empty directory: the parent loses the link of its '..'":                                          true,
		"RemoveAll/a directory tree with a hard link leaving it":                                                    true,
		"Truncate/to a smaller size in the middle of a block (double-indirect range at 1 KiB)":                      true,
		"Truncate/growing a file leaves a hole that reads as zeros":                                                 true,
		"WriteFile/creates a 300 KiB file":                                                                          true,
		"WriteFile/overwriting keeps the inode number, xattrs and ownership (empty machine-id)":                     true,
		"WriteFile/overwriting with more data keeps the xattr block":                                                true,
		"Mkdir/creates a directory and bumps the parent's links_count":                                              true,
		"Symlink/a slow symlink (target > 60 bytes) gets a data block":                                              true,
		"Chmod/changes the permission bits only":                                                                    true,
		"Rename/a directory to another directory updates '..' and both parents' links_count":                        true,
		"Rename/replacing an existing file frees the replaced inode":                                                true,
		"Link/a new hard link bumps links_count":                                                                    true,
		"Chown/changes uid and gid, including the high 16 bits":                                                     true,
		"Utimes/sets atime and mtime":                                                                               true,
		"Session/a sysprep-like sequence of calls, then a second session on the same image":                         true,
		"WriteFile/overwriting with more data than the free space fails with ErrNoSpace and keeps the old contents": true,
	}
	var ops []writeOp
	for _, op := range commonOps() {
		if want[op.name] {
			ops = append(ops, op)
			delete(want, op.name)
		}
	}
	if len(want) > 0 {
		t.Fatalf("metadataOps names operations commonOps lacks: %v", want)
	}
	return ops
}

// TestWriteMatrixSpecial runs the operations that need one structure: the
// 5000-entry htree, the depth-1 extent tree, the triple-indirect sparse
// file, many names and xattrs.
func TestWriteMatrixSpecial(t *testing.T) {
	for image, ops := range specialOps() {
		runMatrix(t, []string{image}, ops)
	}
}
