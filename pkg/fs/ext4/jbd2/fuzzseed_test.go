//go:build fuzzseeds

package jbd2_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
)

// TestGenerateFuzzSeeds rewrites FuzzJournal's seed corpus: the journal
// (inode 8, dumped by debugfs) of each jbd2 fixture whose log starts at
// the journal's head (testdata/images/gen.d/jbd2.sh), cut after its last
// non-zero byte (the fuzz target reads the rest as zeros):
//
//	go test -tags fuzzseeds -run TestGenerateFuzzSeeds ./pkg/fs/ext4/jbd2
func TestGenerateFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzJournal")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"jbd2-csum3", "jbd2-csum2-32bit", "jbd2-csum1", "jbd2-ext3", "jbd2-async", "jbd2-badcommit", "jbd2-fastcommit"} {
		img := fixture.Path(t, name+".img")
		out := filepath.Join(t.TempDir(), "journal")
		if _, errOut, code := oracle.Run(t, "debugfs", "-R", "dump <8> "+out, img); code != 0 {
			t.Fatalf("debugfs dump: %s", errOut)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		b = bytes.TrimRight(b, "\x00")
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, "seed-"+strings.TrimPrefix(name, "jbd2-")), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
