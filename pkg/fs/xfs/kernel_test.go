package xfs

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/imgprep/imgprep/internal/oracle"
)

// mkfsXFS makes an empty xfs of size bytes in a temporary file, as fstests
// does below mkfs.xfs's 300 MB floor.
func mkfsXFS(t *testing.T, size int64, args ...string) string {
	t.Helper()
	img := filepath.Join(t.TempDir(), "k.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, size); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(oracle.Require(t, "mkfs.xfs"), append(append([]string{"-q", "-f"}, args...), img)...)
	cmd.Env = append(os.Environ(), "QA_CHECK_FS=1", "TEST_DIR=/tmp", "TEST_DEV=/dev/null")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mkfs.xfs: %v: %s", err, out)
	}
	return img
}

// kernelMountRW mounts img read-write through a loop device and returns
// the mount point and the unmount function.
func kernelMountRW(t *testing.T, img string) (string, func()) {
	t.Helper()
	st, err := os.Stat(img)
	if err != nil {
		t.Fatal(err)
	}
	dev := oracle.Loop(t, img, 0, st.Size(), false)
	return oracle.KernelMountOpts(t, "xfs", dev, "rw,nouuid")
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// xfsDB runs xfs_db -r with the commands on img.
func xfsDB(t *testing.T, img string, cmds ...string) string {
	t.Helper()
	args := []string{"-r"}
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	out, stderr, code := oracle.Run(t, "xfs_db", append(args, img)...)
	if code != 0 {
		t.Fatalf("xfs_db %v: exit %d: %s", cmds, code, stderr)
	}
	return out
}

// TestReadKernelMadeTree: the kernel writes what mkfs.xfs's protofile
// cannot (a file fragmented into 6,000 extents, so a bmbt two levels
// deep; sparse and preallocated files, whose unwritten extents read as
// zeros; a remote symlink; a real SELinux label; 300 xattrs, a node-format
// attribute fork, and a remote value over several blocks; a 10,000-entry
// directory grown between file writes), xfs_repair -n finds nothing, and
// this package reads exactly what the kernel shows.
func TestReadKernelMadeTree(t *testing.T) {
	img := mkfsXFS(t, 160<<20)
	mnt, umount := kernelMountRW(t, img)

	frag, err := os.Create(filepath.Join(mnt, "frag"))
	must(t, err)
	block := make([]byte, 4096)
	for i := 0; i < 6000; i++ {
		copy(block, fmt.Sprintf("block %d\n", i))
		_, err := frag.WriteAt(block, int64(2*i)*4096)
		must(t, err)
	}
	must(t, frag.Sync())
	must(t, frag.Close())

	sparse, err := os.Create(filepath.Join(mnt, "sparse"))
	must(t, err)
	_, err = sparse.WriteAt([]byte("head"), 0)
	must(t, err)
	_, err = sparse.WriteAt([]byte("tail"), 64<<20)
	must(t, err)
	must(t, sparse.Close())

	pre, err := os.Create(filepath.Join(mnt, "prealloc"))
	must(t, err)
	must(t, unix.Fallocate(int(pre.Fd()), 0, 0, 1<<20))
	_, err = pre.WriteAt([]byte("written inside a preallocation"), 8192)
	must(t, err)
	must(t, pre.Close())

	must(t, os.Symlink(strings.Repeat("long/", 160)+"target", filepath.Join(mnt, "remote-link")))

	labeled := filepath.Join(mnt, "labeled")
	must(t, os.WriteFile(labeled, []byte("label\n"), 0o644))
	must(t, unix.Setxattr(labeled, "security.selinux", []byte("system_u:object_r:etc_t:s0\x00"), 0))

	many := filepath.Join(mnt, "many-xattrs")
	must(t, os.WriteFile(many, nil, 0o644))
	for i := 0; i < 300; i++ {
		must(t, unix.Setxattr(many, fmt.Sprintf("user.attribute-%03d", i), []byte(strings.Repeat(fmt.Sprint(i%10), 100)), 0))
	}
	big := make([]byte, 20000)
	for i := range big {
		big[i] = byte(i * 7)
	}
	must(t, unix.Setxattr(many, "user.remote", big, 0))

	dir := filepath.Join(mnt, "bigdir")
	must(t, os.Mkdir(dir, 0o755))
	for i := 0; i < 10000; i++ {
		must(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("a-file-with-a-rather-long-name-%05d", i)), nil, 0o644))
		if i%20 == 0 {
			must(t, os.WriteFile(filepath.Join(mnt, fmt.Sprintf("spacer-%d", i)), block, 0o644))
		}
	}
	umount()

	if p, out := oracle.XfsRepairProblems(t, img); len(p) > 0 {
		t.Fatalf("xfs_repair -n after the kernel wrote: %v\n%s", p, out)
	}
	if got := xfsDB(t, img, "path /frag", "print core.format u3.bmbt.level"); !strings.Contains(got, "core.format = 3 (btree)") || !strings.Contains(got, "u3.bmbt.level = 2") {
		t.Errorf("/frag is not a two-level bmbt: %s", got)
	}
	if got := xfsDB(t, img, "path /many-xattrs", "print core.aformat"); !strings.Contains(got, "(extents)") && !strings.Contains(got, "(btree)") {
		t.Errorf("/many-xattrs has no block attribute fork: %s", got)
	}
	t.Logf("/bigdir: %s", strings.TrimSpace(xfsDB(t, img, "path /bigdir", "print core.format core.nextents")))

	f := openImage(t, img)
	if n := f.Info().Note; n != "" {
		t.Errorf("Note %q after a clean unmount", n)
	}
	c := compareTree(t, f, kernelMountRO(t, img))
	t.Logf("%d files, %d dirs, %d symlinks, %d xattrs, %d bytes compared", c.files, c.dirs, c.links, c.xattrs, c.bytes)
	if c.files < 10000 || c.xattrs < 302 {
		t.Errorf("compared too little: %+v", c)
	}
	x, err := f.Xattrs("/labeled")
	if err != nil || string(x["security.selinux"]) != "system_u:object_r:etc_t:s0\x00" {
		t.Errorf("security.selinux of /labeled: %q %v", x["security.selinux"], err)
	}
}

