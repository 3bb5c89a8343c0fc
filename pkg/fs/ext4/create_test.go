package ext4

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgprep/imgprep/internal/deadline"
	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/fs"
)

// statField returns the value after "key: " in debugfs stat output.
func statField(tb testing.TB, out, key string) string {
	tb.Helper()
	i := strings.Index(out, key+": ")
	if i < 0 {
		tb.Fatalf("debugfs stat has no %q:\n%s", key, out)
	}
	rest := strings.TrimLeft(out[i+len(key)+2:], " ")
	if j := strings.IndexAny(rest, " \t\n"); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

// createCase is one thing created on a fresh filesystem, then checked
// with debugfs.
type createCase struct {
	name  string
	do    func(f *FS) error
	check func(t *testing.T, img string)
}

// wantCat checks debugfs cat of p against want.
func wantCat(t testing.TB, img, p string, want []byte) {
	t.Helper()
	got, ok := debugfsCatSized(t, img, p)
	if !ok || !bytes.Equal(got, want) {
		t.Errorf("debugfs cat %s: %d bytes (found %v), want %d bytes", p, len(got), ok, len(want))
	}
}

func wantStat(t testing.TB, img, p string, fields map[string]string) {
	t.Helper()
	out := oracle.Debugfs(t, img, "stat \""+p+"\"")
	for k, v := range fields {
		if got := statField(t, out, k); got != v {
			t.Errorf("debugfs stat %s: %s %q, want %q\n%s", p, k, got, v, out)
		}
	}
}

func createCases(bs int) []createCase {
	mt := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	far := time.Date(2106, 3, 4, 5, 6, 7, 0, time.UTC) // past 2038: epoch bits
	many := pattern(70*bs+123, 9)                      // past the 12 direct blocks and 4 extents' worth when fragmented
	return []createCase{
		{"WriteFile/a file of 0 bytes has no blocks", func(f *FS) error {
			return f.WriteFile("/new0", nil, fs.WriteOptions{Perm: 0o640, Owner: fs.Owner{UID: 1000, GID: 1000}})
		}, func(t *testing.T, img string) {
			wantStat(t, img, "/new0", map[string]string{"Size": "0", "Mode": "0640", "User": "1000", "Group": "1000", "Links": "1"})
			if out := oracle.Debugfs(t, img, "stat /new0"); !strings.Contains(out, "Blockcount: 0") {
				t.Errorf("empty file has blocks:\n%s", out)
			}
		}},
		{"WriteFile/a file of 1 byte", func(f *FS) error {
			return f.WriteFile("/etc/new1", []byte("x"), fs.WriteOptions{Perm: 0o644, Times: fs.Times{Atime: mt, Mtime: mt}})
		}, func(t *testing.T, img string) {
			wantCat(t, img, "/etc/new1", []byte("x"))
			out := oracle.Debugfs(t, img, "stat /etc/new1")
			if !strings.Contains(out, fmt.Sprintf("mtime: 0x%08x", mt.Unix())) {
				t.Errorf("mtime not %v:\n%s", mt, out)
			}
		}},
		{"WriteFile/exactly one block", func(f *FS) error {
			return f.WriteFile("/etc/oneblock", pattern(bs, 1), fs.WriteOptions{Perm: 0o600})
		}, func(t *testing.T, img string) {
			wantCat(t, img, "/etc/oneblock", pattern(bs, 1))
			wantStat(t, img, "/etc/oneblock", map[string]string{"Blockcount": fmt.Sprint(bs / 512)})
		}},
		{"WriteFile/many blocks (past the direct blocks and single indirect)", func(f *FS) error {
			return f.WriteFile("/deep/a/many", many, fs.WriteOptions{Perm: 0o600})
		}, func(t *testing.T, img string) { wantCat(t, img, "/deep/a/many", many) }},
		{"WriteFile/a 1.5 MiB file (double indirect at 1 KiB blocks)", func(f *FS) error {
			return f.WriteFile("/big2", pattern(3<<19, 3), fs.WriteOptions{Perm: 0o600})
		}, func(t *testing.T, img string) { wantCat(t, img, "/big2", pattern(3<<19, 3)) }},
		{"WriteFile/overwriting keeps the inode number, xattrs, mode and owner", func(f *FS) error {
			return f.WriteFile("/etc/machine-id", pattern(3*bs+5, 4), fs.WriteOptions{Perm: 0o777, Owner: fs.Owner{UID: 5}})
		}, func(t *testing.T, img string) {
			wantCat(t, img, "/etc/machine-id", pattern(3*bs+5, 4))
			wantStat(t, img, "/etc/machine-id", map[string]string{"Mode": "0444", "User": "0"})
			if out := oracle.Debugfs(t, img, "ea_list /etc/machine-id"); !strings.Contains(out, "user.k") {
				t.Errorf("xattr lost:\n%s", out)
			}
		}},
		{"WriteFile/overwriting a big file with less frees blocks", func(f *FS) error {
			return f.WriteFile("/deep/a/big", []byte("small now\n"), fs.WriteOptions{})
		}, func(t *testing.T, img string) {
			wantCat(t, img, "/deep/a/big", []byte("small now\n"))
			wantStat(t, img, "/deep/a/big", map[string]string{"Blockcount": fmt.Sprint(bs / 512)})
		}},
		{"WriteFile/overwriting to empty", func(f *FS) error {
			return f.WriteFile("/etc/ssh/f70000", nil, fs.WriteOptions{})
		}, func(t *testing.T, img string) {
			wantStat(t, img, "/etc/ssh/f70000", map[string]string{"Size": "0", "Blockcount": "0"})
		}},
		{"WriteFile/through a symlink overwrites its target", func(f *FS) error {
			return f.WriteFile("/abs", []byte("via link"), fs.WriteOptions{})
		}, func(t *testing.T, img string) { wantCat(t, img, "/etc/ssh/f60", []byte("via link")) }},
		{"Mkdir/'.' and '..', links 2, parent links + 1", func(f *FS) error {
			if err := f.Mkdir("/deep/newdir", 0o750, fs.Owner{UID: 7, GID: 8}); err != nil {
				return err
			}
			return f.WriteFile("/deep/newdir/inside", []byte("in"), fs.WriteOptions{Perm: 0o644})
		}, func(t *testing.T, img string) {
			wantStat(t, img, "/deep/newdir", map[string]string{"Mode": "0750", "Links": "2", "User": "7", "Group": "8"})
			wantStat(t, img, "/deep", map[string]string{"Links": "4"})
			wantCat(t, img, "/deep/newdir/inside", []byte("in"))
		}},
		{"Symlink/fast (< 60 bytes) in i_block", func(f *FS) error {
			return f.Symlink("etc/machine-id", "/fastnew", fs.Owner{UID: 5, GID: 6})
		}, func(t *testing.T, img string) {
			out := oracle.Debugfs(t, img, "stat /fastnew")
			if !strings.Contains(out, `Fast link dest: "etc/machine-id"`) {
				t.Errorf("not a fast symlink:\n%s", out)
			}
		}},
		{"Symlink/slow (>= 60 bytes) in a data block", func(f *FS) error {
			return f.Symlink(strings.Repeat("abc/", 30)+"end", "/slownew", fs.Owner{})
		}, func(t *testing.T, img string) {
			wantCat(t, img, "/slownew", []byte(strings.Repeat("abc/", 30)+"end"))
		}},
		{"Mknod/char device (1,5) in the old encoding", func(f *FS) error {
			return f.Mknod("/devzero", fs.ModeChar|0o666, 1<<8|5, fs.Owner{})
		}, func(t *testing.T, img string) {
			if out := oracle.Debugfs(t, img, "stat /devzero"); !strings.Contains(out, "Device major/minor number: 01:05") {
				t.Errorf("device number:\n%s", out)
			}
		}},
		{"Mknod/block device (259,70000) in the new encoding", func(f *FS) error {
			rdev := uint32(70000&0xff | 259<<8 | (70000&^0xff)<<12)
			return f.Mknod("/devbig", fs.ModeBlock|0o600, rdev, fs.Owner{})
		}, func(t *testing.T, img string) {
			if out := oracle.Debugfs(t, img, "stat /devbig"); !strings.Contains(out, "Device major/minor number: 259:70000") {
				t.Errorf("device number:\n%s", out)
			}
		}},
		{"Mknod/fifo and socket", func(f *FS) error {
			if err := f.Mknod("/fifonew", fs.ModeFIFO|0o644, 0, fs.Owner{}); err != nil {
				return err
			}
			return f.Mknod("/socknew", fs.ModeSocket|0o755, 0, fs.Owner{})
		}, func(t *testing.T, img string) {
			if out := oracle.Debugfs(t, img, "stat /socknew"); !strings.Contains(out, "Type: socket") {
				t.Errorf("socket:\n%s", out)
			}
		}},
		{"Link/a new name bumps links_count", func(f *FS) error {
			return f.Link("/etc/ssh/f1", "/deep/a/b/c/link-to-f1")
		}, func(t *testing.T, img string) {
			wantStat(t, img, "/etc/ssh/f1", map[string]string{"Links": "3"})
		}},
		{"Chmod Chown Utimes/mode, 32-bit owner, times with nanoseconds", func(f *FS) error {
			if err := f.Chmod("/etc/ssh/f4096", 0o4711); err != nil {
				return err
			}
			if err := f.Chown("/etc/ssh/f4096", fs.Owner{UID: 70000, GID: 80000}); err != nil {
				return err
			}
			return f.Utimes("/etc/ssh/f4096", fs.Times{Mtime: mt, Atime: far})
		}, func(t *testing.T, img string) {
			wantStat(t, img, "/etc/ssh/f4096", map[string]string{"Mode": "04711", "User": "70000", "Group": "80000"})
			out := oracle.Debugfs(t, img, "stat /etc/ssh/f4096")
			if strings.Contains(out, "Size of extra inode fields: 32") {
				// Nanoseconds and the epoch bits in the extra fields.
				if want := fmt.Sprintf("mtime: 0x%08x:%08x", uint32(mt.Unix()), uint32(mt.Nanosecond())<<2); !strings.Contains(out, want) {
					t.Errorf("want %q:\n%s", want, out)
				}
				if want := fmt.Sprintf("atime: 0x%08x:%08x", uint32(far.Unix()), 1); !strings.Contains(out, want) || !strings.Contains(out, "2106") {
					t.Errorf("want %q (year 2106):\n%s", want, out)
				}
			} else if want := fmt.Sprintf("mtime: 0x%08x --", uint32(mt.Unix())); !strings.Contains(out, want) {
				t.Errorf("want %q:\n%s", want, out)
			}
		}},
		{"Rename/a directory across parents updates '..' and both link counts", func(f *FS) error {
			return f.Rename("/deep/a/b", "/etc/b-moved")
		}, func(t *testing.T, img string) {
			wantStat(t, img, "/deep/a", map[string]string{"Links": "2"})
			wantStat(t, img, "/etc", map[string]string{"Links": "4"})
			if out := oracle.Debugfs(t, img, "ls /etc/b-moved/c"); !strings.Contains(out, "d") {
				t.Errorf("moved tree:\n%s", out)
			}
		}},
		{"Rename/replacing a file frees the replaced inode", func(f *FS) error {
			return f.Rename("/etc/ssh/f59", "/etc/ssh/f61")
		}, func(t *testing.T, img string) {
			wantCat(t, img, "/etc/ssh/f61", pattern(59, 2))
		}},
		{"Rename/replacing an empty directory", func(f *FS) error {
			if err := f.Mkdir("/emptytoo", 0o700, fs.Owner{}); err != nil {
				return err
			}
			return f.Rename("/emptytoo", "/empty")
		}, func(t *testing.T, img string) {
			// 2 + one per subdirectory, the replaced one gone.
			subdirs := 0
			for _, line := range strings.Split(oracle.Debugfs(t, img, "ls -p /"), "\n") {
				if parts := strings.Split(line, "/"); len(parts) >= 7 && strings.HasPrefix(parts[2], "040") &&
					parts[5] != "." && parts[5] != ".." {
					subdirs++
				}
			}
			wantStat(t, img, "/", map[string]string{"Links": fmt.Sprint(2 + subdirs)})
			if subdirs < 5 {
				t.Errorf("only %d subdirectories of /", subdirs)
			}
		}},
		{"Rename/within a directory keeps the inode", func(f *FS) error {
			return f.Rename("/var/lib/netdata/registry/netdata.public.unique.id", "/var/lib/netdata/registry/old.id")
		}, func(t *testing.T, img string) {
			wantCat(t, img, "/var/lib/netdata/registry/old.id", []byte("5d3f1c2a-1111-2222-3333-444455556666"))
		}},
	}
}

// TestCreateE2fsckClean runs every create-side operation on every mkfs
// flavour, then checks the image with e2fsck -fn and each result with
// debugfs.
func TestCreateE2fsckClean(t *testing.T) {
	oracle.Require(t, "e2fsck")
	src := sourceTree(t, 0)
	for _, cfg := range testConfigs() {
		t.Run(cfg.name, func(t *testing.T) {
			t.Parallel()
			img := mkfs(t, cfg, src)
			debugfsW(t, img, `ea_set /etc/machine-id user.k `+string(repeat('v', 700)),
				`ea_set /etc/machine-id security.selinux system_u:object_r:machineid_t:s0`)
			f, _ := openRW(t, img)
			cases := createCases(cfg.blockSize)
			for _, c := range cases {
				if err := c.do(f); err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
			}
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			oracle.E2fsckClean(t, img)
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) { c.check(t, img) })
			}
		})
	}
}

