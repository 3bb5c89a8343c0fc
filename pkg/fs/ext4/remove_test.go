package ext4

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/fs"
)

// TestRemoveLeavesE2fsckClean: unlinking each kind of file (small, large,
// sparse, fast and slow symlink, fifo, one name of a hard link, empty
// directories) leaves a filesystem e2fsck -fn finds clean, on every
// flavour, and debugfs no longer finds the names while the other files
// keep their contents.
func TestRemoveLeavesE2fsckClean(t *testing.T) {
	oracle.Require(t, "e2fsck")
	src := sourceTree(t, 0)
	removed := []string{
		"/etc/machine-id", "/etc/ssh/f300000", "/etc/ssh/f70000", "/etc/ssh/f0", "/deep/a/big",
		"/deep/a/b/sparse", "/slowlink", "/abs", "/deep/fifo", "/deep/hardlink", "/empty", "/deep/a/b/c/d",
		"/var/lib/netdata/registry/netdata.public.unique.id",
	}
	for _, cfg := range testConfigs() {
		t.Run(cfg.name, func(t *testing.T) {
			img := mkfs(t, cfg, src)
			debugfsW(t, img, `ea_set /etc/machine-id user.k `+string(repeat('v', 700)))
			f, _ := openRW(t, img)
			before := f.Info().FreeBytes
			for _, p := range removed {
				if err := f.Remove(p); err != nil {
					t.Fatalf("Remove(%s): %v", p, err)
				}
				if _, err := f.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("Lstat(%s) after Remove: %v", p, err)
				}
			}
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			if f.Info().FreeBytes <= before {
				t.Errorf("free bytes %d did not grow from %d", f.Info().FreeBytes, before)
			}
			oracle.E2fsckClean(t, img)
			for _, p := range removed {
				if _, ok := oracle.DebugfsCat(t, img, p); ok && !strings.HasSuffix(p, "/d") && p != "/empty" {
					t.Errorf("debugfs still finds %s", p)
				}
			}
			want, _ := os.ReadFile(src + "/etc/ssh/f1")
			if got, ok := debugfsCatSized(t, img, "/etc/ssh/f1"); !ok || string(got) != string(want) {
				t.Errorf("debugfs cat /etc/ssh/f1 after removing its other name: %q", got)
			}
			if out := oracle.Debugfs(t, img, "stat /etc/ssh/f1"); !strings.Contains(out, "Links: 1") {
				t.Errorf("f1 link count after removing its hard link:\n%s", out)
			}
			want, _ = os.ReadFile(src + "/etc/ssh/f4097")
			if got, ok := debugfsCatSized(t, img, "/etc/ssh/f4097"); !ok || string(got) != string(want) {
				t.Errorf("debugfs cat /etc/ssh/f4097 changed")
			}
		})
	}
}

// TestRemoveErrors: what Remove refuses, with the path's error and the
// image byte-identical.
func TestRemoveErrors(t *testing.T) {
	src := sourceTree(t, 0)
	img := mkfs(t, testConfigs()[0], src)
	sum := fixture.SHA256(t, img)
	f, _ := openRW(t, img)
	for _, tc := range []struct {
		name string
		path string
		want error
	}{
		{"a non-empty directory is not removed", "/etc", fs.ErrNotEmpty},
		{"a missing file does not exist", "/etc/none", fs.ErrNotExist},
		{"below a file is not a directory", "/etc/machine-id/x", fs.ErrNotDir},
		{"the root cannot be removed", "/", fs.ErrInvalid},
		{"dot-dot cannot be removed", "/etc/..", fs.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := f.Remove(tc.path)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.path) {
				t.Fatalf("Remove(%s) = %v, want %v naming the path", tc.path, err, tc.want)
			}
		})
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if fixture.SHA256(t, img) != sum {
		t.Fatal("a refused Remove changed the image")
	}
	if err := f.RemoveAll("/etc/none/at/all"); err != nil {
		t.Fatalf("RemoveAll of a missing path: %v", err)
	}
}

