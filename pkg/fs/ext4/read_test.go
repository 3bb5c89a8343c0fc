package ext4

import (
	"errors"
	"os"
	"testing"

	"github.com/imgprep/imgprep/internal/deadline"
	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/pkg/fs"
)

// TestReadTreeMatchesMkfsSource: every file mkfs.ext4 -d copied in reads
// back identically, on every filesystem flavour.
func TestReadTreeMatchesMkfsSource(t *testing.T) {
	src := sourceTree(t, 300)
	for _, cfg := range testConfigs() {
		t.Run(cfg.name, func(t *testing.T) {
			img := mkfs(t, cfg, src)
			f := openRO(t, img)
			assertSameTree(t, f, src)
			inf := f.Info()
			if inf.Type != cfg.fsType || inf.Label != "imgtest" || inf.UUID != "0b7c2f4e-5a61-4c2d-9d1e-3f2a1b0c9d8e" ||
				inf.BlockSize != cfg.blockSize || inf.Size != int64(cfg.sizeMiB)<<20 || inf.Writable {
				t.Errorf("Info = %+v", inf)
			}
		})
	}
}

// TestPathResolution: symlinks are followed inside the filesystem, an
// absolute target is relative to the filesystem root, ".." stops at "/",
// and a symlink loop fails with ErrLoop.
func TestPathResolution(t *testing.T) {
	src := sourceTree(t, 0)
	img := mkfs(t, testConfigs()[0], src)
	f := openRO(t, img)
	machineID, _ := os.ReadFile(src + "/etc/machine-id")
	f60, _ := os.ReadFile(src + "/etc/ssh/f60")
	tests := []struct {
		name string
		path string
		want []byte
		err  error
	}{
		{"relative symlink in the middle is followed", "/deep/mid", machineID, nil},
		{"absolute symlink target is relative to the fs root", "/abs", f60, nil},
		{"dot-dot never climbs above the root", "/../../etc/machine-id", machineID, nil},
		{"dot-dot through a symlink clamps at the root", "/deep/a/escape/machine-id", machineID, nil},
		{"dot components are skipped", "/./etc/./ssh/../machine-id", machineID, nil},
		{"a symlink loop fails with too many levels", "/loop1", nil, fs.ErrLoop},
		{"a missing file does not exist", "/etc/nope", nil, fs.ErrNotExist},
		{"a file used as a directory is not a directory", "/etc/machine-id/x", nil, fs.ErrNotDir},
		{"a directory read as a file is a directory", "/etc", nil, fs.ErrIsDir},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// A deadline: a resolver without a hop limit never returns.
			got, err := deadline.Call(t, "ReadFile("+tc.path+")", func() ([]byte, error) { return f.ReadFile(tc.path) })
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("ReadFile(%s) err = %v, want %v", tc.path, err, tc.err)
				}
				return
			}
			if err != nil || string(got) != string(tc.want) {
				t.Fatalf("ReadFile(%s) = %q, %v; want %q", tc.path, got, err, tc.want)
			}
		})
	}
	if a, err := f.Lstat("/deep/mid"); err != nil || a.Type() != fs.TypeSymlink {
		t.Errorf("Lstat does not follow the final symlink: %+v %v", a, err)
	}
	if a, err := f.Stat("/deep/mid"); err != nil || a.Type() != fs.TypeRegular {
		t.Errorf("Stat follows the final symlink: %+v %v", a, err)
	}
	if a, err := f.Lstat("/deep/fifo"); err != nil || a.Type() != fs.TypeFIFO {
		t.Errorf("Lstat fifo: %+v %v", a, err)
	}
	if a, err := f.Lstat("/deep/hardlink"); err != nil || a.Nlink != 2 {
		t.Errorf("Lstat hard link: %+v %v", a, err)
	}
	if _, err := f.Readlink("/etc"); !errors.Is(err, fs.ErrNotSymlink) {
		t.Errorf("Readlink of a directory: %v", err)
	}
}

// TestXattrsInInodeAndBlock: attributes set by debugfs, small ones in the
// inode and large ones in an external block, read back with their full
// names (index prefixes restored).
func TestXattrsInInodeAndBlock(t *testing.T) {
	src := sourceTree(t, 0)
	for _, cfg := range []mkfsConfig{testConfigs()[0], testConfigs()[6], testConfigs()[8]} {
		t.Run(cfg.name, func(t *testing.T) {
			img := mkfs(t, cfg, src)
			debugfsW(t, img,
				`ea_set /etc/machine-id security.selinux system_u:object_r:machineid_t:s0`,
				`ea_set /etc/machine-id user.small hello`,
				`ea_set /etc/ssh/f1 trusted.big `+string(repeat('B', 700)),
			)
			f := openRO(t, img)
			x, err := f.Xattrs("/etc/machine-id")
			if err != nil {
				t.Fatal(err)
			}
			if string(x["security.selinux"]) != "system_u:object_r:machineid_t:s0" || string(x["user.small"]) != "hello" {
				t.Errorf("Xattrs = %q", x)
			}
			x, err = f.Xattrs("/etc/ssh/f1")
			if err != nil || string(x["trusted.big"]) != string(repeat('B', 700)) {
				t.Errorf("Xattrs(f1) = %d attrs, %v", len(x), err)
			}
		})
	}
}

func repeat(c byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = c
	}
	return b
}

// TestHtreeLookupFindsEveryName: every name of the 5000-entry htree
// directory of ext4-htree.img is found through the index (its hash leads
// to its leaf), with the inode a linear scan finds.
func TestHtreeLookupFindsEveryName(t *testing.T) {
	f := openRO(t, fixture.Path(t, "ext4-htree.img"))
	dir, err := f.resolve("/big", true)
	if err != nil {
		t.Fatal(err)
	}
	if !dir.flag(inodeFlagIndex) {
		t.Fatal("/big is not indexed")
	}
	ents, err := f.ReadDir("/big")
	if err != nil || len(ents) < 5000 {
		t.Fatalf("ReadDir: %d entries, %v", len(ents), err)
	}
	for _, e := range ents {
		got, _, ok := f.dxLookup(dir, e.Name)
		if !ok || uint64(got.ino) != e.Ino {
			t.Fatalf("dxLookup(%q) = %v, %v; the linear scan finds inode %d", e.Name, got, ok, e.Ino)
		}
	}
	if _, _, ok := f.dxLookup(dir, "no-such-name"); ok {
		t.Fatal("dxLookup found a name that is not there")
	}
}
