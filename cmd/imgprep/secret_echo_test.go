package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/pkg/fs/memfs"
	"github.com/imgprep/imgprep/pkg/sysprep"
	"github.com/imgprep/imgprep/pkg/sysprep/syspreptest"
)

// Finding 9: TestWriteAndAppendLineContentIsNeverEchoed: the content of
// --write and --append-line (a "password=…" line) appears in no report,
// text or --json, and in no error, whether the step succeeds, fails in
// the guest, or fails to parse; the path and the byte count are shown
// instead.
func TestWriteAndAppendLineContentIsNeverEchoed(t *testing.T) {
	const secret = "password=Hunter2-Zq9"
	cases := []struct {
		name  string
		args  []string
		code  int
		shown string // what names the step instead of its content
	}{
		{"--write succeeds, --json", []string{"--json", "--operations", "machine-id", "--write", "/etc/flag:" + secret}, 0, "/etc/flag"},
		{"--append-line succeeds, --json", []string{"--json", "--operations", "machine-id", "--append-line", "/etc/flag:" + secret}, 0, "/etc/flag"},
		{"--write succeeds, text", []string{"--operations", "machine-id", "--write", "/etc/flag:" + secret}, 0, "/etc/flag"},
		{"--write dry run, --json", []string{"--json", "--dry-run", "--operations", "machine-id", "--write", "/etc/flag:" + secret}, 0, "/etc/flag"},
		{"--write into a missing directory, --json", []string{"--json", "--operations", "machine-id", "--write", "/no/such/dir/flag:" + secret}, -1, "/no/such/dir/flag"},
		{"--append-line onto a directory, --json", []string{"--json", "--operations", "machine-id", "--append-line", "/etc:" + secret}, -1, "/etc"},
		{"--append-line onto a directory, text", []string{"--operations", "machine-id", "--append-line", "/etc:" + secret}, -1, "/etc"},
		{"--write with a relative path", []string{"--write", "etc/flag:" + secret}, -1, "etc/flag"},
		{"--append-line with a relative path, --json", []string{"--json", "--append-line", "flag:" + secret}, -1, "flag"},
		{"--password with an unknown selector", []string{"--password", "alice:" + secret}, -1, "alice"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			img := fixture.Path(t, "catalog-disk.raw")
			r := runCLI(t, sysprep.Stack{}, append(append([]string{"sysprep"}, c.args...), img)...)
			if (c.code == 0) != (r.code == 0) {
				t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
			}
			for _, out := range []string{r.stdout, r.stderr} {
				for _, part := range []string{secret, "Hunter2", "Zq9"} {
					if strings.Contains(out, part) {
						t.Fatalf("the content (%q) is echoed:\n%s", part, out)
					}
				}
			}
			all := r.stdout + r.stderr
			if !strings.Contains(all, c.shown) {
				t.Fatalf("the step's path %s is not named:\nstdout: %s\nstderr: %s", c.shown, r.stdout, r.stderr)
			}
		})
	}
	// clone takes the same options.
	img := fixture.Path(t, "catalog-disk.raw")
	dest := filepath.Join(t.TempDir(), "clone.qcow2")
	r := runCLI(t, sysprep.Stack{}, "clone", "--full", "--write", "etc/flag:"+secret, img, dest)
	if r.code == 0 || strings.Contains(r.stdout+r.stderr, "Hunter2") || !strings.Contains(r.stderr, "etc/flag") {
		t.Fatalf("clone with a bad --write: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	t.Logf("command lines tried: %d, content echoed by none", len(cases)+1)
}

// Finding 9: TestInspectShowsSymlinkedIdentityFilesAsSymlinks: inspect's
// text and --json name a symlinked /etc/hostname, machine-id, Netdata GUID
// and SSH host key as "symlink to X" and never read through them.
func TestInspectShowsSymlinkedIdentityFilesAsSymlinks(t *testing.T) {
	const hash = "$6$saltsalt$CliMustNeverShowThisHash"
	root := memfs.New().
		AddFile("/etc/shadow", "root:"+hash+":19675:0:99999:7:::\n", 0o640).
		AddFile("/etc/ssh/ssh_host_ed25519_key", "-----BEGIN OPENSSH PRIVATE KEY-----\n", 0o600).
		AddSymlink("/etc/hostname", "/etc/shadow").
		AddSymlink("/etc/machine-id", "/etc/shadow").
		AddSymlink("/var/lib/netdata/registry/netdata.public.unique.id", "/etc/shadow").
		AddSymlink("/etc/ssh/ssh_host_ed25519_key.pub", "ssh_host_ed25519_key")
	b := &syspreptest.Backend{Images: map[string]*syspreptest.Image{
		"hostile.raw": {Info: sysprep.ImageInfo{Format: "raw", Table: "none"}, Guests: []syspreptest.Guest{{Root: "ext4", FS: root}}},
	}}
	text := runCLI(t, b, "inspect", "hostile.raw")
	js := runCLI(t, b, "inspect", "--json", "hostile.raw")
	for _, r := range []cliResult{text, js} {
		if r.code != 0 || strings.Contains(r.stdout+r.stderr, "CliMustNeverShowThisHash") || strings.Contains(r.stdout, "root:") {
			t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
		}
	}
	for _, want := range []string{
		"hostname: symlink to /etc/shadow (not followed)",
		"/etc/machine-id: symlink to /etc/shadow (not followed)",
		"netdata guid: symlink to /etc/shadow (not followed)",
		"ssh host key /etc/ssh/ssh_host_ed25519_key.pub: symlink to ssh_host_ed25519_key (not followed)",
	} {
		if !strings.Contains(text.stdout, want) {
			t.Errorf("inspect does not say %q:\n%s", want, text.stdout)
		}
	}
	if !strings.Contains(js.stdout, `{"path":"/etc/hostname","target":"/etc/shadow"}`) {
		t.Errorf("inspect --json does not name the symlink:\n%s", js.stdout)
	}
}
