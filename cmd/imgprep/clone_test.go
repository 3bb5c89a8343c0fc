package main

// Acceptance tests of imgprep clone and audit, in-process on the real
// stack, judged by qemu-img (check, info, compare, convert) and debugfs.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/audit"
	"github.com/imgprep/imgprep/pkg/clone"
	"github.com/imgprep/imgprep/pkg/sysprep"
)

// runReal runs imgprep in-process on the real disk stack, with stdin.
func runReal(tb testing.TB, stdin string, args ...string) cliResult {
	tb.Helper()
	var out, errOut bytes.Buffer
	code := run(append([]string{"imgprep"}, args...), env{stdout: &out, stderr: &errOut, stdin: strings.NewReader(stdin),
		backend: sysprep.Stack{}, recover: sysprep.Recover})
	return cliResult{code, out.String(), errOut.String()}
}

func mustRun(tb testing.TB, wantCode int, args ...string) cliResult {
	tb.Helper()
	r := runReal(tb, "", args...)
	if r.code != wantCode {
		tb.Fatalf("imgprep %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, wantCode, r.stdout, r.stderr)
	}
	return r
}

func readManifest(tb testing.TB, p string) clone.Manifest {
	tb.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		tb.Fatal(err)
	}
	var m clone.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		tb.Fatalf("manifest %s: %v", p, err)
	}
	return m
}

// guestCat reads a file of the whole-disk ext4 of a disk-none clone with
// debugfs (qcow2 converted to raw by qemu-img first).
func guestCat(tb testing.TB, img, p string) string {
	tb.Helper()
	b, ok := oracle.DebugfsCat(tb, rawOf(tb, img), p)
	if !ok {
		tb.Fatalf("debugfs finds no %s in %s", p, img)
	}
	return string(b)
}

func blocks(tb testing.TB, p string) int64 {
	tb.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		tb.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Blocks * 512
}

func TestAcceptanceLinkedCloneLeavesTheTemplateBitIdentical(t *testing.T) {
	oracle.Require(t, "qemu-img")
	oracle.Require(t, "debugfs")
	tmpl := fixture.Path(t, "disk-none.qcow2")
	dir := filepath.Dir(tmpl)
	before := fixture.SHA256(t, tmpl)
	a, b := filepath.Join(dir, "a.qcow2"), filepath.Join(dir, "b.qcow2")
	man := filepath.Join(dir, "clones.json")
	r := mustRun(t, 0, "clone", "--linked", "--manifest", man, tmpl, a, b)
	if fixture.SHA256(t, tmpl) != before {
		t.Fatalf("the template changed")
	}
	oracle.QemuImgCheck(t, tmpl, false)
	m := readManifest(t, man)
	if len(m.Clones) != 2 || m.Mode != clone.Linked {
		t.Fatalf("manifest %+v", m)
	}
	for _, c := range m.Clones {
		oracle.QemuImgCheck(t, c.Path, false)
		if c.BackingFile != "disk-none.qcow2" || c.BackingFormat != "qcow2" || !strings.Contains(strings.Join(c.Operations, ","), "machine-id") {
			t.Fatalf("manifest entry %+v", c)
		}
		if !strings.Contains(r.stdout, c.Path+" (qcow2): linked clone of") {
			t.Errorf("no line for %s:\n%s", c.Path, r.stdout)
		}
		// The default operations ran in the clone: its machine-id is
		// empty, the template's is not.
		if got := guestCat(t, c.Path, "/etc/machine-id"); got != "" {
			t.Errorf("%s: machine-id %q after sysprep", c.Path, got)
		}
	}
	if got := guestCat(t, tmpl, "/etc/machine-id"); got == "" {
		t.Fatalf("the template's machine-id was emptied")
	}
}

func TestAcceptanceFullCloneReadsAsQemuImgConvert(t *testing.T) {
	oracle.Require(t, "qemu-img")
	for _, format := range []string{"qcow2", "raw"} {
		t.Run(format, func(t *testing.T) {
			tmpl := fixture.Path(t, "disk-gpt.qcow2")
			before := fixture.SHA256(t, tmpl)
			dir := t.TempDir()
			dest := filepath.Join(dir, "full."+format)
			mustRun(t, 0, "clone", "--full", "--no-sysprep", "--output-format", format, tmpl, dest)
			ref := filepath.Join(dir, "ref."+format)
			if _, errOut, code := oracle.Run(t, "qemu-img", "convert", "-U", "-O", format, tmpl, ref); code != 0 {
				t.Fatal(errOut)
			}
			oracle.QemuImgCompare(t, dest, ref)
			if format == "qcow2" {
				oracle.QemuImgCheck(t, dest, false)
			}
			// st_blocks also counts the host filesystem's extent tree:
			// one block of slack.
			if got, want := blocks(t, dest), blocks(t, ref); got > want+4096 {
				t.Fatalf("the clone allocates %d bytes, qemu-img convert's output %d", got, want)
			}
			if fixture.SHA256(t, tmpl) != before {
				t.Fatalf("the template changed")
			}
		})
	}
}

