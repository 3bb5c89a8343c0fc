package ext4

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/fs"
)

// dirFlags returns the i_flags of the directory at p as our reader sees
// them.
func dirFlags(tb testing.TB, f *FS, p string) uint32 {
	tb.Helper()
	in, err := f.resolve(p, false)
	if err != nil {
		tb.Fatal(err)
	}
	return in.d.Flags
}

// debugfsNames returns the names debugfs ls lists in directory p.
func debugfsNames(tb testing.TB, img, p string) map[string]bool {
	tb.Helper()
	out := oracle.Debugfs(tb, img, "ls -p \""+p+"\"")
	names := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		// /ino/mode/uid/gid/name/size/
		// An htree interior node reads as an unused entry (inode 0).
		parts := strings.Split(line, "/")
		if len(parts) >= 7 && parts[1] != "0" {
			names[parts[5]] = true
		}
	}
	return names
}

// TestHtreeInsert: "insert into the leaf chosen by the name's hash when it
// has room"; a full leaf is split (and a full interior node with it):
// names added to the 5000-entry, two-level htree directory of
// ext4-htree.img leave e2fsck -fn clean (it checks every leaf's hash
// range against the index) and debugfs finds every one of them.
func TestHtreeInsert(t *testing.T) {
	oracle.Require(t, "e2fsck")
	for _, tc := range []struct {
		name string
		n    int
		drop bool // drop the index first, as for a full root
	}{
		{"one name goes into its hash's leaf", 1, false},
		{"300 names split full leaves and a full interior node; the index stays", 300, false},
		{"with the index dropped the directory is linear and still valid", 50, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := fixture.Path(t, "ext4-htree.img")
			base := len(debugfsNames(t, img, "/big"))
			f, _ := openRW(t, img)
			if tc.drop {
				dir, err := f.resolve("/big", false)
				if err != nil {
					t.Fatal(err)
				}
				if err := f.dropIndex(dir); err != nil {
					t.Fatal(err)
				}
				if err := f.writeInode(dir); err != nil {
					t.Fatal(err)
				}
			}
			var added []string
			for i := 0; i < tc.n; i++ {
				name := fmt.Sprintf("added-name-of-about-forty-bytes-%05d", i)
				if err := f.WriteFile("/big/"+name, []byte(name), fs.WriteOptions{Perm: 0o644}); err != nil {
					t.Fatalf("WriteFile %s: %v", name, err)
				}
				added = append(added, name)
			}
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			if got := dirFlags(t, f, "/big")&inodeFlagIndex != 0; got == tc.drop {
				t.Errorf("INDEX_FL after %d inserts: %v", tc.n, got)
			}
			oracle.E2fsckClean(t, img)
			names := debugfsNames(t, img, "/big")
			if len(names) != base+tc.n || base < 5000 {
				t.Errorf("debugfs lists %d names in /big, want %d+%d", len(names), base, tc.n)
			}
			for _, n := range added {
				if !names[n] {
					t.Errorf("debugfs does not list %s", n)
				}
			}
			wantCat(t, img, "/big/"+added[len(added)-1], []byte(added[len(added)-1]))
		})
	}
}

// TestHtreeHashVersions: the leaf is chosen with the directory's own hash
// (dx_root_info.hash_version, unsigned per s_flags): htrees built by
// e2fsck -D with legacy, half_md4 and tea hashes, signed and unsigned,
// take 400 new names (splitting leaves) and stay e2fsck-clean.
func TestHtreeHashVersions(t *testing.T) {
	oracle.Require(t, "e2fsck")
	src := sourceTree(t, 1500)
	for _, tc := range []struct {
		name, alg string
		unsigned  bool
		version   int
		cfg       int // index in testConfigs
	}{
		{"half_md4 without metadata_csum (ext3, no dx_tail)", "half_md4", false, 1, 8},
		{"legacy", "legacy", false, 0, 1},
		{"half_md4 unsigned", "half_md4", true, 1, 1},
		{"tea", "tea", false, 2, 1},
		{"tea unsigned", "tea", true, 2, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			img := mkfs(t, testConfigs()[tc.cfg], src)
			flags := "1"
			if tc.unsigned {
				flags = "2"
			}
			debugfsW(t, img, "ssv def_hash_version "+tc.alg, "ssv flags "+flags)
			if out, errOut, code := oracle.Run(t, "e2fsck", "-fyD", img); code > 1 {
				t.Fatalf("e2fsck -fyD: %d %s%s", code, out, errOut)
			}
			if out := oracle.Debugfs(t, img, "htree_dump /many"); !strings.Contains(out, fmt.Sprintf("Hash Version: %d\n", tc.version)) {
				t.Fatalf("/many is not indexed:\n%.300s", out)
			}
			f, _ := openRW(t, img)
			before, err := f.Lstat("/many")
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 400; i++ {
				if err := f.WriteFile(fmt.Sprintf("/many/n-%04d-\xc3\xa9\xff", i), nil, fs.WriteOptions{Perm: 0o644}); err != nil {
					t.Fatal(err)
				}
			}
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			if dirFlags(t, f, "/many")&inodeFlagIndex == 0 {
				t.Errorf("the index was dropped")
			}
			if after, _ := f.Lstat("/many"); after.Size <= before.Size {
				t.Errorf("no leaf was split: size %d -> %d", before.Size, after.Size)
			}
			oracle.E2fsckClean(t, img)
			if n := len(debugfsNames(t, img, "/many")); n != 1500+400+2 {
				t.Errorf("debugfs lists %d names", n)
			}
		})
	}
}

