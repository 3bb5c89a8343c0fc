package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
)

// A command line of these tests: IMG stands for a fresh copy of the
// disk-gpt.qcow2 fixture, DIR for the directory holding it.
const (
	argImage = "IMG"
	argDir   = "DIR"
)

// realLine is one run of imgprep on the real stack in a fresh directory.
type realLine struct {
	r        cliResult
	dir, img string
}

func runOnCopy(t *testing.T, args []string) realLine {
	t.Helper()
	dir := t.TempDir()
	img := fixture.PathIn(t, "disk-gpt.qcow2", dir)
	line := make([]string, len(args))
	for i, a := range args {
		a = strings.ReplaceAll(a, argImage, img)
		line[i] = strings.ReplaceAll(a, argDir, dir)
	}
	return realLine{r: runReal(t, "", line...), dir: dir, img: img}
}

// shown is a run's golden text: its command line and output, the
// directory written DIR.
func (l realLine) shown(args []string) string {
	out := "$ imgprep " + strings.Join(args, " ") + "\n--- stdout\n" + l.r.stdout + "--- stderr\n" + l.r.stderr
	for _, s := range stagedBytes {
		out = s.re.ReplaceAllString(out, s.repl)
	}
	return normalise(out, l.dir)
}

func treeNames(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
		names = append(names, p)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	return names
}

// TestEveryCommandReadsOptionsBeforeAndAfterOperands: every command, on
// the real stack, does the same with its options before its operands as
// after them (the output is the same, and golden); an option after an
// operand never becomes a file name.
func TestEveryCommandReadsOptionsBeforeAndAfterOperands(t *testing.T) {
	tests := []struct {
		name          string
		before, after []string
		code          int
		check         func(t *testing.T, l realLine) // of the run with options after
	}{
		{"sysprep-dry-run", []string{"sysprep", "--operations", "machine-id", "--dry-run", "-v", argImage},
			[]string{"sysprep", argImage, "--operations", "machine-id", "--dry-run", "-v"}, 0, unchanged},
		{"sysprep", []string{"sysprep", "--operation", "machine-id", "--json", argImage},
			[]string{"sysprep", argImage, "--operation", "machine-id", "--json"}, 0, nil},
		{"sysprep-add", []string{"sysprep", "--dryrun", "-a", argImage, "--operations", "ssh-hostkeys"},
			[]string{"sysprep", "-a", argImage, "--operations", "ssh-hostkeys", "--dryrun"}, 0, unchanged},
		{"inspect", []string{"inspect", "--json", argImage}, []string{"inspect", argImage, "--json"}, 0, unchanged},
		{"audit", []string{"audit", "--strict", "-j", "1", argImage}, []string{"audit", argImage, "--strict", "-j", "1"}, 0, unchanged},
		{"clone", []string{"clone", "--linked", "--no-sysprep", argImage, argDir + "/c.qcow2"},
			[]string{"clone", argImage, argDir + "/c.qcow2", "--linked", "--no-sysprep"}, 0, func(t *testing.T, l realLine) {
				if _, err := os.Stat(filepath.Join(l.dir, "c.qcow2")); err != nil {
					t.Error(err)
				}
				if got := len(treeNames(t, l.dir)); got != 3 {
					t.Errorf("clone left %d entries in its directory, want the template and the clone", got-1)
				}
			}},
		{"recover", []string{"recover", "--journal-dir", argDir, argImage}, []string{"recover", argImage, "--journal-dir", argDir}, 0, unchanged},
		{"report-merge", []string{"report", "merge", "--json", argDir + "/r.json"}, []string{"report", "merge", argDir + "/r.json", "--json"}, 0, nil},
		{"list-operations", []string{"-x", "list-operations", "--json"}, []string{"list-operations", "--json", "-x"}, 0, nil},
		{"completion", []string{"-x", "completion", "bash"}, []string{"completion", "bash", "-x"}, 0, nil},
		{"version", []string{"-V", "inspect", argImage}, []string{"inspect", argImage, "-V"}, 0, unchanged},
		{"help", []string{"-x", "help", "sysprep"}, []string{"help", "sysprep", "-x"}, 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var shown [2]string
			for i, args := range [][]string{tc.before, tc.after} {
				l := prepared(t, tc.name, args)
				if l.r.code != tc.code {
					t.Fatalf("imgprep %s: exit %d, want %d\n%s%s", strings.Join(args, " "), l.r.code, tc.code, l.r.stdout, l.r.stderr)
				}
				for _, name := range treeNames(t, l.dir) {
					if strings.HasPrefix(filepath.Base(name), "-") {
						t.Errorf("an option became a file: %s", name)
					}
				}
				if tc.check != nil && i == 1 {
					tc.check(t, l)
				}
				shown[i] = l.shown(nil)
			}
			if shown[0] != shown[1] {
				t.Errorf("options before and after the operands differ:\n--- before\n%s\n--- after\n%s", shown[0], shown[1])
			}
			l := prepared(t, tc.name, tc.after)
			golden(t, "order-"+tc.name, l.shown(tc.after))
		})
	}
}

