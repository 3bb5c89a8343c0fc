package dist

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
)

// instruction is one Dockerfile instruction: its keyword, upper-cased, and
// its arguments with line continuations joined.
type instruction struct {
	cmd, args string
	line      int
}

// parseDockerfile reads a Dockerfile as docker's parser does for the
// instructions used here: comments and blank lines skipped, a trailing
// backslash continuing the line.
func parseDockerfile(t *testing.T, path string) []instruction {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []instruction
	var cur strings.Builder
	start := 0
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		if strings.HasSuffix(line, "\\") {
			cur.WriteString(strings.TrimSuffix(line, "\\") + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{strings.ToUpper(cmd), strings.TrimSpace(args), start})
		cur.Reset()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cur.Len() > 0 {
		t.Fatalf("%s: ends inside a continued line", path)
	}
	return out
}

// TestDockerfileShipsTheStaticBinaryFromScratch: the image is one stage
// FROM scratch holding only the binary make build writes (which
// TestBuildIsStatic shows is static, as scratch has no libc), run as its
// ENTRYPOINT in exec form by an unprivileged user; .dockerignore sends
// only that binary as the build context.
func TestDockerfileShipsTheStaticBinaryFromScratch(t *testing.T) {
	root := fixture.Root(t)
	ins := parseDockerfile(t, filepath.Join(root, "Dockerfile"))
	by := map[string][]instruction{}
	for _, in := range ins {
		by[in.cmd] = append(by[in.cmd], in)
	}
	if len(ins) == 0 || ins[0].cmd != "FROM" {
		t.Fatalf("Dockerfile: the first instruction is not FROM: %v", ins)
	}
	if len(by["FROM"]) != 1 || by["FROM"][0].args != "scratch" {
		t.Errorf("Dockerfile: FROM %v, want a single FROM scratch", by["FROM"])
	}
	for _, c := range []string{"RUN", "ADD"} {
		if len(by[c]) > 0 {
			t.Errorf("Dockerfile: %s at line %d: scratch has no shell, and only the binary belongs in the image", c, by[c][0].line)
		}
	}
	if len(by["COPY"]) != 1 {
		t.Fatalf("Dockerfile: %d COPY instructions, want 1 (the binary)", len(by["COPY"]))
	}
	src, dst, _ := strings.Cut(by["COPY"][0].args, " ")
	if src != "bin/imgprep" {
		t.Errorf("Dockerfile: COPY %s, want the binary make build writes, bin/imgprep", src)
	}
	if len(by["ENTRYPOINT"]) != 1 {
		t.Fatalf("Dockerfile: %d ENTRYPOINT instructions, want 1", len(by["ENTRYPOINT"]))
	}
	var entry []string
	if err := json.Unmarshal([]byte(by["ENTRYPOINT"][0].args), &entry); err != nil || len(entry) == 0 {
		t.Fatalf("Dockerfile: ENTRYPOINT %s is not the exec form (a JSON array): scratch has no /bin/sh", by["ENTRYPOINT"][0].args)
	}
	if entry[0] != strings.TrimSpace(dst) {
		t.Errorf("Dockerfile: ENTRYPOINT runs %q, but the binary is copied to %q", entry[0], dst)
	}
	if len(by["USER"]) != 1 || strings.HasPrefix(by["USER"][0].args, "0") || strings.HasPrefix(by["USER"][0].args, "root") {
		t.Errorf("Dockerfile: USER %v, want one unprivileged user", by["USER"])
	}

	ignore, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var rules []string
	for _, l := range strings.Split(string(ignore), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			rules = append(rules, l)
		}
	}
	if len(rules) != 2 || rules[0] != "*" || rules[1] != "!"+src {
		t.Errorf(".dockerignore rules %q, want everything ignored but %s", rules, src)
	}
}
