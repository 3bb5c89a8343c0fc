package ext4_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/ext4test"
	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/fs/ext4"
)

// mnode is one inode of the model; hard links share it.
type mnode struct {
	typ    fs.FileType
	perm   uint32
	size   int64
	sha    string // of data, for regular files
	data   []byte // nil when unknown (a file from the fixture)
	known  bool
	target string
}

// model is what the tree must look like: path -> inode.
type model map[string]*mnode

func modelOf(tr ext4test.Tree) model {
	m := model{}
	byIno := map[uint64]*mnode{}
	for _, p := range tr.Paths() {
		e := tr[p]
		n, ok := byIno[e.Ino]
		if !ok {
			n = &mnode{typ: e.Type, perm: e.Mode & fs.ModePermMask, size: e.Size, sha: e.SHA256, target: e.Target}
			byIno[e.Ino] = n
		}
		m[p] = n
	}
	return m
}

// pick returns a random path of m accepted by ok, or "".
func (m model) pick(r *rand.Rand, ok func(p string, n *mnode) bool) string {
	var cands []string
	for p, n := range m {
		if p != "/" && p != "/lost+found" && !strings.HasPrefix(p, "/lost+found/") && ok(p, n) {
			cands = append(cands, p)
		}
	}
	if len(cands) == 0 {
		return ""
	}
	sort.Strings(cands)
	return cands[r.IntN(len(cands))]
}

func (m model) dirs() []string {
	var ds []string
	for p, n := range m {
		if n.typ == fs.TypeDir && p != "/lost+found" {
			ds = append(ds, p)
		}
	}
	sort.Strings(ds)
	return ds
}

func (m model) below(p string) []string {
	var out []string
	for q := range m {
		if q == p || strings.HasPrefix(q, p+"/") {
			out = append(out, q)
		}
	}
	return out
}

// randomStep performs one random valid operation on f and the model, and
// describes it.
func randomStep(r *rand.Rand, f *ext4.FS, m model, seq *int) (string, error) {
	*seq++
	newName := func() string {
		ds := m.dirs()
		return join(ds[r.IntN(len(ds))], fmt.Sprintf("r%03d", *seq))
	}
	isFile := func(_ string, n *mnode) bool { return n.typ == fs.TypeRegular }
	switch op := r.IntN(10); op {
	case 0, 1: // create; now and then a file of MiBs, until the space runs out
		p := newName()
		size := r.IntN(3) * r.IntN(70000)
		if r.IntN(8) == 0 {
			size = r.IntN(4 << 20)
		}
		data := gen(size)
		err := f.WriteFile(p, data, fs.WriteOptions{Perm: 0o640})
		if errors.Is(err, fs.ErrNoSpace) {
			return fmt.Sprintf("WriteFile new %s (%d bytes): no space, nothing created", p, size), nil
		}
		m[p] = &mnode{typ: fs.TypeRegular, perm: 0o640, size: int64(len(data)), sha: shaOf(data), data: data, known: true}
		return fmt.Sprintf("WriteFile new %s (%d bytes)", p, size), err
	case 2: // overwrite
		p := m.pick(r, isFile)
		if p == "" {
			return "nothing to overwrite", nil
		}
		data := gen(r.IntN(40000))
		if r.IntN(8) == 0 {
			data = gen(r.IntN(4 << 20))
		}
		err := f.WriteFile(p, data, fs.WriteOptions{Perm: 0o600})
		if errors.Is(err, fs.ErrNoSpace) {
			return fmt.Sprintf("WriteFile overwrite %s (%d bytes): no space, old contents kept", p, len(data)), nil
		}
		n := m[p]
		n.data, n.known, n.size, n.sha = data, true, int64(len(data)), shaOf(data)
		return fmt.Sprintf("WriteFile overwrite %s (%d bytes)", p, len(data)), err
	case 3: // truncate a file whose data is known
		p := m.pick(r, func(_ string, n *mnode) bool { return n.typ == fs.TypeRegular && n.known })
		if p == "" {
			return "nothing to truncate", nil
		}
		n := m[p]
		size := r.IntN(len(n.data) + 5000)
		if size <= len(n.data) {
			n.data = n.data[:size]
		} else {
			n.data = append(n.data, make([]byte, size-len(n.data))...)
		}
		n.size, n.sha = int64(size), shaOf(n.data)
		return fmt.Sprintf("Truncate %s %d", p, size), f.Truncate(p, int64(size))
	case 4: // remove a non-directory
		p := m.pick(r, func(_ string, n *mnode) bool { return n.typ != fs.TypeDir })
		if p == "" {
			return "nothing to remove", nil
		}
		delete(m, p)
		return "Remove " + p, f.Remove(p)
	case 5: // remove a directory tree
		p := m.pick(r, func(_ string, n *mnode) bool { return n.typ == fs.TypeDir })
		if p == "" || r.IntN(3) != 0 { // keep trees around most of the time
			p := newName()
			m[p] = &mnode{typ: fs.TypeDir, perm: 0o755}
			return "Mkdir " + p, f.Mkdir(p, 0o755, fs.Owner{})
		}
		for _, q := range m.below(p) {
			delete(m, q)
		}
		return "RemoveAll " + p, f.RemoveAll(p)
	case 6: // symlink
		p := newName()
		target := strings.Repeat("../x/", r.IntN(25)) + "t"
		m[p] = &mnode{typ: fs.TypeSymlink, perm: 0o777, size: int64(len(target)), target: target}
		return "Symlink " + p, f.Symlink(target, p, fs.Owner{})
	case 7: // hard link
		p := m.pick(r, isFile)
		if p == "" {
			return "nothing to link", nil
		}
		q := newName()
		m[q] = m[p]
		return "Link " + p + " " + q, f.Link(p, q)
	case 8: // rename a file or a tree, sometimes over an existing file
		p := m.pick(r, func(string, *mnode) bool { return true })
		if p == "" {
			return "nothing to rename", nil
		}
		q := newName()
		if m[p].typ != fs.TypeDir && r.IntN(2) == 0 {
			// Not over another name of the same inode: rename(2) does
			// nothing then.
			if over := m.pick(r, isFile); over != "" && m[over] != m[p] {
				q = over
			}
		}
		if m[p].typ == fs.TypeDir && (q == p || strings.HasPrefix(q, p+"/")) {
			return "rename into itself skipped", nil
		}
		moved := map[string]*mnode{}
		for _, x := range m.below(p) {
			moved[q+x[len(p):]] = m[x]
			delete(m, x)
		}
		for k, v := range moved {
			m[k] = v
		}
		return "Rename " + p + " " + q, f.Rename(p, q)
	default: // chmod
		p := m.pick(r, func(_ string, n *mnode) bool { return n.typ != fs.TypeSymlink })
		if p == "" {
			return "nothing to chmod", nil
		}
		perm := uint32(r.IntN(0o1000))
		m[p].perm = perm
		return fmt.Sprintf("Chmod %s %#o", p, perm), f.Chmod(p, perm)
	}
}