// prepared runs args on a fresh copy; report-merge first writes the
// report it merges.
func prepared(t *testing.T, name string, args []string) realLine {
	t.Helper()
	if name != "report-merge" {
		return runOnCopy(t, args)
	}
	dir := t.TempDir()
	img := fixture.PathIn(t, "disk-gpt.qcow2", dir)
	if r := runReal(t, "", "sysprep", "--dry-run", "--json", "--report", dir+"/r.json", img); r.code != 0 {
		t.Fatalf("sysprep --report: %d %s", r.code, r.stderr)
	}
	line := make([]string, len(args))
	for i, a := range args {
		line[i] = strings.ReplaceAll(a, argDir, dir)
	}
	return realLine{r: runReal(t, "", line...), dir: dir, img: img}
}

// unchanged checks that the run left the image as the fixture is.
func unchanged(t *testing.T, l realLine) {
	t.Helper()
	fresh := fixture.Path(t, "disk-gpt.qcow2")
	if fixture.SHA256(t, l.img) != fixture.SHA256(t, fresh) {
		t.Error("the image changed")
	}
}

// usageErrors are command lines with a mistake in each; IMG is an image,
// DIR its directory.
var usageErrors = [][]string{
	{"sysprep", argImage, "--bogus"},
	{"sysprep", "--operations", "ssh-hostkey", argImage},
	{"sysprep", "--enable", "machine-id", "--operations", "netdata", argImage},
	{"sysprep", argImage, "-"},
	{"sysprep", argImage, "-1.qcow2"},
	{"sysprep", "--format", "vmdk", argImage},
	{"sysprep", argImage, "--machine-id-mode", "random"},
	{"sysprep", argImage, "--run-command", "dnf -y update"},
	{"sysprep", argImage, "--install", "nginx"},
	{"sysprep", "--update", argImage},
	{"sysprep", "--selinux-relabel", "--no-selinux-relabel", "--hostname", "h", argImage},
	{"sysprep", "--root-password", "bogus:x", argImage},
	{"sysprep", "-a", argImage, argImage},
	{"sysprep", "-a", argImage, "-a", argImage},
	{"sysprep", argImage, "--jobs", "-1"},
	{"sysprep", argImage, "--shard", "5/3"},
	{"sysprep", "--netdata-claim-rooms", "r1", argImage},
	{"sysprep", "--operations", "machine-id", "--keep-user-accounts", "alice", argImage},
	{"sysprep"},
	{"inspect", argImage, "--format", "vmdk"},
	{"inspect", argImage, "--bogus"},
	{"inspect", argImage, "-"},
	{"audit", argImage, "--jobs", "-1"},
	{"audit", "--bogus", argImage},
	{"clone", argImage, argDir + "/a.qcow2", "--linked", "--full"},
	{"clone", argImage, argImage},
	{"clone", argImage, "--count", "0", "--name-pattern", argDir + "/c{n}.qcow2"},
	{"clone", argImage, argDir + "/b.qcow2", "--run", "/bin/true"},
	{"clone", argImage, argDir + "/b.qcow2", "--hostname-pattern", "web_{n}"},
	{"recover", argImage, argImage},
	{"recover", "--bogus", argImage},
	{"list-operations", argImage},
	{"report", "merge"},
	{"report", "merge", "--bogus", argImage},
	{"completion", "powershellx"},
	{"help", "nosuch"},
	{"help", "sysprep", "inspect"},
	{"sysprepp", argImage},
	{argImage},
	{"--bogus", "sysprep", argImage},
}

