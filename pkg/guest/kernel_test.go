package guest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/imgprep/imgprep/internal/deadline"
	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/fs/memfs"
)

// The kernel as oracle for guest path resolution: Linux's openat2(2) with
// RESOLVE_IN_ROOT resolves a path as if the directory were the root
// ("/" and ".." stay inside it, absolute symlinks restart at it), which
// is exactly what a guest path means on a single filesystem. The same
// tree is built in memfs (for our resolver) and in a host directory (for
// the kernel), and every path must land on the same place or fail with
// the same errno.

// kernelTree returns the tree both sides build: a trailing "/" makes a
// directory, "->" a symlink, anything else a file.
func kernelTree() []string {
	tree := []string{
		"/etc/", "/etc/hostname", "/usr/bin/hello", "/bin -> usr/bin", "/abs -> /etc",
		"/loop1 -> loop2", "/loop2 -> /loop1", "/dangling -> /nonexistent/file",
		"/dotdot -> ../../../../..", "/var/lib/up -> ../..", "/var/lib/rel -> ../../etc/hostname",
		"/run/status", "/var/run -> /run", "/runfile -> /etc/hostname", "/self -> .",
		"/deep/a/b/c/back -> ../../../..", "/deep/a/b/c/abs -> /deep", "/var/lib/netdata/cloud.d -> /etc",
		"/var/lib/netdata/registry/id", "/chain41/",
	}
	// /chain0 -> /chain1 -> ... -> /chain41: 41 links from chain0, 40 from chain1.
	for i := 0; i <= 40; i++ {
		tree = append(tree, fmt.Sprintf("/chain%d -> chain%d", i, i+1))
	}
	return tree
}

// buildKernelTree builds tree in memfs and below host.
func buildKernelTree(tb testing.TB, host string, tree []string) *memfs.FS {
	tb.Helper()
	m := memfs.New()
	for _, e := range tree {
		hp := filepath.Join(host, e)
		switch {
		case strings.Contains(e, " -> "):
			link, target, _ := strings.Cut(e, " -> ")
			m.AddSymlink(link, target)
			hp = filepath.Join(host, link)
			if err := os.MkdirAll(filepath.Dir(hp), 0o755); err != nil {
				tb.Fatal(err)
			}
			if err := os.Symlink(target, hp); err != nil {
				tb.Fatal(err)
			}
		case strings.HasSuffix(e, "/"):
			m.AddDir(strings.TrimSuffix(e, "/"), 0o755)
			if err := os.MkdirAll(hp, 0o755); err != nil {
				tb.Fatal(err)
			}
		default:
			m.AddFile(e, "x", 0o644)
			if err := os.MkdirAll(filepath.Dir(hp), 0o755); err != nil {
				tb.Fatal(err)
			}
			if err := os.WriteFile(hp, []byte("x"), 0o644); err != nil {
				tb.Fatal(err)
			}
		}
	}
	return m
}

// classify turns an error into the errno name both sides are compared by.
func classify(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, unix.ENOENT):
		return "ENOENT"
	case errors.Is(err, fs.ErrNotDir), errors.Is(err, unix.ENOTDIR):
		return "ENOTDIR"
	case errors.Is(err, fs.ErrLoop), errors.Is(err, unix.ELOOP):
		return "ELOOP"
	}
	return "other: " + err.Error()
}

// kernelResolve asks Linux where p lands inside root.
func kernelResolve(rootFD int, root, p string, follow bool) string {
	flags := uint64(unix.O_PATH | unix.O_CLOEXEC)
	if !follow {
		flags |= unix.O_NOFOLLOW
	}
	fd, err := unix.Openat2(rootFD, p, &unix.OpenHow{Flags: flags, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS})
	if err != nil {
		return classify(err)
	}
	defer unix.Close(fd)
	where, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil {
		return "readlink failed: " + err.Error()
	}
	if where == root {
		return "ok /"
	}
	return "ok " + strings.TrimPrefix(where, root)
}

// ourResolve is where the guest resolver lands, as a lookup (Lstat or
// Stat) sees it.
func ourResolve(g *Guest, m *memfs.FS, p string, follow bool) string {
	t, err := g.resolve(p, follow || hasTrailingSlash(p))
	if err != nil {
		return classify(err)
	}
	if _, err := m.Lstat(t.inner); err != nil {
		return classify(err)
	}
	return "ok " + t.guestPath
}

