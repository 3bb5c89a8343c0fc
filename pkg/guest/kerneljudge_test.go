package guest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path"
	"sort"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/fs"
)

// The third judge: the Linux kernel mounts what we wrote. Each partition
// is attached read-only to a loop device inside a private mount namespace
// and mounted with the kernel's own ext4 or vfat driver; every file is
// listed and read (a corrupt extent or cluster chain fails the read), and
// the kernel log must hold no error for that loop device. The kernel's
// view must equal what our engines read.

// kernelScript lists a mounted filesystem as "TYPE SIZE PATH" lines for
// every entry, then "sha256  ./PATH" for every regular file.
// Exit 10: no loop device (the environment); 11: the kernel refused to
// mount; 3: the kernel logged errors; any other failure: a read failed.
const kernelScript = `set -e
loop=$(losetup -f --show -r -o "$OFF" --sizelimit "$SIZE" "$IMG") || exit 10
trap 'umount "$DIR" 2>/dev/null || true; losetup -d "$loop"' EXIT
before=$(dmesg 2>/dev/null | wc -l)
mount -t "$TYPE" -o ro "$loop" "$DIR" || exit 11
cd "$DIR"
find . -xdev -mindepth 1 -printf '%y %s %p\n' | LC_ALL=C sort
find . -xdev -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum
cd /
umount "$DIR"
dmesg 2>/dev/null | tail -n +$((before + 1)) | grep -E "\($(basename "$loop")\)" | grep -iE 'error|corrupt|checksum|bad ' >&2 && exit 3
exit 0
`

// kernelView mounts the filesystem f of the image at img and returns the
// kernel's listing.
func kernelView(tb testing.TB, img string, f *Filesystem) string {
	tb.Helper()
	unshare := oracle.Require(tb, "unshare")
	oracle.Require(tb, "losetup")
	dir := tb.TempDir()
	cmd := exec.Command(unshare, "--mount", "--propagation", "private", "sh", "-c", kernelScript)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "PATH=/usr/sbin:/sbin:"+os.Getenv("PATH"),
		"IMG="+img, "DIR="+dir, "TYPE="+f.Type, fmt.Sprintf("OFF=%d", f.Offset), fmt.Sprintf("SIZE=%d", f.Size))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		switch {
		case ok && ee.ExitCode() == 10, !ok:
			oracle.Unavailable(tb, fmt.Sprintf("the kernel judge has no loop device here: %v: %s", err, stderr.String()))
		case ee.ExitCode() == 11:
			tb.Fatalf("the kernel refused to mount %s: %s", f.Desc(), stderr.String())
		case ee.ExitCode() == 3:
			tb.Fatalf("the kernel logged errors for %s:\n%s", f.Desc(), stderr.String())
		default:
			tb.Fatalf("reading %s through the kernel failed: %v: %s", f.Desc(), err, stderr.String())
		}
	}
	return string(out)
}

// engineView lists a filesystem through our engine in the kernel
// script's format.
func engineView(tb testing.TB, fsys fs.FS) string {
	tb.Helper()
	var entries, sums []string
	var walk func(dir string)
	walk = func(dir string) {
		ents, err := fsys.ReadDir(dir)
		if err != nil {
			tb.Fatalf("ReadDir %s: %v", dir, err)
		}
		for _, e := range ents {
			p := path.Join(dir, e.Name)
			a, err := fsys.Lstat(p)
			if err != nil {
				tb.Fatalf("Lstat %s: %v", p, err)
			}
			switch a.Type() {
			case fs.TypeDir:
				entries = append(entries, "d ? ."+p)
				walk(p)
			case fs.TypeSymlink:
				entries = append(entries, fmt.Sprintf("l %d .%s", a.Size, p))
			case fs.TypeRegular:
				entries = append(entries, fmt.Sprintf("f %d .%s", a.Size, p))
				b, err := fsys.ReadFile(p)
				if err != nil {
					tb.Fatalf("ReadFile %s: %v", p, err)
				}
				sum := sha256.Sum256(b)
				sums = append(sums, hex.EncodeToString(sum[:])+"  ."+p)
			default:
				entries = append(entries, fmt.Sprintf("%c %d .%s", a.Type().String()[0], a.Size, p))
			}
		}
	}
	walk("/")
	sort.Strings(entries)
	sort.Slice(sums, func(i, j int) bool { return sums[i][66:] < sums[j][66:] })
	return strings.Join(entries, "\n") + "\n" + strings.Join(sums, "\n") + "\n"
}

// normalizeKernel drops directory sizes (block multiples that our Attr
// need not match) from a kernel listing.
func normalizeKernel(s string) string {
	var out []string
	for _, l := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		if strings.HasPrefix(l, "d ") {
			f := strings.SplitN(l, " ", 3)
			l = "d ? " + f[2]
		}
		out = append(out, l)
	}
	var entries, sums []string
	for _, l := range out {
		if len(l) > 66 && l[64:66] == "  " {
			sums = append(sums, l)
		} else {
			entries = append(entries, l)
		}
	}
	sort.Strings(entries)
	sort.Slice(sums, func(i, j int) bool { return sums[i][66:] < sums[j][66:] })
	return strings.Join(entries, "\n") + "\n" + strings.Join(sums, "\n") + "\n"
}

// TestKernelMountsWhatWeWrote: after sysprep's changes on the GPT
// fixture (both ext4 filesystems and the ESP), Linux mounts each one and
// sees exactly what our engines see, with the identity files gone.
func TestKernelMountsWhatWeWrote(t *testing.T) {
	g, l, p := scanGuest(t, "disk-gpt.raw", true)
	if err := g.Remove("/boot/efi/loader/random-seed"); err != nil {
		t.Fatal(err)
	}
	sysprepLike(t, g)
	for _, n := range []int{1, 2, 3} {
		f := fsAt(t, l, n)
		if !kernelHas(t, f.Type) {
			// Not something a test can install: this kernel was built
			// without the driver (vfat here); fsck.fat and mtools judge
			// the ESP in TestGuestWritesAcrossMountsPassE2fsck.
			t.Logf("the running kernel has no %s driver; %s is judged by the other oracles only", f.Type, f.Desc())
			continue
		}
		t.Run(f.Desc(), func(t *testing.T) {
			got := normalizeKernel(kernelView(t, p, f))
			want := engineView(t, f.FS)
			if got != want {
				t.Fatalf("the kernel sees:\n%s\nour engine sees:\n%s", got, want)
			}
			for _, gone := range []string{"./loader/random-seed", "./etc/ssh/ssh_host_rsa_key", "./lib/netdata/registry/netdata.public.unique.id", "./lib/netdata/cloud.d"} {
				if strings.Contains(got, " "+gone+"\n") {
					t.Errorf("the kernel still sees %s", gone)
				}
			}
			if n == 2 && !strings.Contains(got, "f 0 ./etc/machine-id\n") {
				t.Errorf("the kernel does not see an empty /etc/machine-id:\n%s", got)
			}
		})
	}
}

// kernelHas reports whether the running kernel lists fstype in
// /proc/filesystems.
func kernelHas(tb testing.TB, fstype string) bool {
	tb.Helper()
	b, err := os.ReadFile("/proc/filesystems")
	if err != nil {
		tb.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[len(f)-1] == fstype {
			return true
		}
	}
	return false
}
