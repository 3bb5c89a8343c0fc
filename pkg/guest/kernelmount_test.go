package guest

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/imgprep/imgprep/internal/deadline"
	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/fs/memfs"
)

// Mount crossing, judged by Linux: the guest's three filesystems are
// built as host directories and bind-mounted at /var and /boot/efi of the
// root directory inside a private mount namespace (unshare -m); the test
// binary, re-run there, resolves every path with openat2
// RESOLVE_IN_ROOT. ".." at the root of a mount, the longest mounted
// prefix and absolute links out of a mount must all agree.

// mountTrees are the trees of the three filesystems, by mount point.
func mountTrees() map[string][]string {
	return map[string][]string{
		"/": {"/etc/hostname", "/run/status", "/var/", "/var/hidden", "/boot/efi/", "/abs -> /etc",
			"/tovar -> var/lib", "/dotdot -> ../..", "/srv/", "/home/user/notes"},
		"/var": {"/lib/up -> ../..", "/lib/rel -> ../../etc/hostname", "/run -> /run",
			"/lib/netdata/cloud.d -> /etc", "/lib/netdata/registry/id", "/lib/dotdot -> ../../../../..",
			"/lib/toroot -> /", "/cache/netdata/meta.db", "/tmp/", "/lib/esp -> ../../boot/efi",
			"/lib/self -> .", "/loop -> /var/loop"},
		"/boot/efi": {"/EFI/BOOT/BOOTX64.EFI", "/up -> ../../../var/lib", "/loader/random-seed", "/rootlink -> /"},
	}
}

const mountHelperEnv = "IMGPREP_GUEST_MOUNT_HELPER"

