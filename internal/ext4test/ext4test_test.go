package ext4test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/pkg/fs"
)

// gen is gen.d/ext4.sh's gen: n bytes of 8-byte numbered records.
func gen(n int) []byte {
	var b strings.Builder
	for i := 1; b.Len() < n; i++ {
		fmt.Fprintf(&b, "%07d\n", i)
	}
	return []byte(b.String()[:n])
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestSnapshotSeesWhatTheScriptMade checks Snapshot against facts
// gen.d/ext4.sh put in the fixtures, so a parsing bug cannot pass for a
// tree.
func TestSnapshotSeesWhatTheScriptMade(t *testing.T) {
	epoch := time.Unix(1700000000, 0).UTC()
	cases := []struct {
		image string
		path  string
		check func(Entry) string
	}{
		{"ext4-1k.img", "/data/mib", func(e Entry) string {
			if e.Type != fs.TypeRegular || e.Size != 1<<20 || e.SHA256 != sha(gen(1<<20)) {
				return "not the 1 MiB file of numbered records"
			}
			return ""
		}},
		{"ext4-1k.img", "/data/empty", func(e Entry) string {
			if e.Size != 0 || e.SHA256 != sha(nil) {
				return "not empty"
			}
			return ""
		}},
		{"ext4-1k.img", "/links/hl2", func(e Entry) string {
			if e.Nlink != 3 {
				return "hard link count is not 3"
			}
			return ""
		}},
		{"ext4-1k.img", "/links/fast", func(e Entry) string {
			if e.Type != fs.TypeSymlink || e.Target != "../data/one" {
				return "fast symlink target wrong"
			}
			return ""
		}},
		{"ext4-1k.img", "/links/slow", func(e Entry) string {
			if !strings.HasSuffix(e.Target, "/etc/../etc/hostname") || len(e.Target) != int(e.Size) {
				return "slow symlink target wrong"
			}
			return ""
		}},
		{"ext4-1k.img", "/dev/null", func(e Entry) string {
			if e.Type != fs.TypeChar || e.Rdev != EncodeDev(1, 3) {
				return "not char device 1,3"
			}
			return ""
		}},
		{"ext4-1k.img", "/home/user", func(e Entry) string {
			if e.Mode != fs.ModeDir|0o700 || e.UID != 1000 || e.GID != 1000 {
				return "mode/owner wrong"
			}
			return ""
		}},
		{"ext4-1k.img", "/etc/machine-id", func(e Entry) string {
			if e.Xattrs["security.selinux"] != "system_u:object_r:machineid_t:s0" || !e.Mtime.Equal(epoch) || !e.Ctime.Equal(epoch) {
				return "selinux label or times wrong"
			}
			return ""
		}},
		{"ext4-1k.img", "/data/xattr-block", func(e Entry) string {
			if e.Xattrs["user.big"] != string(gen(600)) {
				return "block xattr wrong"
			}
			return ""
		}},
		{"ext4-links-xattr.img", "/a/many-xattrs", func(e Entry) string {
			if e.Xattrs["trusted.bin"] != "bin\x00ary\xff\n" || len(e.Xattrs) != 4 {
				return "binary xattr wrong"
			}
			return ""
		}},
		{"ext3-1k.img", "/data/triple", func(e Entry) string {
			want := append(make([]byte, 70<<20), "TRIPLE!\n"...)
			if e.Size != int64(len(want)) || e.SHA256 != sha(want) {
				return "triple-indirect sparse file wrong"
			}
			return ""
		}},
		{"ext4-inline.img", "/tiny/d2/link", func(e Entry) string {
			if e.Target != "../small" {
				return "inline symlink target wrong"
			}
			return ""
		}},
	}
	trees := map[string]Tree{}
	for _, c := range cases {
		t.Run(c.image+c.path, func(t *testing.T) {
			tr, ok := trees[c.image]
			if !ok {
				tr = SnapshotWith(t, fixture.Path(t, c.image), Options{MaxRead: -1})
				trees[c.image] = tr
			}
			e, ok := tr[c.path]
			if !ok {
				t.Fatalf("%s missing from the snapshot", c.path)
			}
			if msg := c.check(e); msg != "" {
				t.Errorf("%s: %s: %+v", c.path, msg, e)
			}
		})
	}
}

func TestDiffCheck(t *testing.T) {
	base := Tree{
		"/":  {Path: "/", Ino: 2, Type: fs.TypeDir, Nlink: 3},
		"/d": {Path: "/d", Ino: 12, Type: fs.TypeDir, Nlink: 2},
		"/d/f": {Path: "/d/f", Ino: 13, Type: fs.TypeRegular, Size: 3, SHA256: "aa",
			Xattrs: map[string]string{"user.x": "1"}},
	}
	clone := func(mut func(Tree)) Tree {
		c := Tree{}
		for k, v := range base {
			c[k] = v
		}
		mut(c)
		return c
	}
	cases := []struct {
		name   string
		after  Tree
		expect Expect
		ok     bool
	}{
		{"unchanged tree passes", clone(func(Tree) {}), Expect{}, true},
		{"removal as expected", clone(func(t Tree) { delete(t, "/d/f") }), Expect{Removed: []string{"/d/f"}}, true},
		{"unexpected removal fails", clone(func(t Tree) { delete(t, "/d/f") }), Expect{}, false},
		{"xattr lost on overwrite fails", clone(func(t Tree) {
			e := t["/d/f"]
			e.SHA256, e.Xattrs = "bb", nil
			t["/d/f"] = e
		}), Expect{Changed: map[string][]string{"/d/f": {FieldData}}}, false},
		{"required change missing fails", clone(func(Tree) {}), Expect{Changed: map[string][]string{"/d/f": {FieldMode}}}, false},
		{"parent times may move", clone(func(t Tree) {
			e := t["/d"]
			e.Mtime = time.Unix(5, 0)
			t["/d"] = e
		}), Expect{May: map[string][]string{"/d": DirTimes()}}, true},
		{"a touched directory with both times the clock's passes", clone(func(t Tree) {
			e := t["/d"]
			e.Mtime, e.Ctime, e.Size = time.Unix(50, 0), time.Unix(50, 0), 2048
			t["/d"] = e
		}), Expect{Touched: []string{"/d"}, Now: time.Unix(50, 0)}, true},
		{"a touched directory whose times did not move fails", clone(func(Tree) {}),
			Expect{Touched: []string{"/d"}, Now: time.Unix(50, 0)}, false},
		{"a touched directory with only its mtime moved fails", clone(func(t Tree) {
			e := t["/d"]
			e.Mtime = time.Unix(50, 0)
			t["/d"] = e
		}), Expect{Touched: []string{"/d"}, Now: time.Unix(50, 0)}, false},
		{"a touched directory with another time than the clock's fails", clone(func(t Tree) {
			e := t["/d"]
			e.Mtime, e.Ctime = time.Unix(49, 0), time.Unix(49, 0)
			t["/d"] = e
		}), Expect{Touched: []string{"/d"}, Now: time.Unix(50, 0)}, false},
		{"untouched ctime must not move", clone(func(t Tree) {
			e := t["/"]
			e.Ctime = time.Unix(5, 0)
			t["/"] = e
		}), Expect{}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ft := &fakeTB{TB: t}
			DiffTrees(base, c.after).Check(ft, c.expect)
			if ft.failed == c.ok {
				t.Errorf("Check failed=%v, want failed=%v (%s)", ft.failed, !c.ok, ft.msg)
			}
		})
	}
}

// fakeTB records Errorf instead of failing, so Check itself can be tested.
type fakeTB struct {
	testing.TB
	failed bool
	msg    string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Errorf(format string, args ...any) {
	f.failed = true
	f.msg = fmt.Sprintf(format, args...)
}

func TestWithoutDropsSkippedPathsAndBelow(t *testing.T) {
	tr := Tree{"/": {}, "/a": {}, "/a/b": {}, "/a/b/c": {}, "/ab": {}, "/x": {}}
	got := tr.Without(func(p string) bool { return p == "/a" || p == "/x" }).Paths()
	want := []string{"/", "/ab"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("Without: %q, want %q", got, want)
	}
}
