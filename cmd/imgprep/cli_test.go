package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/pkg/fs/memfs"
	"github.com/imgprep/imgprep/pkg/image"
	"github.com/imgprep/imgprep/pkg/ops/opstest"
	"github.com/imgprep/imgprep/pkg/sysprep"
	"github.com/imgprep/imgprep/pkg/sysprep/syspreptest"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.golden")

// cliResult is what one in-process run of the CLI produced.
type cliResult struct {
	code           int
	stdout, stderr string
}

// runCLI runs imgprep with args in-process on backend b.
func runCLI(tb testing.TB, b sysprep.Backend, args ...string) cliResult {
	tb.Helper()
	var out, errOut bytes.Buffer
	rec := func(string, image.JournalOptions) (bool, error) { return false, nil }
	code := run(append([]string{"imgprep"}, args...), env{stdout: &out, stderr: &errOut, backend: b, recover: rec})
	return cliResult{code, out.String(), errOut.String()}
}

var durations = []struct {
	re   *regexp.Regexp
	repl string
}{
	{regexp.MustCompile(`in [0-9.]+ (ms|s)\b`), "in D ms"},
	{regexp.MustCompile(`"duration_ms":[0-9.e+-]+`), `"duration_ms":0`},
}

// stagedBytes are normalised in the goldens of the real stack, whose
// allocation choices belong to the layers below.
var stagedBytes = []struct {
	re   *regexp.Regexp
	repl string
}{
	{regexp.MustCompile(`"bytes_staged":[0-9]+`), `"bytes_staged":N`},
	{regexp.MustCompile(`bytes (would be )?written: [0-9]+`), "bytes ${1}written: N"},
}

// normalise removes what changes from run to run: durations and the
// temporary directory.
func normalise(s, tmp string) string {
	for _, d := range durations {
		s = d.re.ReplaceAllString(s, d.repl)
	}
	if tmp != "" {
		s = strings.ReplaceAll(s, tmp, "TMP")
	}
	return s
}

// golden compares got with testdata/golden/NAME.golden, or rewrites it
// with -update.
func golden(tb testing.TB, name, got string) {
	tb.Helper()
	p := filepath.Join("testdata", "golden", name+".golden")
	if *update {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			tb.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		tb.Fatalf("%v (run go test ./cmd/imgprep -update)", err)
	}
	if string(want) != got {
		tb.Fatalf("output differs from %s (rerun with -update if intended)\n--- got\n%s\n--- want\n%s", p, got, want)
	}
}

// memBackend is a two-image in-memory backend: template.qcow2 holds the
// populated guest, empty.raw a disk without an OS.
func memBackend() *syspreptest.Backend {
	info := sysprep.ImageInfo{
		Format: "qcow2", VirtualSize: 64 << 20,
		Chain: []sysprep.Layer{{Path: "template.qcow2", Format: "qcow2", VirtualSize: 64 << 20}},
		Table: "gpt", DiskUUID: "11111111-2222-4333-8444-000000000000",
		Partitions: []sysprep.PartitionInfo{
			{Number: 1, Start: 1 << 20, Size: 8 << 20, Type: "c12a7328-f81f-11d2-ba4b-00a0c93ec93b", Name: "ESP", UUID: "11111111-2222-4333-8444-000000000001"},
			{Number: 2, Start: 9 << 20, Size: 40 << 20, Type: "0fc63daf-8483-4772-8e79-3d69d8477de4", Name: "root", UUID: "11111111-2222-4333-8444-000000000002"},
		},
		Filesystems: []sysprep.FilesystemInfo{
			{Desc: "vfat on partition 1", Partition: 1, Type: "vfat", UUID: "7A3B-1C2D", Label: "ESP", Why: "imgprep cannot write vfat"},
			{Desc: "ext4 on partition 2", Partition: 2, Type: "ext4", UUID: "0a1b2c3d-0000-4000-8000-000000000001", Supported: true, Writable: true},
		},
	}
	g := syspreptest.Guest{Root: "ext4 on partition 2", FS: opstest.Populated(),
		OSRelease: map[string]string{"PRETTY_NAME": "Debian GNU/Linux 12 (bookworm)", "ID": "debian", "VERSION_ID": "12"},
		Mounts: []sysprep.MountInfo{{Point: "/", Filesystem: "ext4 on partition 2", Spec: "UUID=0a1b2c3d-0000-4000-8000-000000000001"},
			{Point: "/boot/efi", Filesystem: "vfat on partition 1", Spec: "PARTUUID=11111111-2222-4333-8444-000000000001"}}}
	g.FS.Name = "ext4 on partition 2"
	return &syspreptest.Backend{Images: map[string]*syspreptest.Image{
		"template.qcow2": {Info: info, Guests: []syspreptest.Guest{g}},
		"empty.raw":      {Info: sysprep.ImageInfo{Format: "raw", Table: "none"}},
		"other.raw":      {Info: sysprep.ImageInfo{Format: "raw", Table: "none"}, Guests: []syspreptest.Guest{{Root: "ext4", FS: memfs.New().AddFile("/etc/machine-id", "", 0o444)}}},
	}}
}