// TestCreateErrors: what the create side refuses, each with its sentinel
// and the image byte-identical.
func TestCreateErrors(t *testing.T) {
	src := sourceTree(t, 0)
	img := mkfs(t, testConfigs()[0], src)
	sum := fixture.SHA256(t, img)
	f, _ := openRW(t, img)
	long := strings.Repeat("n", 256)
	for _, tc := range []struct {
		name string
		do   func() error
		want error
	}{
		{"an existing name is ErrExist (WriteFile never replaces a dir)", func() error {
			return f.WriteFile("/etc", []byte("x"), fs.WriteOptions{})
		}, fs.ErrIsDir},
		{"Mkdir on an existing name is ErrExist", func() error { return f.Mkdir("/etc/machine-id", 0o755, fs.Owner{}) }, fs.ErrExist},
		{"Symlink on an existing name is ErrExist", func() error { return f.Symlink("x", "/etc", fs.Owner{}) }, fs.ErrExist},
		{"Mknod on an existing name is ErrExist", func() error { return f.Mknod("/abs", fs.ModeFIFO, 0, fs.Owner{}) }, fs.ErrExist},
		{"Link on an existing name is ErrExist", func() error { return f.Link("/etc/machine-id", "/abs") }, fs.ErrExist},
		{"a name over 255 bytes is ErrNameTooLong", func() error { return f.Mkdir("/"+long, 0o755, fs.Owner{}) }, fs.ErrNameTooLong},
		{"a name with NUL is ErrInvalid", func() error { return f.WriteFile("/a\x00b", nil, fs.WriteOptions{}) }, fs.ErrInvalid},
		{"'.' is ErrInvalid", func() error { return f.Mkdir("/etc/.", 0o755, fs.Owner{}) }, fs.ErrInvalid},
		{"'..' is ErrInvalid", func() error { return f.Symlink("x", "/etc/..", fs.Owner{}) }, fs.ErrInvalid},
		{"the root is ErrInvalid", func() error { return f.Mkdir("/", 0o755, fs.Owner{}) }, fs.ErrInvalid},
		{"a missing parent is ErrNotExist", func() error { return f.WriteFile("/nope/x", nil, fs.WriteOptions{}) }, fs.ErrNotExist},
		{"a file as parent is ErrNotDir", func() error { return f.Mkdir("/etc/machine-id/x", 0o755, fs.Owner{}) }, fs.ErrNotDir},
		{"an empty symlink target is ErrInvalid", func() error { return f.Symlink("", "/l", fs.Owner{}) }, fs.ErrInvalid},
		{"a symlink target of a block is ErrNameTooLong", func() error {
			return f.Symlink(strings.Repeat("t", 4096), "/l", fs.Owner{})
		}, fs.ErrNameTooLong},
		{"Mknod of a regular file is ErrInvalid", func() error { return f.Mknod("/m", fs.ModeRegular|0o644, 0, fs.Owner{}) }, fs.ErrInvalid},
		{"Link to a directory is ErrIsDir", func() error { return f.Link("/etc", "/etc2") }, fs.ErrIsDir},
		{"Link from a missing file is ErrNotExist", func() error { return f.Link("/nope", "/n2") }, fs.ErrNotExist},
		{"WriteFile through a symlink loop is ErrLoop", func() error {
			return f.WriteFile("/loop1", nil, fs.WriteOptions{})
		}, fs.ErrLoop},
		{"Rename of a directory into itself is ErrInvalid", func() error { return f.Rename("/deep", "/deep/a/b/inside") }, fs.ErrInvalid},
		{"Rename of a directory onto itself below is ErrInvalid", func() error { return f.Rename("/deep/a", "/deep/a/x") }, fs.ErrInvalid},
		{"Rename of a directory onto a file is ErrNotDir", func() error { return f.Rename("/empty", "/etc/machine-id") }, fs.ErrNotDir},
		{"Rename of a file onto a directory is ErrIsDir", func() error { return f.Rename("/etc/machine-id", "/empty") }, fs.ErrIsDir},
		{"Rename onto a non-empty directory is ErrNotEmpty", func() error { return f.Rename("/empty", "/etc") }, fs.ErrNotEmpty},
		{"Rename of a missing file is ErrNotExist", func() error { return f.Rename("/nope", "/nope2") }, fs.ErrNotExist},
		{"Rename to a long name is ErrNameTooLong", func() error { return f.Rename("/abs", "/"+long) }, fs.ErrNameTooLong},
		{"Chmod of a missing file is ErrNotExist", func() error { return f.Chmod("/nope", 0o644) }, fs.ErrNotExist},
		{"Chown through a symlink loop is ErrLoop", func() error { return f.Chown("/loop1", fs.Owner{}) }, fs.ErrLoop},
		{"a file larger than the free space is ErrNoSpace", func() error {
			return f.WriteFile("/huge", make([]byte, 40<<20), fs.WriteOptions{})
		}, fs.ErrNoSpace},
		{"overwriting with more than the free space is ErrNoSpace", func() error {
			return f.WriteFile("/etc/machine-id", make([]byte, 40<<20), fs.WriteOptions{})
		}, fs.ErrNoSpace},
		{"Utimes of a missing file is ErrNotExist", func() error { return f.Utimes("/nope", fs.Times{Mtime: time.Now()}) }, fs.ErrNotExist},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := deadline.Err(t, tc.name, tc.do)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			if fixture.SHA256(t, img) != sum {
				t.Fatalf("image changed after a refused operation (%v)", err)
			}
		})
	}
}