func TestAcceptanceTenClonesWithIdentityPassAudit(t *testing.T) {
	oracle.Require(t, "qemu-img")
	oracle.Require(t, "debugfs")
	tmpl := fixture.Path(t, "disk-none.qcow2")
	dir := filepath.Dir(tmpl)
	man := filepath.Join(dir, "m.json")
	r := mustRun(t, 0, "clone", "--linked", "--count", "10", "--name-pattern", filepath.Join(dir, "web-{n}.qcow2"),
		"--machine-id", "random", "--hostname-pattern", "web-{n}", "--manifest", man, "--json", tmpl)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 11 || !strings.HasPrefix(lines[10], `{"summary":`) {
		t.Fatalf("--json printed %d lines:\n%s", len(lines), r.stdout)
	}
	m := readManifest(t, man)
	if len(m.Clones) != 10 {
		t.Fatalf("manifest has %d clones", len(m.Clones))
	}
	var paths []string
	ids, names := map[string]bool{}, map[string]bool{}
	for _, c := range m.Clones {
		paths = append(paths, c.Path)
		n := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(c.Path), "web-"), ".qcow2")
		if c.Hostname != "web-"+n {
			t.Errorf("%s: hostname %q", c.Path, c.Hostname)
		}
		// Confirmed by debugfs, not by imgprep's own reader.
		if got := guestCat(t, c.Path, "/etc/machine-id"); got != c.MachineID+"\n" {
			t.Errorf("%s: debugfs reads machine-id %q, manifest %q", c.Path, got, c.MachineID)
		}
		if got := guestCat(t, c.Path, "/etc/hostname"); got != c.Hostname+"\n" {
			t.Errorf("%s: debugfs reads hostname %q, manifest %q", c.Path, got, c.Hostname)
		}
		if hosts := guestCat(t, c.Path, "/etc/hosts"); !strings.Contains(hosts, "127.0.1.1\t"+c.Hostname+"\n") {
			t.Errorf("%s: /etc/hosts %q", c.Path, hosts)
		}
		ids[c.MachineID], names[c.Hostname] = true, true
	}
	if len(ids) != 10 || len(names) != 10 {
		t.Fatalf("%d distinct machine IDs, %d host names", len(ids), len(names))
	}
	a := mustRun(t, 0, append([]string{"audit", "--json"}, paths...)...)
	var rep audit.Report
	if err := json.Unmarshal([]byte(a.stdout), &rep); err != nil {
		t.Fatalf("audit --json: %v\n%s", err, a.stdout)
	}
	if rep.Shared != 0 || len(rep.Clusters) != 0 || rep.Inspected != 10 {
		t.Fatalf("clones share identities: %+v", rep)
	}
	for _, g := range rep.Groups {
		if g.Kind != audit.FilesystemUUID || g.Severity != audit.Warning {
			t.Fatalf("unexpected shared %s %s (%s)", g.Kind, g.Value, g.Severity)
		}
	}
	// Linked clones keep the template's filesystem UUIDs: --strict
	// counts that.
	s := mustRun(t, 1, append([]string{"audit", "--strict"}, paths...)...)
	if !strings.Contains(s.stdout, "error: filesystem-uuid 0a1b2c3d-0000-4000-8000-000000000001 shared by 10 images") {
		t.Fatalf("audit --strict:\n%s", s.stdout)
	}
}