func join(dir, name string) string { return path.Join(dir, name) }

// compareModel fails the test unless the debugfs snapshot holds exactly the
// model's paths, with its types, permissions, sizes, contents, symlink
// targets and link counts.
func compareModel(t *testing.T, m model, tr ext4test.Tree, log []string) {
	t.Helper()
	var problems []string
	names := map[*mnode]int{}
	for _, n := range m {
		names[n]++
	}
	for p, n := range m {
		e, ok := tr[p]
		switch {
		case !ok:
			problems = append(problems, "missing "+p)
		case e.Type != n.typ || e.Mode&fs.ModePermMask != n.perm:
			problems = append(problems, fmt.Sprintf("%s: %s %#o, want %s %#o", p, e.Type, e.Mode&fs.ModePermMask, n.typ, n.perm))
		case n.typ == fs.TypeRegular && (e.Size != n.size || e.SHA256 != n.sha):
			problems = append(problems, fmt.Sprintf("%s: %d bytes sha256 %.12s, want %d bytes %.12s", p, e.Size, e.SHA256, n.size, n.sha))
		case n.typ == fs.TypeSymlink && e.Target != n.target:
			problems = append(problems, fmt.Sprintf("%s -> %q, want %q", p, e.Target, n.target))
		case n.typ != fs.TypeDir && int(e.Nlink) != names[n]:
			problems = append(problems, fmt.Sprintf("%s: nlink %d, want %d", p, e.Nlink, names[n]))
		}
	}
	for p := range tr {
		if _, ok := m[p]; !ok {
			problems = append(problems, "unexpected "+p)
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		t.Errorf("the tree differs from the model:\n  %s\noperations:\n  %s", strings.Join(problems, "\n  "), strings.Join(log, "\n  "))
	}
}

// TestRandomOperationSequences applies seeded random sequences of valid
// operations (create, overwrite, truncate, remove, mkdir, remove a tree,
// symlink, hard link, rename over files and across directories, chmod;
// files of MiBs until the space runs out, when nothing may change),
// syncing and reopening midway, then checks e2fsck -fn and the tree
// debugfs reads against a model of what the calls asked for. The seed is
// in the subtest name.
func TestRandomOperationSequences(t *testing.T) {
	seeds, steps := 4, 40
	if os.Getenv("IMGPREP_LONG") != "" {
		seeds, steps = 64, 120
	}
	images := []string{"ext4-1k.img", "ext2.img", "ext4-default.img", "ext4-inline.img"}
	if os.Getenv("IMGPREP_LONG") != "" {
		images = append(commonFixtures(), "ext4-htree.img", "ext4-links-xattr.img", "ext4-fragmented.img")
	}
	for _, name := range images {
		t.Run(name, func(t *testing.T) {
			tmpl := fixture.Path(t, name)
			before := ext4test.Snapshot(t, tmpl)
			for seed := 1; seed <= seeds; seed++ {
				t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
					t.Parallel()
					img := filepath.Join(t.TempDir(), name)
					copySparse(t, tmpl, img)
					r := rand.New(rand.NewPCG(uint64(seed), 0x1e4f))
					m := modelOf(before)
					var log []string
					seq := 0
					for session := 0; session < 2; session++ {
						f, done := openWrite(t, img)
						for i := 0; i < steps/2; i++ {
							what, err := randomStep(r, f, m, &seq)
							log = append(log, what)
							if err != nil {
								done()
								t.Fatalf("%s: %v\noperations:\n  %s", what, err, strings.Join(log, "\n  "))
							}
						}
						done()
						log = append(log, "-- Sync, reopen")
					}
					if problems, out := oracle.E2fsckProblems(t, img); len(problems) > 0 {
						t.Fatalf("e2fsck -fn: %s\n%s\noperations:\n  %s", strings.Join(problems, "; "), out, strings.Join(log, "\n  "))
					}
					compareModel(t, m, ext4test.Snapshot(t, img), log)
				})
			}
		})
	}
}