// TestCreateReadOnly: every create-side method on a read-only FS fails
// with fs.ErrReadOnly.
func TestCreateReadOnly(t *testing.T) {
	img := mkfs(t, testConfigs()[0], "")
	f := openRO(t, img)
	for name, do := range map[string]func() error{
		"WriteFile": func() error { return f.WriteFile("/x", nil, fs.WriteOptions{}) },
		"Mkdir":     func() error { return f.Mkdir("/x", 0o755, fs.Owner{}) },
		"Symlink":   func() error { return f.Symlink("t", "/x", fs.Owner{}) },
		"Mknod":     func() error { return f.Mknod("/x", fs.ModeFIFO, 0, fs.Owner{}) },
		"Link":      func() error { return f.Link("/lost+found", "/x") },
		"Chmod":     func() error { return f.Chmod("/", 0o700) },
		"Chown":     func() error { return f.Chown("/", fs.Owner{}) },
		"Utimes":    func() error { return f.Utimes("/", fs.Times{}) },
		"Rename":    func() error { return f.Rename("/lost+found", "/x") },
	} {
		if err := do(); !errors.Is(err, fs.ErrReadOnly) {
			t.Errorf("%s on a read-only FS: %v", name, err)
		}
	}
}

// TestCreateCorruptDirectory: a damaged directory block is reported (a
// checksum mismatch with metadata_csum, a bad rec_len without) and
// nothing is written, whichever create-side method meets it.
func TestCreateCorruptDirectory(t *testing.T) {
	src := sourceTree(t, 0)
	for _, tc := range []struct {
		cfg  mkfsConfig
		off  int // byte of the directory block to damage
		want error
	}{
		{testConfigs()[0], 20, ErrChecksum},
		{testConfigs()[3], 4, ErrCorrupt}, // rec_len of "."
	} {
		t.Run(tc.cfg.name, func(t *testing.T) {
			img := mkfs(t, tc.cfg, src)
			out := oracle.Debugfs(t, img, "bmap /etc 0")
			var blk int64
			if _, err := fmt.Sscan(strings.TrimSpace(out), &blk); err != nil {
				t.Fatalf("bmap: %q", out)
			}
			fh, err := os.OpenFile(img, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := fh.WriteAt([]byte{0x7b}, blk*int64(tc.cfg.blockSize)+int64(tc.off)); err != nil {
				t.Fatal(err)
			}
			fh.Close()
			sum := fixture.SHA256(t, img)
			f, _ := openRW(t, img)
			for name, do := range map[string]func() error{
				"WriteFile": func() error { return f.WriteFile("/etc/new", []byte("x"), fs.WriteOptions{}) },
				"Mkdir":     func() error { return f.Mkdir("/etc/d", 0o755, fs.Owner{}) },
				"Symlink":   func() error { return f.Symlink("x", "/etc/l", fs.Owner{}) },
				"Link":      func() error { return f.Link("/abs", "/etc/l") },
				"Rename":    func() error { return f.Rename("/abs", "/etc/l") },
				"Mknod":     func() error { return f.Mknod("/etc/p", fs.ModeFIFO, 0, fs.Owner{}) },
			} {
				if err := do(); !errors.Is(err, tc.want) {
					t.Errorf("%s into the damaged /etc: %v, want %v", name, err, tc.want)
				}
			}
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			if fixture.SHA256(t, img) != sum {
				t.Fatal("the image changed")
			}
		})
	}
}

// TestCreateUninitGroups: "BLOCK_UNINIT/INODE_UNINIT handling (initialise
// bitmaps properly when first used), itable_unused/bg_flags, free
// counts": on filesystems of 8 groups with 8 inodes each, new files and
// directories spill into INODE_UNINIT and BLOCK_UNINIT groups, with and
// without flex_bg, with metadata_csum and with gdt_csum; e2fsck -fn
// checks every bitmap, flag and count.
func TestCreateUninitGroups(t *testing.T) {
	oracle.Require(t, "e2fsck")
	for _, tc := range []struct{ name, features string }{
		{"metadata_csum, flex_bg", ""},
		{"gdt_csum, flex_bg", "^metadata_csum,uninit_bg"},
		{"metadata_csum without flex_bg", "^flex_bg"},
		{"ext2-like: no uninit_bg", "^metadata_csum,^uninit_bg,^has_journal,^extent,^flex_bg,^64bit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "groups.img")
			args := []string{"-q", "-F", "-t", "ext4", "-b", "1024", "-g", "1024", "-N", "64", "-U", "0b7c2f4e-5a61-4c2d-9d1e-3f2a1b0c9d8e"}
			if tc.features != "" {
				args = append(args, "-O", tc.features)
			}
			if _, errOut, code := oracle.Run(t, "mkfs.ext4", append(args, img, "8M")...); code != 0 {
				t.Fatalf("mkfs: %s", errOut)
			}
			f, _ := openRW(t, img)
			for i := 0; i < 40; i++ {
				p := fmt.Sprintf("/f%02d", i)
				var err error
				switch i % 3 {
				case 0:
					err = f.Mkdir(p, 0o755, fs.Owner{})
				case 1:
					err = f.WriteFile(p, pattern(30*1024, byte(i)), fs.WriteOptions{Perm: 0o644})
				default:
					err = f.WriteFile(fmt.Sprintf("/f%02d/inner", i-2), pattern(1500, byte(i)), fs.WriteOptions{Perm: 0o644})
				}
				if err != nil {
					t.Fatalf("%s: %v", p, err)
				}
			}
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			oracle.E2fsckClean(t, img)
			wantCat(t, img, "/f37", pattern(30*1024, 37))
			wantCat(t, img, "/f36/inner", pattern(1500, 38))
			out, _, _ := oracle.Run(t, "dumpe2fs", img)
			if tc.features != "^metadata_csum,^uninit_bg,^has_journal,^extent,^flex_bg,^64bit" && strings.Count(out, "INODE_UNINIT") >= 6 {
				t.Errorf("new inodes did not reach the uninitialised groups:\n%s", out)
			}
		})
	}
}

