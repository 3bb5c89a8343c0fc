package dist

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
)

// TestReadmeSaysTheFuzzTimesMakeUses: the fuzz times the README gives
// are the Makefile's FUZZTIME and CIFUZZTIME, and both reach
// scripts/fuzz.sh, which runs every FuzzXxx target.
func TestReadmeSaysTheFuzzTimesMakeUses(t *testing.T) {
	root := fixture.Root(t)
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	mk, readme, script := read("Makefile"), read("README.md"), read("scripts/fuzz.sh")
	for _, v := range []string{"FUZZTIME", "CIFUZZTIME"} {
		m := regexp.MustCompile(`(?m)^` + v + `\s*\?=\s*([0-9]+)s$`).FindStringSubmatch(mk)
		if m == nil {
			t.Fatalf("Makefile sets no %s ?= Ns", v)
		}
		if want := "`" + v + "` (" + m[1] + " s)"; !strings.Contains(readme, want) {
			t.Errorf("README does not say %s (the Makefile's %s is %s s)", want, v, m[1])
		}
		if !strings.Contains(mk, "bash scripts/fuzz.sh $("+v+")") {
			t.Errorf("the Makefile does not pass %s to scripts/fuzz.sh", v)
		}
	}
	if !strings.Contains(script, "go list ./...") || !strings.Contains(script, "^func Fuzz") {
		t.Error("scripts/fuzz.sh no longer finds every FuzzXxx target of every package")
	}
	if !strings.Contains(readme, "go install github.com/imgprep/imgprep/cmd/imgprep@latest") {
		t.Error("README lacks the go install line")
	}
}