func TestAcceptanceTenCopiesOfOneImageAreOneGroup(t *testing.T) {
	tmpl := fixture.Path(t, "disk-none.qcow2")
	data, err := os.ReadFile(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var paths []string
	for i := 1; i <= 10; i++ {
		p := filepath.Join(dir, fmt.Sprintf("copy-%02d.qcow2", i))
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	r := mustRun(t, 1, append([]string{"audit", "-j", "3"}, paths...)...)
	for _, want := range []string{"error: machine-id ", "error: netdata-guid ", "error: ssh-host-key ", "shared by 10 images",
		"warning: hostname template shared by 10 images", "group 1: 10 images"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("audit output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "group 2:") || !strings.Contains(r.stderr, "audit failed") {
		t.Errorf("output:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
	r = mustRun(t, 1, append([]string{"audit", "--json"}, paths...)...)
	var rep audit.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Clusters) != 1 || len(rep.Clusters[0].Images) != 10 {
		t.Fatalf("clusters %+v", rep.Clusters)
	}
	one := mustRun(t, 0, "audit", paths[0])
	if !strings.Contains(one.stdout, "result: 0 shared identities, 0 warnings") {
		t.Fatalf("one image:\n%s", one.stdout)
	}
}

func TestAcceptanceTemplateProtection(t *testing.T) {
	oracle.Require(t, "qemu-img")
	tests := []struct {
		name      string
		otherDir  bool
		args      []string
		wantCode  int
		protected bool
	}{
		{"a linked clone beside it: refused", false, nil, 1, true},
		{"a linked clone in --clones-dir: refused", true, []string{"--clones-dir", "CLONES"}, 1, true},
		{"--dry-run writes nothing: allowed", false, []string{"--dry-run"}, 0, false},
		{"--force: written", false, []string{"--force"}, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tmpl := fixture.Path(t, "disk-none.qcow2")
			clonesDir := filepath.Dir(tmpl)
			if tc.otherDir {
				clonesDir = t.TempDir()
			}
			cl := filepath.Join(clonesDir, "c.qcow2")
			mustRun(t, 0, "clone", "--linked", "--no-sysprep", tmpl, cl)
			before := fixture.SHA256(t, tmpl)
			args := []string{"sysprep"}
			for _, a := range tc.args {
				args = append(args, strings.ReplaceAll(a, "CLONES", clonesDir))
			}
			r := mustRun(t, tc.wantCode, append(args, tmpl)...)
			if tc.protected {
				if fixture.SHA256(t, tmpl) != before {
					t.Fatalf("the protected template changed")
				}
				for _, want := range []string{"backing file of linked clones", cl, "--force"} {
					if !strings.Contains(r.stderr, want) {
						t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
					}
				}
			}
			if tc.name == "--force: written" && fixture.SHA256(t, tmpl) == before {
				t.Fatalf("--force did not write")
			}
			if strings.Contains(tc.name, "dry-run") && fixture.SHA256(t, tmpl) != before {
				t.Fatalf("a dry run wrote")
			}
		})
	}
	// Without --clones-dir a clone elsewhere is not known: the template
	// is written (documented).
	tmpl := fixture.Path(t, "disk-none.qcow2")
	// A claim token in the environment does not trouble --no-sysprep.
	t.Setenv("IMGPREP_NETDATA_CLAIM_TOKEN", "SECRET-CLAIM")
	mustRun(t, 0, "clone", "--linked", "--no-sysprep", tmpl, filepath.Join(t.TempDir(), "far.qcow2"))
	mustRun(t, 0, "sysprep", "-q", tmpl)
}

func TestAcceptanceFailedCloneIsRemovedAndTheOthersGoOn(t *testing.T) {
	tmpl := fixture.Path(t, "disk-none.qcow2")
	dir := filepath.Dir(tmpl)
	good := filepath.Join(dir, "good.qcow2")
	bad := filepath.Join(dir, "missing-dir", "bad.qcow2")
	exists := filepath.Join(dir, "exists.qcow2")
	os.WriteFile(exists, []byte("keep"), 0o644)
	r := mustRun(t, 1, "clone", "--full", "-j", "1", tmpl, bad, good, exists)
	if _, err := os.Stat(good); err != nil {
		t.Fatalf("the good clone is missing: %v", err)
	}
	if _, err := os.Stat(bad); err == nil {
		t.Fatalf("the failed clone's file exists")
	}
	if b, _ := os.ReadFile(exists); string(b) != "keep" {
		t.Fatalf("an existing file was overwritten")
	}
	if !strings.Contains(r.stderr, "2 of 3 clones failed:") || !strings.Contains(r.stderr, bad) || !strings.Contains(r.stderr, "already exists") {
		t.Fatalf("stderr:\n%s", r.stderr)
	}
	// A template without an OS: every clone's sysprep fails, every
	// partial file is removed.
	blank := filepath.Join(dir, "blank.raw")
	os.WriteFile(blank, make([]byte, 1<<20), 0o644)
	mustRun(t, 1, "clone", "--linked", blank, filepath.Join(dir, "x.qcow2"), filepath.Join(dir, "y.qcow2"))
	for _, p := range []string{"x.qcow2", "y.qcow2"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err == nil {
			t.Fatalf("%s left behind", p)
		}
	}
}

func TestGoldenCloneAndAudit(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
	}{
		{"clone-no-template", []string{"clone"}, 2},
		{"clone-no-dest", []string{"clone", "template.qcow2"}, 2},
		{"clone-linked-and-full", []string{"clone", "--linked", "--full", "template.qcow2", "a.qcow2"}, 2},
		{"clone-linked-raw", []string{"clone", "--linked", "--output-format", "raw", "template.qcow2", "a.qcow2"}, 2},
		{"clone-bad-machine-id", []string{"clone", "--machine-id", "0123", "template.qcow2", "a.qcow2"}, 2},
		{"clone-bad-hostname-pattern", []string{"clone", "--hostname-pattern", "web_{n}", "template.qcow2", "a.qcow2"}, 2},
		{"clone-pattern-without-n", []string{"clone", "--count", "3", "--name-pattern", "web.qcow2", "template.qcow2"}, 2},
		{"clone-count-and-dests", []string{"clone", "--count", "2", "--name-pattern", "w{n}.qcow2", "template.qcow2", "a.qcow2"}, 2},
		{"clone-dest-is-template", []string{"clone", "template.qcow2", "template.qcow2"}, 2},
		{"clone-no-sysprep-with-operations", []string{"clone", "--no-sysprep", "--enable", "machine-id", "template.qcow2", "a.qcow2"}, 2},
		{"clone-no-sysprep-with-customization", []string{"clone", "--no-sysprep", "--write", "/etc/motd:hi", "template.qcow2", "a.qcow2"}, 2},
		{"clone-mode-and-random-id", []string{"clone", "--machine-id", "random", "--machine-id-mode", "uninitialized", "template.qcow2", "a.qcow2"}, 2},
		{"clone-hostname-twice", []string{"clone", "--hostname", "x", "--hostname-pattern", "w{n}", "template.qcow2", "a.qcow2"}, 2},
		{"clone-rooms-without-token", []string{"clone", "--netdata-claim-rooms", "r1", "template.qcow2", "a.qcow2"}, 2},
		{"audit-no-image", []string{"audit"}, 2},
		{"audit-one", []string{"audit", "template.qcow2"}, 0},
		{"audit-json", []string{"audit", "--json", "template.qcow2", "other.raw"}, 0},
		{"audit-unreadable", []string{"audit", "-j", "1", "template.qcow2", "empty.raw", "missing.qcow2"}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, memBackend(), tc.args...)
			if r.code != tc.wantCode {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tc.wantCode, r.stdout, r.stderr)
			}
			golden(t, tc.name, normalise("$ imgprep "+strings.Join(tc.args, " ")+"\n--- stdout\n"+r.stdout+"--- stderr\n"+r.stderr, ""))
		})
	}
}