// TestWriteFileTripleIndirect: on ext2 with 1 KiB blocks a file past 12 +
// 256 + 65536 blocks is mapped through the triple-indirect block; e2fsck
// checks the map and i_blocks, debugfs reads the contents back.
func TestWriteFileTripleIndirect(t *testing.T) {
	oracle.Require(t, "e2fsck")
	img := mkfs(t, mkfsConfig{name: "ext2-big", fsType: "ext2", blockSize: 1024, sizeMiB: 80}, "")
	f, _ := openRW(t, img)
	data := pattern((12+256+65536+300)*1024+17, 5)
	if err := f.WriteFile("/triple", data, fs.WriteOptions{Perm: 0o644}); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	oracle.E2fsckClean(t, img)
	wantCat(t, img, "/triple", data)
	out := oracle.Debugfs(t, img, "stat /triple")
	if !strings.Contains(out, "(TIND):") {
		t.Errorf("no triple-indirect block:\n%.2000s", out)
	}
	// 1 single + (1 double + 256 children) + (1 triple + 1 + 2 children
	// of it) indirect blocks.
	n := uint64(len(data)+1023) / 1024
	if got, want := statField(t, out, "Blockcount"), fmt.Sprint((n+f.indirectMetaBlocks(n))*2); got != want {
		t.Errorf("Blockcount %s, want %s", got, want)
	}
}