// TestUsageErrorsLeaveTheImageByteIdentical: each mistake exits 2 with a
// usage line, leaves the image byte-identical and its directory as it
// was (nothing created), and opens nothing (counted on the in-memory
// backend).
func TestUsageErrorsLeaveTheImageByteIdentical(t *testing.T) {
	var all strings.Builder
	for _, args := range usageErrors {
		l := runOnCopyChecked(t, args)
		all.WriteString(l.shown(args))
	}
	golden(t, "usage-errors", all.String())

	for _, args := range usageErrors {
		b := memBackend()
		line := make([]string, len(args))
		for i, a := range args {
			line[i] = strings.ReplaceAll(strings.ReplaceAll(a, argImage, "template.qcow2"), argDir, t.TempDir())
		}
		r := runCLI(t, b, line...)
		if r.code != exitUsage {
			t.Errorf("in memory: imgprep %s: exit %d, want 2\n%s", strings.Join(args, " "), r.code, r.stderr)
		}
		for name, img := range b.Images {
			if len(img.Opens) != 0 {
				t.Errorf("imgprep %s opened %s", strings.Join(args, " "), name)
			}
		}
	}
}

func runOnCopyChecked(t *testing.T, args []string) realLine {
	t.Helper()
	dir := t.TempDir()
	img := fixture.PathIn(t, "disk-gpt.qcow2", dir)
	sum := fixture.SHA256(t, img)
	before := treeNames(t, dir)
	line := make([]string, len(args))
	for i, a := range args {
		line[i] = strings.ReplaceAll(strings.ReplaceAll(a, argImage, img), argDir, dir)
	}
	l := realLine{r: runReal(t, "", line...), dir: dir, img: img}
	what := "imgprep " + strings.Join(args, " ")
	if l.r.code != exitUsage || !strings.Contains(l.r.stderr, "Run 'imgprep --help'") {
		t.Errorf("%s: exit %d, want 2 with a usage line\n%s%s", what, l.r.code, l.r.stdout, l.r.stderr)
	}
	if fixture.SHA256(t, img) != sum {
		t.Errorf("%s changed the image", what)
	}
	if after := treeNames(t, dir); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Errorf("%s created files: %v", what, after)
	}
	return l
}

// TestCompletionScripts: completion bash|zsh|fish print scripts for
// imgprep that their shells parse (bash -n; zsh and fish when
// installed), and an unknown shell is a usage error.
func TestCompletionScripts(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish"} {
		r := runCLI(t, memBackend(), "completion", sh)
		if r.code != 0 || !strings.Contains(r.stdout, "imgprep") || r.stderr != "" {
			t.Fatalf("completion %s: exit %d, %d bytes\n%s", sh, r.code, len(r.stdout), r.stderr)
		}
		if sh == "fish" {
			if !strings.Contains(r.stdout, "complete -c imgprep") {
				t.Errorf("completion fish completes no imgprep command:\n%s", r.stdout)
			}
		}
		if _, err := exec.LookPath(sh); err != nil && sh != "bash" {
			continue // zsh and fish are optional; bash is not
		}
		f := filepath.Join(t.TempDir(), "c."+sh)
		if err := os.WriteFile(f, []byte(r.stdout), 0o644); err != nil {
			t.Fatal(err)
		}
		check := []string{"-n", f}
		if sh == "fish" {
			check = []string{"--no-execute", f}
		}
		if out, err := exec.Command(oracle.Require(t, sh), check...).CombinedOutput(); err != nil {
			t.Errorf("%s does not parse the completion script: %v\n%s", sh, err, out)
		}
	}
	if r := runCLI(t, memBackend(), "completion"); r.code != exitUsage {
		t.Errorf("completion without a shell: exit %d, want 2", r.code)
	}
}