// TestReadFullFilesystem: a filesystem the kernel filled until ENOSPC
// reads back exactly.
func TestReadFullFilesystem(t *testing.T) {
	img := mkfsXFS(t, 32<<20)
	mnt, umount := kernelMountRW(t, img)
	fill, err := os.Create(filepath.Join(mnt, "fill"))
	must(t, err)
	chunk := make([]byte, 1<<16)
	for i := 0; ; i++ {
		copy(chunk, fmt.Sprintf("chunk %d\n", i))
		if _, err := fill.Write(chunk); err != nil {
			if !errors.Is(err, unix.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	fill.Close()
	umount()
	if p, out := oracle.XfsRepairProblems(t, img); len(p) > 0 {
		t.Fatalf("xfs_repair -n: %v\n%s", p, out)
	}
	f := openImage(t, img)
	// The kernel keeps per-AG reservations (finobt, reflink) out of
	// reach, so a full filesystem still counts a few free blocks.
	if free := f.Info().FreeBytes; free > f.Info().Size/10 {
		t.Errorf("%d bytes free on a full filesystem", free)
	}
	c := compareTree(t, f, kernelMountRO(t, img))
	if c.bytes < 16<<20 {
		t.Errorf("compared %d bytes", c.bytes)
	}
}

// TestDirtyLogWarnsAndRefuses: a filesystem shut down while mounted keeps
// a dirty log: Open reads it with a Note, and the refusal says what to
// do. Once the kernel has mounted it again (replaying the log) and
// unmounted it, the log is clean.
func TestDirtyLogWarnsAndRefuses(t *testing.T) {
	img := mkfsXFS(t, 32<<20)
	mnt, umount := kernelMountRW(t, img)
	must(t, os.WriteFile(filepath.Join(mnt, "before-crash"), []byte("x"), 0o644))
	if out, err := exec.Command(oracle.Require(t, "xfs_io"), "-x", "-c", "shutdown -f", mnt).CombinedOutput(); err != nil {
		t.Fatalf("xfs_io shutdown: %v: %s", err, out)
	}
	umount()

	f := openImage(t, img)
	if !strings.Contains(f.Info().Note, "log is dirty") {
		t.Errorf("Note %q, want the dirty log named", f.Info().Note)
	}
	err := f.Refusal()
	if !errors.Is(err, ErrDirtyLog) || !strings.Contains(err.Error(), "k.img has a dirty log: mount it once or run xfs_repair -L at your own risk") {
		t.Errorf("Refusal %v", err)
	}
	if err := f.Remove("/before-crash"); !errors.Is(err, ErrDirtyLog) {
		t.Errorf("Remove on a dirty log: %v", err)
	}
	if _, err := f.ReadDir("/"); err != nil {
		t.Errorf("ReadDir on a dirty log: %v", err)
	}

	_, umount = kernelMountRW(t, img)
	umount()
	if n := openImage(t, img).Info().Note; n != "" {
		t.Errorf("Note %q after the kernel replayed the log", n)
	}
}