// TestCreateBoundaries: the edges of the format's rules, judged by e2fsck
// and debugfs: a 59-byte symlink target is fast and a 60-byte one slow;
// renaming a name onto itself or onto another name of the same inode
// changes nothing (rename(2)); names of exactly 255 bytes.
func TestCreateBoundaries(t *testing.T) {
	oracle.Require(t, "e2fsck")
	for _, cfg := range []mkfsConfig{testConfigs()[0], testConfigs()[8]} {
		t.Run(cfg.name, func(t *testing.T) {
			img := mkfs(t, cfg, sourceTree(t, 0))
			f, _ := openRW(t, img)
			t59, t60 := strings.Repeat("a", 59), strings.Repeat("b", 60)
			long := strings.Repeat("L", 255)
			steps := []func() error{
				func() error { return f.Symlink(t59, "/s59", fs.Owner{}) },
				func() error { return f.Symlink(t60, "/s60", fs.Owner{}) },
				func() error { return f.Rename("/etc/machine-id", "/etc/machine-id") },
				func() error { return f.Rename("/etc/ssh/f1", "/deep/hardlink") },
				func() error { return f.WriteFile("/"+long, []byte("long name"), fs.WriteOptions{}) },
				func() error { return f.Mkdir("/deep/"+long, 0o755, fs.Owner{}) },
				func() error { return f.Rename("/"+long, "/deep/"+long+"/"+long) },
			}
			for i, s := range steps {
				if err := s(); err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
			}
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			oracle.E2fsckClean(t, img)
			if out := oracle.Debugfs(t, img, "stat /s59"); !strings.Contains(out, "Fast link dest: \""+t59+"\"") {
				t.Errorf("59-byte target not fast:\n%s", out)
			}
			wantCat(t, img, "/s60", []byte(t60))
			wantStat(t, img, "/s60", map[string]string{"Blockcount": fmt.Sprint(cfg.blockSize / 512)})
			wantStat(t, img, "/deep/hardlink", map[string]string{"Links": "2"})
			wantCat(t, img, "/etc/ssh/f1", pattern(1, 1))
			wantCat(t, img, "/deep/"+long+"/"+long, []byte("long name"))
		})
	}
}

