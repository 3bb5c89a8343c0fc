package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/pkg/storage"
)

// TestInspectAndAuditDegradeWithNotes: from the command line, inspect and
// audit of an xfs /var, a disk with no OS and an image another process is
// writing succeed (exit 0), show what they read and say in a note what
// they could not or found missing; the images are left as they were.
func TestInspectAndAuditDegradeWithNotes(t *testing.T) {
	dir := t.TempDir()
	varxfs := fixture.PathIn(t, "guest-varxfs.raw", dir)
	xfsroot := fixture.PathIn(t, "guest-xfsroot.raw", dir)
	sums := map[string][32]byte{varxfs: fixture.SHA256(t, varxfs), xfsroot: fixture.SHA256(t, xfsroot)}

	r := runReal(t, "", "inspect", varxfs, xfsroot)
	if r.code != 0 {
		t.Fatalf("inspect: exit %d\n%s", r.code, r.stderr)
	}
	for _, want := range []string{
		"/etc/machine-id: set 4c8ab9d6b1d24a0c9e0f3b2a1c5d7e9f",
		"    mount /var: xfs on partition 2\n",
		"/var/lib/dbus/machine-id: missing",
		xfsroot + ": raw",
		"  note: no operating system found",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("inspect lacks %q:\n%s", want, r.stdout)
		}
	}
	a := runReal(t, "", "audit", varxfs, xfsroot)
	if a.code != 0 || !strings.Contains(a.stdout, "audited 2 images (2 read)") ||
		!strings.Contains(a.stdout, "note: "+xfsroot+": no operating system found") {
		t.Errorf("audit: exit %d\n%s%s", a.code, a.stdout, a.stderr)
	}
	for img, sum := range sums {
		if fixture.SHA256(t, img) != sum {
			t.Errorf("%s changed", img)
		}
	}

	t.Run("an image another process writes", func(t *testing.T) {
		img := fixture.Path(t, "disk-gpt.qcow2")
		w, err := storage.OpenFile(img, storage.OpenOptions{Write: true})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		r := runReal(t, "", "inspect", img)
		if r.code != 0 || !strings.Contains(r.stdout, "/etc/machine-id: set") ||
			!regexp.MustCompile(`(?m)^  note: .*another process is writing it.*qemu-img -U`).MatchString(r.stdout) {
			t.Errorf("inspect of an image being written: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		if r := runReal(t, "", "sysprep", img); r.code != 1 {
			t.Errorf("sysprep of an image being written: exit %d, want 1", r.code)
		}
	})
}

// TestFailuresNameTheImageOnceWithoutPackagePrefixes: what a user reads
// when an image fails (missing, not an image imgprep can open, a backing
// file outside the allowed trees, a filesystem it cannot write) names the
// image once per line and carries no internal package prefix.
func TestFailuresNameTheImageOnceWithoutPackagePrefixes(t *testing.T) {
	dir := t.TempDir()
	elsewhere := t.TempDir()
	tmpl := fixture.PathIn(t, "disk-gpt.qcow2", elsewhere)
	clone := filepath.Join(dir, "clone.qcow2")
	if r := runReal(t, "", "clone", "--linked", "--no-sysprep", tmpl, clone); r.code != 0 {
		t.Fatalf("clone: %d %s", r.code, r.stderr)
	}
	cases := [][]string{
		{"sysprep", filepath.Join(dir, "missing.qcow2")},
		{"sysprep", fixture.PathIn(t, "qcow2-hostile-encrypted.qcow2", dir)},
		{"sysprep", fixture.PathIn(t, "qcow2-hostile-l1past.qcow2", dir)},
		{"inspect", fixture.PathIn(t, "qcow2-hostile-loop-a.qcow2", dir)},
		{"sysprep", fixture.PathIn(t, "hostile-sb-groups.img", dir)},
		{"sysprep", clone},
		{"inspect", clone},
		{"audit", fixture.PathIn(t, "qcow2-hostile-extdata.qcow2", dir)},
	}
	// and all the failing images of sysprep in one batch, whose summary
	// lists each failure
	batch := []string{"sysprep", "-j", "1"}
	for _, args := range cases {
		if args[0] == "sysprep" {
			batch = append(batch, args[1])
		}
	}
	cases = append(cases, batch)
	// --json: the errors of the reports and of the summary too
	jr := runReal(t, "", append([]string{"sysprep", "--json"}, batch[1:]...)...)
	if jr.code != 1 || !strings.Contains(jr.stdout, `"error":"`) {
		t.Fatalf("sysprep --json: exit %d\n%s", jr.code, jr.stdout)
	}
	ar := runReal(t, "", "audit", "--json", batch[len(batch)-1], cases[1][1])
	if ar.code != 1 || !strings.Contains(ar.stdout, `"error":"`) {
		t.Errorf("audit --json: exit %d\n%s", ar.code, ar.stdout)
	}
	jsonPrefix := regexp.MustCompile(`(^"error":"|: |\(|; )(` + strings.Join(internalPackages, "|") + `): `)
	for _, m := range regexp.MustCompile(`"error":"([^"\\]|\\.)*"`).FindAllString(jr.stdout+ar.stdout, -1) {
		if p := jsonPrefix.FindString(m); p != "" {
			t.Errorf("--json: %s shows the internal prefix %q", m, p)
		}
	}
	prefix := regexp.MustCompile(`(^|: |\(|; )(` + strings.Join(internalPackages, "|") + `): `)
	for _, args := range cases {
		r := runReal(t, "", args...)
		if r.code != 1 {
			t.Errorf("imgprep %s: exit %d, want 1\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
			continue
		}
		for _, line := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
			if m := prefix.FindString(line); m != "" {
				t.Errorf("imgprep %s: %q shows the internal prefix %q", strings.Join(args, " "), line, m)
			}
			for _, img := range args[1:] {
				if !filepath.IsAbs(img) {
					continue
				}
				if n := strings.Count(line, img); n > 1 {
					t.Errorf("imgprep %s: %q names the image %d times", strings.Join(args, " "), line, n)
				}
			}
		}
		if img := args[len(args)-1]; !strings.Contains(r.stderr, img) {
			t.Errorf("imgprep %s: no message names the image:\n%s", strings.Join(args, " "), r.stderr)
		}
	}
	// the backing refusal says --allow-backing once, the template's path never twice
	r := runReal(t, "", "sysprep", clone)
	if strings.Count(r.stderr, "--allow-backing") != 1 {
		t.Errorf("the backing refusal names --allow-backing %d times:\n%s", strings.Count(r.stderr, "--allow-backing"), r.stderr)
	}
	if _, err := os.Stat(clone); err != nil {
		t.Fatal(err)
	}
}
