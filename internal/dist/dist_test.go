package dist

import (
	"debug/buildinfo"
	"debug/elf"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
)

// makeIn runs make with args in the module root and fails the test on a
// non-zero exit; it returns make's output.
func makeIn(t *testing.T, args ...string) string {
	t.Helper()
	mk := oracle.Require(t, "make")
	cmd := exec.Command(mk, append([]string{"-C", fixture.Root(t)}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// describe is the version make stamps: git describe's output.
func describe(t *testing.T) string {
	t.Helper()
	git := oracle.Require(t, "git")
	cmd := exec.Command(git, "describe", "--tags", "--always", "--dirty")
	cmd.Dir = fixture.Root(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git describe: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// checkStatic fails the test unless the ELF file at path is statically
// linked: no program interpreter (PT_INTERP) and no shared library it
// needs (DT_NEEDED), as file(1) reports "statically linked".
func checkStatic(t *testing.T, path string, machine elf.Machine) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	defer f.Close()
	if f.Machine != machine {
		t.Errorf("%s: machine %v, want %v", path, f.Machine, machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("%s: has a %v program header: dynamically linked", path, p.Type)
		}
	}
	needed, err := f.DynString(elf.DT_NEEDED)
	if err != nil {
		t.Fatalf("%s: reading the dynamic section: %v", path, err)
	}
	if len(needed) > 0 {
		t.Errorf("%s: needs shared libraries %v", path, needed)
	}
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if settings["CGO_ENABLED"] != "0" || settings["-trimpath"] != "true" {
		t.Errorf("%s: built with CGO_ENABLED=%q -trimpath=%q, want 0 and true",
			path, settings["CGO_ENABLED"], settings["-trimpath"])
	}
}

// TestBuildIsStatic: make build gives a static binary (CGO_ENABLED=0,
// -trimpath, no ELF interpreter, no shared libraries), so that it runs
// anywhere, FROM scratch included.
func TestBuildIsStatic(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "imgprep")
	makeIn(t, "build", "BIN="+bin)
	checkStatic(t, bin, elf.EM_X86_64)
}

// TestBuildStampsTheVersion: make build stamps git describe's output as
// the version imgprep --version (and -V) prints, and VERSION= overrides it.
func TestBuildStampsTheVersion(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "imgprep")
	for _, tc := range []struct{ arg, want string }{
		{"", describe(t)},
		{"VERSION=v9.8.7-test", "v9.8.7-test"},
	} {
		args := []string{"build", "BIN=" + bin}
		if tc.arg != "" {
			args = append(args, tc.arg)
		}
		makeIn(t, args...)
		checkStatic(t, bin, elf.EM_X86_64)
		for _, flag := range []string{"--version", "-V"} {
			out, err := exec.Command(bin, flag).CombinedOutput()
			if err != nil {
				t.Fatalf("make %s; imgprep %s: %v\n%s", strings.Join(args, " "), flag, err, out)
			}
			if got, want := string(out), "imgprep "+tc.want+"\n"; got != want {
				t.Errorf("make %s; imgprep %s printed %q, want %q", strings.Join(args, " "), flag, got, want)
			}
		}
	}
}