// TestCreate64KiBBlocks: every create-side operation on 64 KiB blocks,
// where a directory block's rec_len of 65536 is stored as 65535
// (ext4_rec_len_to_disk), with a 300-entry htree taking 200 more names.
func TestCreate64KiBBlocks(t *testing.T) {
	oracle.Require(t, "e2fsck")
	for _, features := range []string{"", "^metadata_csum"} {
		t.Run("features "+features, func(t *testing.T) {
			img := mkfs(t, mkfsConfig{name: "ext4-64k", fsType: "ext4", blockSize: 65536, features: features, sizeMiB: 64}, sourceTree(t, 300))
			debugfsW(t, img, `ea_set /etc/machine-id user.k `+string(repeat('v', 700)))
			f, _ := openRW(t, img)
			cases := createCases(65536)
			for _, c := range cases {
				if err := c.do(f); err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
			}
			for i := 0; i < 200; i++ {
				if err := f.Link("/etc/machine-id", fmt.Sprintf("/many/more-%03d", i)); err != nil {
					t.Fatal(err)
				}
			}
			if err := f.Mkdir("/fresh", 0o755, fs.Owner{}); err != nil {
				t.Fatal(err)
			}
			if err := f.WriteFile("/fresh/one", []byte("1"), fs.WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			oracle.E2fsckClean(t, img)
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) { c.check(t, img) })
			}
		})
	}
}

