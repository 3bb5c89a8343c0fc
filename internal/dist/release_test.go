package dist

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
)

// TestReleaseBuildsTarballsWithChecksums: make release writes a tarball
// per platform (linux/amd64, linux/arm64) holding a static binary for that
// machine, LICENSE and README.md, and SHA256SUMS that sha256sum -c
// accepts; a second run gives the same bytes.
func TestReleaseBuildsTarballsWithChecksums(t *testing.T) {
	const version = "v1.2.3-test"
	dir := t.TempDir()
	makeIn(t, "release", "VERSION="+version, "DIST="+dir)

	platforms := []struct {
		arch    string
		machine elf.Machine
	}{{"amd64", elf.EM_X86_64}, {"arm64", elf.EM_AARCH64}}
	want := []string{"SHA256SUMS"}
	for _, p := range platforms {
		want = append(want, fmt.Sprintf("imgprep-%s-linux-%s.tar.gz", version, p.arch))
	}
	slices.Sort(want)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if !slices.Equal(got, want) {
		t.Fatalf("make release wrote %v, want %v", got, want)
	}

	// SHA256SUMS: sha256sum's own check, and our hash of each tarball.
	cmd := exec.Command(oracle.Require(t, "sha256sum"), "-c", "SHA256SUMS")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sha256sum -c SHA256SUMS: %v\n%s", err, out)
	}
	sums, err := os.ReadFile(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(sums)), "\n")
	if len(lines) != len(platforms) {
		t.Fatalf("SHA256SUMS has %d lines, want %d:\n%s", len(lines), len(platforms), sums)
	}
	for _, line := range lines {
		sum, name, ok := strings.Cut(line, "  ")
		if !ok {
			t.Fatalf("SHA256SUMS line %q is not sha256sum's format", line)
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("SHA256SUMS names %q: %v", name, err)
		}
		if h := sha256.Sum256(b); hex.EncodeToString(h[:]) != sum {
			t.Errorf("SHA256SUMS says %s for %s, it is %x", sum, name, h)
		}
		if !strings.Contains(string(out), name+": OK") {
			t.Errorf("sha256sum -c did not check %s:\n%s", name, out)
		}
	}

	license, err := os.ReadFile(filepath.Join(fixture.Root(t), "LICENSE"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range platforms {
		top := fmt.Sprintf("imgprep-%s-linux-%s", version, p.arch)
		files := untar(t, filepath.Join(dir, top+".tar.gz"))
		names := slices.Sorted(func(yield func(string) bool) {
			for n := range files {
				if !yield(n) {
					return
				}
			}
		})
		wantNames := []string{top + "/", top + "/LICENSE", top + "/README.md", top + "/imgprep"}
		if !slices.Equal(names, wantNames) {
			t.Errorf("%s.tar.gz holds %v, want %v", top, names, wantNames)
			continue
		}
		if !bytes.Equal(files[top+"/LICENSE"].data, license) {
			t.Errorf("%s.tar.gz: LICENSE differs from the repository's", top)
		}
		bin := files[top+"/imgprep"]
		if bin.mode != 0o755 {
			t.Errorf("%s.tar.gz: imgprep has mode %o, want 755", top, bin.mode)
		}
		path := filepath.Join(t.TempDir(), "imgprep")
		if err := os.WriteFile(path, bin.data, 0o755); err != nil {
			t.Fatal(err)
		}
		checkStatic(t, path, p.machine)
		if p.machine == elf.EM_X86_64 {
			if out, err := exec.Command(path, "--version").CombinedOutput(); err != nil || string(out) != "imgprep "+version+"\n" {
				t.Errorf("the released amd64 imgprep --version: %v: %q, want %q", err, out, "imgprep "+version+"\n")
			}
		}
	}

	// Reproducible: the same commit and version give the same tarballs.
	again := t.TempDir()
	makeIn(t, "release", "VERSION="+version, "DIST="+again)
	sums2, err := os.ReadFile(filepath.Join(again, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sums, sums2) {
		t.Errorf("a second make release differs:\n%s\nthen\n%s", sums, sums2)
	}
}

type tarFile struct {
	mode int64
	data []byte
}

// untar reads a .tar.gz into memory, by entry name.
func untar(t *testing.T, path string) map[string]tarFile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	tr := tar.NewReader(zr)
	files := map[string]tarFile{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s: %s is owned by %d:%d, want 0:0", path, h.Name, h.Uid, h.Gid)
		}
		data, err := io.ReadAll(io.LimitReader(tr, 64<<20))
		if err != nil {
			t.Fatalf("%s: %s: %v", path, h.Name, err)
		}
		files[h.Name] = tarFile{mode: h.Mode, data: data}
	}
}