// TestMain runs the mount oracle's helper when the test binary is re-run
// for it inside its mount namespace, and the tests otherwise.
func TestMain(m *testing.M) {
	if spec := os.Getenv(mountHelperEnv); spec != "" {
		mountHelper(spec)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// mountHelper bind-mounts the /var and /boot/efi trees into the root
// tree and prints where Linux resolves each requested path.
func mountHelper(spec string) {
	dirs := strings.Split(spec, "\n") // root, var, efi, paths file
	fail := func(err error) { fmt.Printf("MOUNT-FAILED %v\n", err) }
	for _, m := range [][2]string{{dirs[1], dirs[0] + "/var"}, {dirs[2], dirs[0] + "/boot/efi"}} {
		if err := unix.Mount(m[0], m[1], "", unix.MS_BIND, ""); err != nil {
			fail(err)
			return
		}
	}
	rootFD, err := unix.Open(dirs[0], unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		fail(err)
		return
	}
	in, err := os.ReadFile(dirs[3])
	if err != nil {
		fail(err)
		return
	}
	w := bufio.NewWriter(os.Stdout)
	for _, line := range strings.Split(strings.TrimSuffix(string(in), "\n"), "\n") {
		follow, p, _ := strings.Cut(line, " ")
		fmt.Fprintln(w, kernelResolve(rootFD, dirs[0], p, follow == "1"))
	}
	w.Flush()
}

func TestMountCrossingAgreesWithLinux(t *testing.T) {
	unshare := oracle.Require(t, "unshare")
	base := t.TempDir()
	base, err := filepath.EvalSymlinks(base)
	if err != nil {
		t.Fatal(err)
	}
	hostDir := map[string]string{"/": base + "/root", "/var": base + "/var", "/boot/efi": base + "/efi"}
	memFS := map[string]*memfs.FS{}
	for point, tree := range mountTrees() {
		memFS[point] = buildKernelTree(t, hostDir[point], tree)
	}
	memFS["/"].AddFile("/etc/fstab", "LABEL=root / ext4 defaults 0 1\nLABEL=var /var ext4 defaults 0 2\nLABEL=ESP /boot/efi vfat umask=0077 0 1\n", 0o644)
	memFS["/"].AddFile("/etc/os-release", "ID=test\n", 0o644)
	// The host root gets the same two files, so both trees stay equal.
	for _, f := range []string{"/etc/fstab", "/etc/os-release"} {
		b, _ := memFS["/"].ReadFile(f)
		if err := os.WriteFile(hostDir["/"]+f, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l := &Layout{Filesystems: []*Filesystem{
		{Partition: 1, Type: "vfat", Label: "ESP", FS: memFS["/boot/efi"], Writable: true},
		{Partition: 2, Type: "ext4", Label: "root", FS: memFS["/"], Writable: true},
		{Partition: 3, Type: "ext4", Label: "var", FS: memFS["/var"], Writable: true},
	}}
	gs, err := l.Guests()
	if err != nil {
		t.Fatal(err)
	}
	g := gs[0]
	paths := []string{"/var/lib/up/etc/hostname", "/var/..", "/var/../etc", "/var/lib/../../etc/hostname",
		"/var/run/status", "/var/lib/netdata/cloud.d/hostname", "/var/lib/dotdot/var/lib/netdata/registry/id",
		"/var/lib/toroot/boot/efi/EFI/BOOT/BOOTX64.EFI", "/var/lib/esp/up/netdata/registry/id", "/var/hidden",
		"/boot/efi/..", "/boot/efi/../..", "/boot/efi/up/up/etc", "/boot/efi/rootlink/var/cache",
		"/tovar/../../etc", "/tovar/up/boot/efi", "/dotdot/var/lib/self/self/up/var/tmp", "/var/loop", "/var/loop/x",
		"/var/lib/netdata/cloud.d/", "/var/run/", "/boot/efi/EFI/BOOT/BOOTX64.EFI/"}
	vocab := []string{"var", "lib", "up", "rel", "run", "netdata", "cloud.d", "registry", "id", "dotdot",
		"toroot", "esp", "self", "boot", "efi", "EFI", "BOOT", "rootlink", "tovar", "etc", "hostname", "..", ".",
		"cache", "tmp", "loop", "hidden", "abs", "srv", "home", "status", "missing"}
	paths = append(paths, randomPaths(t, g, rand.New(rand.NewPCG(3, 4)), vocab, 3000, 8)...)
	var req bytes.Buffer
	type query struct {
		p      string
		follow bool
	}
	var queries []query
	for _, p := range paths {
		for _, follow := range []bool{true, false} {
			queries = append(queries, query{p, follow})
			f := "0"
			if follow {
				f = "1"
			}
			fmt.Fprintf(&req, "%s %s\n", f, p)
		}
	}
	reqFile := base + "/paths"
	if err := os.WriteFile(reqFile, req.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(unshare, "--mount", "--propagation", "private", os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), mountHelperEnv+"="+strings.Join([]string{hostDir["/"], hostDir["/var"], hostDir["/boot/efi"], reqFile}, "\n"))
	out, err := cmd.Output()
	if err != nil || bytes.HasPrefix(out, []byte("MOUNT-FAILED")) {
		oracle.Unavailable(t, fmt.Sprintf("the mount namespace oracle cannot run here: %v %s", err, out))
	}
	answers := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(answers) != len(queries) {
		t.Fatalf("%d answers for %d queries:\n%s", len(answers), len(queries), out)
	}
	// The memfs side: each memfs path exists or not as the host's does.
	mismatches := 0
	stats := map[string]int{}
	for i, q := range queries {
		want := answers[i]
		stats[strings.Fields(want)[0]]++
		got, _ := deadline.Call(t, fmt.Sprintf("resolve(%q, follow=%t)", q.p, q.follow), func() (string, error) {
			return ourMountResolve(g, q.p, q.follow), nil
		})
		if got != want {
			mismatches++
			if mismatches <= 20 {
				t.Errorf("%q follow=%t: guest %s, Linux %s", q.p, q.follow, got, want)
			}
		}
	}
	if mismatches > 0 {
		t.Fatalf("%d of %d resolutions differ from Linux", mismatches, len(queries))
	}
	t.Logf("outcomes (Linux = guest): %v", stats)
}

// ourMountResolve is where the guest resolver lands across mounts.
func ourMountResolve(g *Guest, p string, follow bool) string {
	t, err := g.resolve(p, follow || hasTrailingSlash(p))
	if err != nil {
		return classify(err)
	}
	if _, err := t.fs.FS.Lstat(t.inner); err != nil {
		return classify(err)
	}
	return "ok " + t.guestPath
}