// TestCreateOnFullFilesystem: with no free block left, a name still goes
// into a directory gap (an empty file, a link, a rename, a fast symlink);
// anything needing a block — data, a new directory, a directory that must
// grow — fails with ErrNoSpace and leaves the image byte-identical.
func TestCreateOnFullFilesystem(t *testing.T) {
	oracle.Require(t, "e2fsck")
	for _, cfg := range []mkfsConfig{testConfigs()[1], testConfigs()[8]} {
		t.Run(cfg.name, func(t *testing.T) {
			img := mkfs(t, cfg, sourceTree(t, 0))
			f, _ := openRW(t, img)
			if err := f.Mkdir("/full", 0o755, fs.Owner{}); err != nil {
				t.Fatal(err)
			}
			full, err := f.resolve("/full", false)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; ; i++ {
				name := fmt.Sprintf("entry-%04d", i)
				if fits, err := f.direntFits(full, name); err != nil || !fits {
					break
				}
				if err := f.Link("/etc/ssh/f0", "/full/"+name); err != nil {
					t.Fatal(err)
				}
				if full, err = f.resolve("/full", false); err != nil {
					t.Fatal(err)
				}
			}
			for i := 0; f.freeBlocks() > 0; i++ {
				free := f.freeBlocks()
				n := free
				for n > 0 && n+f.indirectOrExtentMeta(n) > free {
					n--
				}
				if err := f.WriteFile(fmt.Sprintf("/deep/filler%d", i), make([]byte, int(n)*cfg.blockSize), fs.WriteOptions{}); err != nil {
					t.Fatalf("filler %d of %d blocks (%d free): %v", i, n, free, err)
				}
			}
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				name string
				do   func() error
				want error
			}{
				{"an empty file in a directory with room", func() error { return f.WriteFile("/etc/empty", nil, fs.WriteOptions{}) }, nil},
				{"a fast symlink", func() error { return f.Symlink("empty", "/etc/fast", fs.Owner{}) }, nil},
				{"a link", func() error { return f.Link("/etc/empty", "/etc/empty2") }, nil},
				{"a rename into a directory with room", func() error { return f.Rename("/etc/empty2", "/etc/ssh/empty3") }, nil},
				{"a link into a full directory block", func() error { return f.Link("/etc/empty", "/full/one-more") }, fs.ErrNoSpace},
				{"a rename into a full directory block", func() error { return f.Rename("/etc/fast", "/full/one-more") }, fs.ErrNoSpace},
				{"a directory", func() error { return f.Mkdir("/etc/newdir", 0o755, fs.Owner{}) }, fs.ErrNoSpace},
				{"a slow symlink", func() error { return f.Symlink(strings.Repeat("s", 70), "/etc/slow", fs.Owner{}) }, fs.ErrNoSpace},
				{"a one-byte file", func() error { return f.WriteFile("/etc/one", []byte("1"), fs.WriteOptions{}) }, fs.ErrNoSpace},
				{"overwriting with more data", func() error { return f.WriteFile("/etc/empty", []byte("1"), fs.WriteOptions{}) }, fs.ErrNoSpace},
				{"overwriting with nothing frees blocks", func() error { return f.WriteFile("/deep/filler0", nil, fs.WriteOptions{}) }, nil},
				{"then the full directory grows", func() error { return f.Link("/etc/empty", "/full/one-more") }, nil},
			} {
				sum := fixture.SHA256(t, img)
				err := tc.do()
				if !errors.Is(err, tc.want) && !(tc.want == nil && err == nil) {
					t.Fatalf("%s: %v, want %v", tc.name, err, tc.want)
				}
				if err := f.Sync(); err != nil {
					t.Fatal(err)
				}
				if tc.want != nil && fixture.SHA256(t, img) != sum {
					t.Fatalf("%s: the image changed", tc.name)
				}
			}
			oracle.E2fsckClean(t, img)
		})
	}
}