func TestAcceptanceCloneClaimsAndCustomizesEachClone(t *testing.T) {
	oracle.Require(t, "debugfs")
	tmpl := fixture.Path(t, "disk-none.qcow2")
	dir := filepath.Dir(tmpl)
	before := fixture.SHA256(t, tmpl)
	dest := filepath.Join(dir, "c.qcow2")
	r := mustRun(t, 0, "clone", "--linked", "--netdata-claim-token", "SECRET-CLAIM", "--netdata-claim-rooms", "r1",
		"--machine-id-mode", "uninitialized", "--write", "/etc/motd:clone of a template", tmpl, dest)
	if strings.Contains(r.stdout+r.stderr, "SECRET-CLAIM") {
		t.Fatalf("the claim token leaked into the output")
	}
	if fixture.SHA256(t, tmpl) != before {
		t.Fatalf("the template changed")
	}
	if got := guestCat(t, dest, "/etc/motd"); got != "clone of a template" {
		t.Errorf("/etc/motd %q", got)
	}
	if got := guestCat(t, dest, "/etc/machine-id"); got != "uninitialized\n" {
		t.Errorf("/etc/machine-id %q", got)
	}
	if got := guestCat(t, dest, "/etc/netdata/claim.conf"); !strings.Contains(got, "SECRET-CLAIM") || !strings.Contains(got, "r1") {
		t.Errorf("claim.conf %q", got)
	}
	if _, ok := oracle.DebugfsCat(t, rawOf(t, tmpl), "/etc/motd"); ok {
		t.Errorf("the template got the customization")
	}
}