// TestRemoveAllTrees: removing whole trees, including an htree directory
// of 5000 entries, leaves e2fsck clean and frees every block and inode
// mkfs used for them.
func TestRemoveAllTrees(t *testing.T) {
	oracle.Require(t, "e2fsck")
	big, small := sourceTree(t, 5000), sourceTree(t, 300)
	for i, cfg := range []mkfsConfig{testConfigs()[0], testConfigs()[1], testConfigs()[3], testConfigs()[5], testConfigs()[8], testConfigs()[9]} {
		t.Run(cfg.name, func(t *testing.T) {
			src := small
			if i == 0 {
				src = big // the htree directory of 5000 entries
			}
			empty := mkfs(t, cfg, "")
			img := mkfs(t, cfg, src)
			if i == 0 {
				out := oracle.Debugfs(t, img, "stat /many")
				var flags uint32
				if j := strings.Index(out, "Flags: "); j < 0 {
					t.Fatalf("debugfs stat /many:\n%s", out)
				} else if _, err := fmt.Sscanf(out[j+7:], "0x%x", &flags); err != nil || flags&inodeFlagIndex == 0 {
					t.Fatalf("/many is not an htree directory (flags 0x%x, %v)", flags, err)
				}
			}
			f, _ := openRW(t, img)
			if i == 0 {
				// Single entries out of htree leaves: only the leaves change.
				for j := 0; j < 5000; j += 50 {
					if err := f.Remove(fmt.Sprintf("/many/entry-with-a-longish-name-%05d", j)); err != nil {
						t.Fatal(err)
					}
				}
				if err := f.Sync(); err != nil {
					t.Fatal(err)
				}
				oracle.E2fsckClean(t, img)
				ls := oracle.Debugfs(t, img, "ls -p /many")
				n := -2 // . and ..
				for _, l := range strings.Split(ls, "\n") {
					if strings.HasPrefix(l, "/") {
						n++
					}
				}
				if n != 4900 {
					t.Fatalf("debugfs lists %d entries in /many after removing 100 of 5000", n)
				}
				if strings.Contains(ls, "name-00050/") || !strings.Contains(ls, "name-00051/") {
					t.Fatal("debugfs ls shows the wrong entries removed")
				}
			}
			for _, p := range []string{"/many", "/deep", "/etc", "/var", "/abs", "/slowlink", "/loop1", "/loop2", "/empty"} {
				if err := f.RemoveAll(p); err != nil {
					t.Fatalf("RemoveAll(%s): %v", p, err)
				}
			}
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			oracle.E2fsckClean(t, img)
			ents, err := f.ReadDir("/")
			if err != nil || len(ents) != 1 || ents[0].Name != "lost+found" {
				t.Fatalf("root after RemoveAll: %v %v", ents, err)
			}
			// Everything mkfs -d added is gone: the counts equal an
			// empty filesystem's, except lost+found's and the root's
			// directory blocks grown by mkfs -d.
			g := openRO(t, empty)
			if f.sb.FreeInodesCount != g.sb.FreeInodesCount {
				t.Errorf("free inodes %d, empty filesystem %d", f.sb.FreeInodesCount, g.sb.FreeInodesCount)
			}
			if d := int64(g.freeBlocks()) - int64(f.freeBlocks()); d < 0 || d > 4 {
				t.Errorf("free blocks %d, empty filesystem %d", f.freeBlocks(), g.freeBlocks())
			}
		})
	}
}

// memDev is an in-memory device for benchmarks.
type memDev []byte

func (m memDev) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(m)) {
		return 0, fs.ErrInvalid
	}
	return copy(p, m[off:]), nil
}

func (m memDev) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(m)) {
		return 0, fs.ErrInvalid
	}
	return copy(m[off:], p), nil
}

// BenchmarkRemove100: open ext4-bench.img (in memory), remove 100 files
// of 4 KiB from /data, Sync. The peer is debugfs -w -f with 100 rm
// requests (scripts/bench.d).
func BenchmarkRemove100(b *testing.B) {
	orig, err := os.ReadFile(fixture.Path(b, "ext4-bench.img"))
	if err != nil {
		b.Fatal(err)
	}
	dev := make(memDev, len(orig))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		copy(dev, orig)
		b.StartTimer()
		f, err := OpenWritable(dev, int64(len(dev)), Options{})
		if err != nil {
			b.Fatal(err)
		}
		for j := 0; j < 100; j++ {
			if err := f.Remove(fmt.Sprintf("/data/f%03d", j)); err != nil {
				b.Fatal(err)
			}
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
}

// TestRemoveSharedXattrBlock: an xattr block shared by two inodes (as the
// kernel's mbcache shares them; made here with debugfs) loses one
// reference when the first is removed and is freed with the second.
func TestRemoveSharedXattrBlock(t *testing.T) {
	oracle.Require(t, "e2fsck")
	src := sourceTree(t, 0)
	img := mkfs(t, testConfigs()[3], src) // no metadata_csum: zap_block leaves no checksum to fix
	debugfsW(t, img, `ea_set /etc/ssh/f60 user.big `+string(repeat('v', 700)))
	st := oracle.Debugfs(t, img, "stat /etc/ssh/f60")
	var acl, count int
	if i := strings.Index(st, "File ACL: "); i < 0 {
		t.Fatalf("no File ACL in\n%s", st)
	} else if _, err := fmt.Sscanf(st[i+10:], "%d", &acl); err != nil || acl == 0 {
		t.Fatalf("File ACL: %v", err)
	}
	st = oracle.Debugfs(t, img, "stat /etc/ssh/f0")
	if i := strings.Index(st, "Blockcount: "); i < 0 {
		t.Fatal(st)
	} else if _, err := fmt.Sscanf(st[i+12:], "%d", &count); err != nil {
		t.Fatal(err)
	}
	debugfsW(t, img, fmt.Sprintf("sif /etc/ssh/f0 file_acl %d", acl),
		fmt.Sprintf("sif /etc/ssh/f0 blocks %d", count+8),
		fmt.Sprintf("zap_block -o 4 -l 1 -p 2 %d", acl))
	oracle.E2fsckClean(t, img) // the shared block is valid to start with
	f, _ := openRW(t, img)
	if err := f.Remove("/etc/ssh/f60"); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	oracle.E2fsckClean(t, img)
	if out := oracle.Debugfs(t, img, "ea_get /etc/ssh/f0 user.big"); !strings.Contains(out, "vvvv") {
		t.Fatalf("the other inode lost its xattr:\n%s", out)
	}
	before := f.freeBlocks()
	if err := f.Remove("/etc/ssh/f0"); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	oracle.E2fsckClean(t, img)
	if got := f.freeBlocks() - before; got != 1 {
		t.Errorf("removing the last user freed %d blocks, want 1 (the xattr block; f0 is empty)", got)
	}
}