// indirectOrExtentMeta is metaBlocksFor for a new regular file.
func (f *FS) indirectOrExtentMeta(n uint64) uint64 {
	if f.sb.FeatureIncompat&incompatExtents != 0 {
		return f.extentTreeBlocks(n)
	}
	return f.indirectMetaBlocks(n)
}

// TestRenameDotDotLoop: a directory tree whose ".." entries loop (a's is
// b, b's is a) never reaches the root: moving a directory into it is
// reported as corrupt, in bounded time, with nothing written.
func TestRenameDotDotLoop(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	for _, d := range []string{"a/b", "c"} {
		if err := os.MkdirAll(filepath.Join(src, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	img := mkfs(t, testConfigs()[1], src)
	r := openRO(t, img)
	a, err := r.Lstat("/a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.Lstat("/a/b")
	if err != nil {
		t.Fatal(err)
	}
	debugfsW(t, img, "unlink /a/b/..", fmt.Sprintf("ln <%d> /a/b/..", a.Ino), "unlink /a/..", fmt.Sprintf("ln <%d> /a/..", b.Ino))
	sum := fixture.SHA256(t, img)
	f, _ := openRW(t, img)
	if err := f.Rename("/c", "/a/b/c"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Rename into a '..' loop: %v", err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if fixture.SHA256(t, img) != sum {
		t.Fatal("the image changed")
	}
}