func TestPathResolutionAgreesWithLinuxOpenat2InRoot(t *testing.T) {
	host := t.TempDir()
	root, err := filepath.EvalSymlinks(host)
	if err != nil {
		t.Fatal(err)
	}
	m := buildKernelTree(t, root, kernelTree())
	rootFD, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(rootFD)
	if _, err := unix.Openat2(rootFD, "/", &unix.OpenHow{Flags: unix.O_PATH, Resolve: unix.RESOLVE_IN_ROOT}); errors.Is(err, unix.ENOSYS) {
		oracle.Unavailable(t, "openat2 is not available on this kernel, and the kernel oracle needs it")
	}
	for f, content := range map[string]string{"/etc/fstab": "/dev/vda / ext4 defaults 0 1\n", "/etc/os-release": "ID=test\n"} {
		m.AddFile(f, content, 0o644)
		if err := os.WriteFile(root+f, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l := &Layout{Filesystems: []*Filesystem{{Partition: 0, Type: "ext4", FS: m, Writable: true}}}
	gs, err := l.Guests()
	if err != nil {
		t.Fatal(err)
	}
	g := gs[0]
	paths := []string{
		"/", "/..", "/../..", "/etc/hostname", "/bin/hello", "/abs/hostname", "/abs/../usr/bin",
		"/loop1", "/loop1/x", "/dangling", "/dangling/x", "/dotdot/etc", "/dotdot/../../etc",
		"/var/lib/up/etc", "/var/lib/rel", "/var/run/status", "/var/run/", "/runfile", "/runfile/x",
		"/runfile/", "/self/self/self/etc", "/deep/a/b/c/back/etc", "/deep/a/b/c/abs/a/b/c/back/bin/hello",
		"/var/lib/netdata/cloud.d", "/var/lib/netdata/cloud.d/hostname", "/var/lib/netdata/cloud.d/",
		"/chain0", "/chain1", "/chain0/x", "/chain1/x", "/etc/hostname/", "/etc/hostname/.", "/etc/./hostname",
		"//etc//hostname", "/var/lib/netdata/registry/id/..",
	}
	vocab := []string{"etc", "hostname", "bin", "abs", "loop1", "dangling", "dotdot", "var", "lib", "up", "rel",
		"run", "status", "runfile", "self", "deep", "a", "b", "c", "back", "..", ".", "", "netdata", "cloud.d",
		"registry", "id", "usr", "hello", "chain1", "chain30", "missing"}
	paths = append(paths, randomPaths(t, g, rand.New(rand.NewPCG(1, 2)), vocab, 3000, 7)...)
	mismatches := 0
	stats := map[string]int{}
	for _, p := range paths {
		for _, follow := range []bool{true, false} {
			want := kernelResolve(rootFD, root, p, follow)
			got, _ := deadline.Call(t, fmt.Sprintf("resolve(%q, follow=%t)", p, follow), func() (string, error) {
				return ourResolve(g, m, p, follow), nil
			})
			stats[strings.Fields(want)[0]]++
			if got != want {
				mismatches++
				if mismatches <= 20 {
					t.Errorf("%q follow=%t: guest %s, Linux %s", p, follow, got, want)
				}
			}
		}
	}
	if mismatches > 0 {
		t.Fatalf("%d of %d resolutions differ from Linux", mismatches, 2*len(paths))
	}
	t.Logf("outcomes (Linux = guest): %v", stats)
}

// randomPaths generates n guest paths of up to maxLen components: mostly
// names that exist where the walk has got to (so that paths go deep),
// sometimes a name from vocab (links, "..", ".", "", missing names).
func randomPaths(tb testing.TB, g *Guest, rng *rand.Rand, vocab []string, n, maxLen int) []string {
	tb.Helper()
	var out []string
	for range n {
		var parts []string
		cur := "/"
		for range 1 + rng.IntN(maxLen) {
			name := vocab[rng.IntN(len(vocab))]
			if rng.IntN(10) < 7 {
				ents, err := deadline.Call(tb, "ReadDir("+cur+")", func() ([]fs.DirEntry, error) { return g.ReadDir(cur) })
				if err == nil && len(ents) > 0 {
					name = ents[rng.IntN(len(ents))].Name
				}
			}
			parts = append(parts, name)
			p := "/" + strings.Join(parts, "/")
			if t, err := deadline.Call(tb, "resolve("+p+")", func() (target, error) { return g.resolve(p, true) }); err == nil {
				cur = t.guestPath
			}
		}
		out = append(out, "/"+strings.Join(parts, "/"))
	}
	return out
}