func TestGolden(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
	}{
		{"list-operations", []string{"list-operations"}, 0},
		{"list-operations-json", []string{"list-operations", "--json"}, 0},
		{"sysprep", []string{"sysprep", "template.qcow2"}, 0},
		{"sysprep-verbose-claim", []string{"sysprep", "-v", "--netdata-claim-token", "SECRET-CLAIM", "--netdata-claim-rooms", "r1", "template.qcow2"}, 0},
		{"sysprep-dry-run", []string{"sysprep", "--dry-run", "template.qcow2"}, 0},
		{"sysprep-json", []string{"sysprep", "-j", "1", "--json", "template.qcow2", "empty.raw"}, 1},
		{"sysprep-one-fails", []string{"sysprep", "-j", "1", "empty.raw", "template.qcow2", "other.raw"}, 1},
		{"sysprep-quiet", []string{"sysprep", "-q", "template.qcow2"}, 0},
		{"sysprep-unknown-operation", []string{"sysprep", "--operations", "defaults,bogus", "template.qcow2"}, 2},
		{"sysprep-no-image", []string{"sysprep"}, 2},
		{"sysprep-bad-mode", []string{"sysprep", "--machine-id-mode", "random", "template.qcow2"}, 2},
		{"sysprep-rooms-without-token", []string{"sysprep", "--netdata-claim-rooms", "r1", "template.qcow2"}, 2},
		{"inspect", []string{"inspect", "template.qcow2"}, 0},
		{"inspect-json", []string{"inspect", "--json", "template.qcow2"}, 0},
		{"recover", []string{"recover", "template.qcow2"}, 0},
		{"unknown-flag", []string{"sysprep", "--bogus", "template.qcow2"}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, memBackend(), tc.args...)
			if r.code != tc.wantCode {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tc.wantCode, r.stdout, r.stderr)
			}
			for _, secret := range []string{"SECRET-CLAIM", "SECRET-TOKEN", "PRIVATE KEY"} {
				if strings.Contains(r.stdout+r.stderr, secret) {
					t.Errorf("output leaks %q", secret)
				}
			}
			golden(t, tc.name, normalise("$ imgprep "+strings.Join(tc.args, " ")+"\n--- stdout\n"+r.stdout+"--- stderr\n"+r.stderr, ""))
		})
	}
}

func TestSysprepThenInspectShowsIdentityGone(t *testing.T) {
	b := memBackend()
	if r := runCLI(t, b, "sysprep", "-q", "template.qcow2"); r.code != 0 {
		t.Fatalf("sysprep: %+v", r)
	}
	r := runCLI(t, b, "inspect", "template.qcow2")
	for _, want := range []string{"/etc/machine-id: empty", "netdata guid: -", "netdata claimed_id: -", "netdata claim.conf: present"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("inspect after sysprep lacks %q:\n%s", want, r.stdout)
		}
	}
}
