//go:build fuzzseeds

package ext4

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
)

// TestWriteFuzzSeeds regenerates the committed seed corpora from the
// fixtures' bytes and tiny filesystems made by mkfs:
//
//	go test -tags fuzzseeds -run TestWriteFuzzSeeds ./pkg/fs/ext4
func TestWriteFuzzSeeds(t *testing.T) {
	write := func(target, name string, b []byte) {
		t.Helper()
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(b)) + ")\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	load := func(name string) (*FS, []byte) {
		t.Helper()
		b, err := os.ReadFile(fixture.Path(t, name))
		if err != nil {
			t.Fatal(err)
		}
		f, err := Open(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		return f, b
	}
	block := func(f *FS, img []byte, blk uint64) []byte {
		return img[int64(blk)*f.blockSize : int64(blk+1)*f.blockSize]
	}
	inodeAt := func(f *FS, p string) *inode {
		t.Helper()
		in, err := f.resolve(p, false)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		return in
	}
	for _, name := range []string{"ext2.img", "ext3-1k.img", "ext4-default.img", "ext4-nocsum.img",
		"ext4-no64bit.img", "ext4-orphan-seed.img", "ext4-inline.img"} {
		f, img := load(name)
		write("FuzzSuperblock", name, img[superblockOffset:superblockOffset+superblockSize])
		gdt := block(f, img, f.gdtBlock(0))
		write("FuzzGroupDescriptors", name, append(append([]byte{}, f.sbRaw...), bytes.TrimRight(gdt, "\x00")...))
		root := inodeAt(f, "/")
		m, err := f.mapper(root)
		if err == nil {
			if p, _, _ := m.lookup(0); p != 0 && f.blockSize == 1024 {
				write("FuzzDirBlock", name+"-root", block(f, img, p))
			}
		}
	}
	f, _ := load("ext4-nocsum.img")
	for i, p := range []string{"/", "/etc/hostname", "/etc/machine-id", "/data/xattr-block", "/data/mib", "/data/sparse"} {
		if in, err := f.resolve(p, false); err == nil {
			write("FuzzInode", fmt.Sprintf("nocsum-%d", i), in.raw)
		}
	}
	f, img := load("ext4-default.img")
	for i, p := range []string{"/etc/hostname", "/etc/machine-id", "/data/xattr-block"} {
		if in, err := f.resolve(p, false); err == nil {
			if area := ibodyXattrArea(in); area != nil {
				write("FuzzXattr", fmt.Sprintf("ibody-%d", i), bytes.TrimRight(area, "\x00"))
			}
			if b := f.fileACL(in); b != 0 {
				write("FuzzXattr", fmt.Sprintf("block-%d", i), block(f, img, b))
			}
		}
	}
	f, img = load("ext4-fragmented.img")
	for _, p := range []string{"/frag", "/striped"} {
		in := inodeAt(f, p)
		write("FuzzExtentNode", p[1:]+"-root", in.iblock())
		root, err := f.loadExtentTree(in)
		if err != nil {
			t.Fatal(err)
		}
		if len(root.children) > 0 {
			write("FuzzExtentNode", p[1:]+"-leaf", bytes.TrimRight(block(f, img, root.children[0].blk), "\x00"))
		}
	}
	f, img = load("ext4-htree.img")
	big := inodeAt(f, "/big")
	m, err := f.mapper(big)
	if err != nil {
		t.Fatal(err)
	}
	p0, _, _ := m.lookup(0)
	rootBlk := block(f, img, p0)
	write("FuzzHtreeNode", "big-root", rootBlk)
	dx, err := parseDxNode(rootBlk, true, f.metadataCsum)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range dx.entries[:min(2, len(dx.entries))] {
		p, _, _ := m.lookup(e.Block)
		b := block(f, img, p)
		if f.isDxNode(big, e.Block, b) {
			write("FuzzHtreeNode", fmt.Sprintf("big-node-%d", i), b)
			if n, err := parseDxNode(b, false, f.metadataCsum); err == nil {
				lp, _, _ := m.lookup(n.entries[0].Block)
				write("FuzzDirBlock", fmt.Sprintf("htree-leaf-%d", i), block(f, img, lp))
			}
		}
	}

	// FuzzOpen: tiny whole filesystems made by mkfs, sparse-encoded.
	src := filepath.Join(t.TempDir(), "src")
	for _, d := range []string{"d/e", "x"} {
		os.MkdirAll(filepath.Join(src, d), 0o755)
	}
	os.WriteFile(filepath.Join(src, "hello"), []byte("hello\n"), 0o644)
	os.WriteFile(filepath.Join(src, "d/e/data"), bytes.Repeat([]byte("0123456789abcdef"), 200), 0o644)
	os.Symlink("hello", filepath.Join(src, "link"))
	os.Symlink(string(repeat('y', 80)), filepath.Join(src, "slow"))
	for _, cfg := range []mkfsConfig{
		{name: "tiny-ext2", fsType: "ext2", blockSize: 1024},
		{name: "tiny-ext4", fsType: "ext4", blockSize: 1024, features: "^has_journal,^resize_inode"},
		{name: "tiny-inline", fsType: "ext4", blockSize: 1024, features: "^has_journal,^resize_inode,inline_data", inodeSize: 256},
	} {
		img := mkfsTiny(t, cfg, src)
		b, err := os.ReadFile(img)
		if err != nil {
			t.Fatal(err)
		}
		write("FuzzOpen", cfg.name, encodeSparse(b))
	}
}

// mkfsTiny makes a 100 KiB filesystem with 24 inodes.
func mkfsTiny(tb testing.TB, cfg mkfsConfig, src string) string {
	tb.Helper()
	img := filepath.Join(tb.TempDir(), cfg.name+".img")
	isize := cfg.inodeSize
	if isize == 0 {
		isize = 128
	}
	args := []string{"-q", "-F", "-t", cfg.fsType, "-b", "1024", "-N", "24", "-I", fmt.Sprint(isize),
		"-U", "0b7c2f4e-5a61-4c2d-9d1e-3f2a1b0c9d8e", "-d", src}
	if cfg.features != "" {
		args = append(args, "-O", cfg.features)
	}
	args = append(args, img, "100k")
	runTool(tb, "mkfs.ext4", args...)
	return img
}