// TestHtreeRename: renaming inside and out of the htree directory keeps
// it valid.
func TestHtreeRename(t *testing.T) {
	oracle.Require(t, "e2fsck")
	img := fixture.Path(t, "ext4-htree.img")
	f, _ := openRW(t, img)
	ents, err := f.ReadDir("/big")
	if err != nil {
		t.Fatal(err)
	}
	// The htree directory itself moves to another parent: its root's
	// ".." changes under the dx_tail checksum.
	if err := f.Rename("/big", "/etc/big"); err != nil {
		t.Fatal(err)
	}
	if err := f.Rename("/etc/big", "/big"); err != nil {
		t.Fatal(err)
	}
	if err := f.Mkdir("/sub", 0o755, fs.Owner{}); err != nil {
		t.Fatal(err)
	}
	if err := f.Rename("/big", "/sub/big"); err != nil {
		t.Fatal(err)
	}
	if err := f.Rename("/sub/big", "/big"); err != nil {
		t.Fatal(err)
	}
	if err := f.Rename("/big", "/sub/big"); err != nil {
		t.Fatal(err)
	}
	if err := f.Mkdir("/big", 0o700, fs.Owner{}); err != nil {
		t.Fatal(err)
	}
	if err := f.Rename("/sub/big", "/big"); err != nil { // replaces the empty /big
		t.Fatal(err)
	}
	for i, src := range []string{ents[10].Name, ents[2000].Name} {
		dst := fmt.Sprintf("/big/renamed-%d", i)
		if i == 1 {
			dst = "/moved-out"
		}
		if err := f.Rename("/big/"+src, dst); err != nil {
			t.Fatalf("Rename %s: %v", src, err)
		}
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	oracle.E2fsckClean(t, img)
	names := debugfsNames(t, img, "/big")
	if !names["renamed-0"] || names[ents[10].Name] || names[ents[2000].Name] {
		t.Errorf("after renames /big lists renamed-0 %v, %s %v, %s %v", names["renamed-0"],
			ents[10].Name, names[ents[10].Name], ents[2000].Name, names[ents[2000].Name])
	}
}

// TestWriteFileFragmented: "contiguous runs preferred ... extents (depth
// 0 with up to 4 extents, else an extent leaf block, depth 1, or more if
// needed)". With a free run long enough the file takes it whole; when
// only one-block holes are free it is mapped through a depth-2 tree
// (indirect blocks on ext2), and e2fsck and debugfs read it back.
func TestWriteFileFragmented(t *testing.T) {
	oracle.Require(t, "e2fsck")
	t.Run("ext4-fragmented.img: overwriting /frag takes one free run, not the holes", func(t *testing.T) {
		img := fixture.Path(t, "ext4-fragmented.img")
		f, _ := openRW(t, img)
		data := pattern(300*1024, 5)
		if err := f.WriteFile("/frag", data, fs.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		oracle.E2fsckClean(t, img)
		wantCat(t, img, "/frag", data)
		out := oracle.Debugfs(t, img, "ex /frag")
		if lines := strings.Count(strings.TrimSpace(out), "\n"); lines != 1 {
			t.Errorf("want one extent:\n%s", out)
		}
	})
	for _, cfg := range []mkfsConfig{testConfigs()[0], testConfigs()[1], testConfigs()[9], {name: "ext2-1k", fsType: "ext2", blockSize: 1024, sizeMiB: 16}} {
		t.Run(cfg.name+": only one-block holes free (depth 1 at 4 KiB, 2 at 1 KiB)", func(t *testing.T) {
			img := mkfs(t, cfg, "")
			f, _ := openRW(t, img)
			if err := f.Mkdir("/fill", 0o755, fs.Owner{}); err != nil {
				t.Fatal(err)
			}
			const holes = 400
			for i := 0; i < 2*holes; i++ {
				if err := f.WriteFile(fmt.Sprintf("/fill/%04d", i), pattern(cfg.blockSize, byte(i)), fs.WriteOptions{Perm: 0o644}); err != nil {
					t.Fatal(err)
				}
			}
			// Use up everything else but a short tail.
			for i := 0; f.freeBlocks() > 40; i++ {
				n := min(f.freeBlocks()-40, 2000)
				if err := f.WriteFile(fmt.Sprintf("/filler%d", i), make([]byte, int(n)*cfg.blockSize), fs.WriteOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			for i := 0; i < 2*holes; i += 2 {
				if err := f.Remove(fmt.Sprintf("/fill/%04d", i)); err != nil {
					t.Fatal(err)
				}
			}
			data := pattern((holes+20)*cfg.blockSize+7, 77)
			if err := f.WriteFile("/frag", data, fs.WriteOptions{Perm: 0o600}); err != nil {
				t.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			oracle.E2fsckClean(t, img)
			wantCat(t, img, "/frag", data)
			wantCat(t, img, "/fill/0001", pattern(cfg.blockSize, 1))
			in, err := f.resolve("/frag", false)
			if err != nil {
				t.Fatal(err)
			}
			if in.flag(inodeFlagExtents) {
				want := uint16(1)
				if cfg.blockSize == 1024 {
					want = 2
				}
				if depth := le.Uint16(in.iblock()[6:]); depth != want {
					t.Errorf("extent tree depth %d for about %d extents, want %d", depth, holes, want)
				}
			}
		})
	}
}

// TestOverwriteKeepsXattrs: "overwriting keeps the inode number, its
// xattrs, mode and ownership" — security.selinux in the inode and a
// 700-byte value in an xattr block survive, as debugfs ea_list shows.
func TestOverwriteKeepsXattrs(t *testing.T) {
	oracle.Require(t, "e2fsck")
	img := fixture.Path(t, "ext4-links-xattr.img")
	before := oracle.Debugfs(t, img, "ea_list /a/block-xattr")
	statBefore := oracle.Debugfs(t, img, "stat /a/block-xattr")
	f, _ := openRW(t, img)
	for _, data := range [][]byte{pattern(3000, 1), nil, pattern(20000, 2)} {
		if err := f.WriteFile("/a/block-xattr", data, fs.WriteOptions{Perm: 0o777, Owner: fs.Owner{UID: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	oracle.E2fsckClean(t, img)
	if after := oracle.Debugfs(t, img, "ea_list /a/block-xattr"); after != before || !strings.Contains(after, "security.selinux") {
		t.Errorf("xattrs changed:\n%s\nwant:\n%s", after, before)
	}
	statAfter := oracle.Debugfs(t, img, "stat /a/block-xattr")
	for _, k := range []string{"Inode", "Mode", "User", "Group", "File ACL"} {
		if a, b := statField(t, statAfter, k), statField(t, statBefore, k); a != b {
			t.Errorf("%s changed from %s to %s", k, b, a)
		}
	}
	wantCat(t, img, "/a/block-xattr", pattern(20000, 2))
}

// TestInlineData: on an inline_data filesystem, an inline file overwritten
// with data that fits stays inline; with more it moves to an extent
// block; names added to an inline directory go into its free space until
// it is full, then the directory moves to a block.
func TestInlineData(t *testing.T) {
	oracle.Require(t, "e2fsck")
	img := fixture.Path(t, "ext4-inline.img")
	f, _ := openRW(t, img)
	inlineSteps(t, f)
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	oracle.E2fsckClean(t, img)
	wantCat(t, img, "/tiny/hundred", []byte("ten bytes!"))
	wantCat(t, img, "/tiny/small", pattern(5000, 3))
	if dirFlags(t, f, "/tiny/d1")&inodeFlagInlineData != 0 {
		t.Errorf("/tiny/d1 still inline after 12 names")
	}
	names := debugfsNames(t, img, "/tiny/d1")
	for i := 0; i < 12; i++ {
		if !names[fmt.Sprintf("n%02d", i)] {
			t.Errorf("debugfs does not list /tiny/d1/n%02d", i)
		}
	}
	if !names["f"] {
		t.Errorf("the original entry of /tiny/d1 is gone")
	}
	wantCat(t, img, "/d2-moved/y", []byte("xx"))
	if dirFlags(t, f, "/d2-moved")&inodeFlagInlineData == 0 {
		t.Errorf("/d2-moved is no longer inline: the inline rename paths were not taken")
	}
	if names := debugfsNames(t, img, "/d2-moved"); names["x"] || !names[".."] {
		t.Errorf("/d2-moved lists %v", names)
	}
}

// TestIncDirLinks: "parent nlink++ respecting dir_nlink (nlink 1 beyond
// 65000)", as the kernel's ext4_inc_count: a count reaching past
// EXT4_LINK_MAX becomes 1, and 1 (already overflowed) stays 1. (e2fsck
// accepts 1 only for a directory with more than 65000 real links, which is
// too slow to build in a unit test; the refusal below is judged on disk.)
func TestIncDirLinks(t *testing.T) {
	for _, tc := range []struct {
		name     string
		dirNlink bool
		before   uint16
		want     uint16
	}{
		{"a new subdirectory adds one link", true, 2, 3},
		{"65000 links and one more becomes 1 with dir_nlink", true, 65000, 1},
		{"64999 links and one more is 65000", true, 64999, 65000},
		{"an overflowed count of 1 stays 1", true, 1, 1},
		{"without dir_nlink the count just grows", false, 100, 101},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &FS{dirNlink: tc.dirNlink}
			in := &inode{d: Inode{LinksCount: tc.before}}
			f.incDirLinks(in)
			if in.d.LinksCount != tc.want {
				t.Errorf("links %d -> %d, want %d", tc.before, in.d.LinksCount, tc.want)
			}
		})
	}
}

// TestMkdirLinkLimit: without dir_nlink, a directory at 65000 links gets
// no new subdirectory (fs.ErrInvalid) and the image stays byte-identical.
func TestMkdirLinkLimit(t *testing.T) {
	img := mkfs(t, testConfigs()[9], "")
	debugfsW(t, img, "sif / links_count 65000")
	sum := fixture.SHA256(t, img)
	f, _ := openRW(t, img)
	if err := f.Mkdir("/sub", 0o755, fs.Owner{}); !errors.Is(err, fs.ErrInvalid) {
		t.Fatalf("Mkdir at 65000 links without dir_nlink: %v", err)
	}
	if err := f.Rename("/lost+found", "/lost+found/../lf"); err != nil {
		t.Fatalf("a rename within the same directory needs no new link: %v", err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if fixture.SHA256(t, img) == sum {
		t.Fatal("the rename changed nothing")
	}
}

// TestCreateReadBack: what the create side writes, our own reader reads
// back the same (contents, link targets, attributes).
func TestCreateReadBack(t *testing.T) {
	img := mkfs(t, testConfigs()[0], "")
	f, _ := openRW(t, img)
	data := pattern(100000, 8)
	if err := f.WriteFile("/f", data, fs.WriteOptions{Perm: 0o640, Owner: fs.Owner{UID: 70000, GID: 3}}); err != nil {
		t.Fatal(err)
	}
	if err := f.Symlink("/f", "/l", fs.Owner{}); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	r := openRO(t, img)
	got, err := r.ReadFile("/l")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("ReadFile through the new symlink: %d bytes, %v", len(got), err)
	}
	a, err := r.Stat("/f")
	if err != nil || a.Mode != fs.ModeRegular|0o640 || a.UID != 70000 || a.GID != 3 || a.Nlink != 1 {
		t.Fatalf("Stat /f = %+v, %v", a, err)
	}
}

// TestHtreeGrowsALevel: when the root of a single-level htree fills, a
// level is added (indirect_levels 1) instead of dropping the index; e2fsck
// -fn stays clean and debugfs lists every name.
func TestHtreeGrowsALevel(t *testing.T) {
	oracle.Require(t, "e2fsck")
	img := mkfs(t, testConfigs()[1], sourceTree(t, 1500))
	if out := oracle.Debugfs(t, img, "htree_dump /many"); !strings.Contains(out, "Indirect levels: 0") {
		t.Fatalf("/many does not start as a single-level htree:\n%.300s", out)
	}
	f, _ := openRW(t, img)
	n := growHtreeLevel(t, f, "/many")
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if dirFlags(t, f, "/many")&inodeFlagIndex == 0 {
		t.Fatal("the index was dropped")
	}
	if out := oracle.Debugfs(t, img, "htree_dump /many"); !strings.Contains(out, "Indirect levels: 1") {
		t.Errorf("no level was added:\n%.300s", out)
	}
	oracle.E2fsckClean(t, img)
	if got := len(debugfsNames(t, img, "/many")); got != 1500+n+2 {
		t.Errorf("debugfs lists %d names, want %d", got, 1500+n+2)
	}
}

// growHtreeLevel adds hard links to /etc/machine-id named grown-NNNNN to
// the single-level htree directory dir until its root has grown a level,
// then 100 more, and returns how many it added.
func growHtreeLevel(t testing.TB, f *FS, dir string) int {
	t.Helper()
	levels := func() byte {
		in, err := f.resolve(dir, false)
		if err != nil {
			t.Fatal(err)
		}
		m, err := f.mapper(in)
		if err != nil {
			t.Fatal(err)
		}
		p, _, err := m.lookup(0)
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, f.blockSize)
		if err := f.readBlock(p, b); err != nil {
			t.Fatal(err)
		}
		return b[dxRootInfoOffset+6]
	}
	n, extra := 0, 100
	for ; n < 6000 && extra > 0; n++ {
		// Hard links: names without inodes, which a 16 MiB filesystem
		// has too few of.
		if err := f.Link("/etc/machine-id", fmt.Sprintf("%s/grown-%05d", dir, n)); err != nil {
			t.Fatal(err)
		}
		if n%50 == 0 && levels() == 1 || extra < 100 {
			extra--
		}
	}
	return n
}

// TestHtreeHostileIndex: an htree whose index points back at one of its
// own node blocks (checksums valid) is reported as corrupt and nothing is
// written, rather than a leaf being carved out of the index.
func TestHtreeHostileIndex(t *testing.T) {
	img := fixture.Path(t, "ext4-htree.img")
	f, _ := openRW(t, img)
	dir, err := f.resolve("/big", false)
	if err != nil {
		t.Fatal(err)
	}
	m, err := f.mapper(dir)
	if err != nil {
		t.Fatal(err)
	}
	path, _, ok, err := f.dxPath(dir, m, "x")
	if err != nil || !ok || len(path) < 3 {
		t.Fatalf("dxPath: %d levels, %v, %v", len(path), ok, err)
	}
	// Names routed through the same interior node.
	var names []string
	for i := 0; len(names) < 3 && i < 1000; i++ {
		n := fmt.Sprintf("name-%d", i)
		p, _, _, err := f.dxPath(dir, m, n)
		if err != nil {
			t.Fatal(err)
		}
		if p[1].lblk == path[1].lblk {
			names = append(names, n)
		}
	}
	// Every entry of the interior node now points at the root (block 0).
	in := &path[1]
	ents := append([]DxEntry(nil), in.node.entries...)
	for i := range ents {
		ents[i].Block = 0
	}
	if err := f.writeDxNode(dir, in, ents); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	sum := fixture.SHA256(t, img)
	f, _ = openRW(t, img)
	for _, name := range names {
		if err := f.WriteFile("/big/"+name, nil, fs.WriteOptions{}); !errors.Is(err, ErrCorrupt) {
			t.Errorf("WriteFile into the looping htree: %v", err)
		}
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if fixture.SHA256(t, img) != sum {
		t.Fatal("the image changed")
	}
}

// inlineSteps runs TestInlineData's operations on ext4-inline.img.
func inlineSteps(t testing.TB, f *FS) {
	t.Helper()
	type step struct {
		name string
		do   func() error
	}
	steps := []step{
		{"overwrite inline with less inline data", func() error { return f.WriteFile("/tiny/hundred", []byte("ten bytes!"), fs.WriteOptions{}) }},
		{"overwrite inline with 5000 bytes", func() error { return f.WriteFile("/tiny/small", pattern(5000, 3), fs.WriteOptions{}) }},
	}
	for i := 0; i < 12; i++ {
		p := fmt.Sprintf("/tiny/d1/n%02d", i)
		steps = append(steps, step{"add " + p, func() error { return f.WriteFile(p, []byte(p), fs.WriteOptions{Perm: 0o644}) }})
	}
	steps = append(steps,
		step{"add to a second inline directory", func() error { return f.WriteFile("/tiny/d2/x", []byte("xx"), fs.WriteOptions{}) }},
		step{"and another", func() error { return f.WriteFile("/tiny/d2/y", []byte("yy"), fs.WriteOptions{}) }},
		step{"rename over a name in an inline directory", func() error { return f.Rename("/tiny/d2/x", "/tiny/d2/y") }},
		step{"rename an inline directory to another parent", func() error { return f.Rename("/tiny/d2", "/d2-moved") }},
	)
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
	}
}
