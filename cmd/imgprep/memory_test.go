package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/oracle"
)

// TestRemovingManyFilesPeaksUnderBoundedRSS: a default sysprep of a
// guest whose /tmp holds 200,000 files (testdata/images/many-files.sh,
// made by mkfs.ext4 -d) removes them all with the built binary's peak
// resident set under 64 MiB, measured from outside by GNU time (a
// process this test starts directly would report the test's own
// resident set too: it is forked sharing the test's memory, and the
// kernel keeps that high-water mark across exec), as
// it would be for a guest of a few files: the directory walks stream,
// the report counts the entries instead of listing them, and the staged
// writes past txn.DefaultMemoryLimit spill to a file beside the journal.
// e2fsck -fn finds the result clean and debugfs finds /tmp empty.
func TestRemovingManyFilesPeaksUnderBoundedRSS(t *testing.T) {
	const files = 200000
	const limitKiB = 64 << 10
	oracle.Require(t, "python3")
	oracle.Require(t, "mkfs.ext4")
	timeBin := oracle.Require(t, "time")
	bin := buildImgprep(t)
	dir := t.TempDir()
	img := filepath.Join(dir, "many.img")
	gen := exec.Command("bash", "../../testdata/images/many-files.sh", img, "200000")
	gen.Env = append(os.Environ(), "TMPDIR="+dir)
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("many-files.sh: %v\n%s", err, out)
	}
	if n := strings.Count(oracle.Debugfs(t, img, "ls -p /tmp/many/d0000"), "\n"); n < 100 {
		t.Fatalf("the generated /tmp/many/d0000 lists %d lines, want 100 files and . and ..", n)
	}
	rssFile := filepath.Join(dir, "rss")
	out, err := exec.Command(timeBin, "-f", "%M", "-o", rssFile, bin, "sysprep", img).CombinedOutput()
	if err != nil {
		t.Fatalf("sysprep: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(rssFile)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Fields(string(raw))
	if len(lines) == 0 {
		t.Fatalf("time wrote no peak RSS: %q", raw)
	}
	rss, err := strconv.ParseInt(lines[len(lines)-1], 10, 64)
	if err != nil || rss <= 0 {
		t.Fatalf("time's peak RSS %q: %v", raw, err)
	}
	t.Logf("peak RSS removing %d files: %d KiB", files, rss)
	if rss >= limitKiB {
		t.Errorf("peak RSS %d KiB, want under %d KiB", rss, limitKiB)
	}
	// 200,000 files in 2,000 directories, reported as one change.
	if want := "removed   /tmp/many (202000 entries)"; !strings.Contains(string(out), want) {
		t.Errorf("report lacks %q:\n%s", want, out)
	}
	if len(out) > 4096 {
		t.Errorf("report of %d bytes: the removed files are listed one by one", len(out))
	}
	oracle.E2fsckClean(t, img)
	if ls := oracle.Debugfs(t, img, "ls -p /tmp"); strings.Contains(ls, "many") {
		t.Errorf("/tmp/many is still there:\n%s", ls)
	}
}
