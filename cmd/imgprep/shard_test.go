package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/pkg/shard"
	"github.com/imgprep/imgprep/pkg/sysprep"
)

// copies makes n copies of the fixture name (one unprepared template
// copied n times) in a fresh directory.
func copies(t *testing.T, name string, n int) []string {
	t.Helper()
	src := fixture.Path(t, name)
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var out []string
	for i := 0; i < n; i++ {
		p := filepath.Join(dir, fmt.Sprintf("vm-%02d.qcow2", i))
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// runEnv runs imgprep in-process on the real stack with the environment
// vars for --shard auto.
func runEnv(t *testing.T, vars map[string]string, stdin string, args ...string) cliResult {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(append([]string{"imgprep"}, args...), env{stdout: &out, stderr: &errOut, stdin: strings.NewReader(stdin),
		backend: sysprep.Stack{}, recover: sysprep.Recover, lookupEnv: shard.MapEnv(vars)})
	return cliResult{code, out.String(), errOut.String()}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Three workers given the same list, in whatever order, prepare every
// image once; their merged reports count each once. Audited before, the
// shards' merged digests find the machine-id all the copies share.
func TestShardedSysprepAndAuditMerge(t *testing.T) {
	images := copies(t, "disk-gpt.qcow2", 8)
	list := strings.Join(images, "\n") + "\n"
	reversed := make([]string, len(images))
	for i, p := range images {
		reversed[len(images)-1-i] = p
	}
	dir := t.TempDir()
	const n = 3

	for k := n - 1; k >= 0; k-- {
		r := runEnv(t, nil, "", append([]string{"audit", "--json", "--shard", fmt.Sprintf("%d/%d", k, n), "--report", dir + "/audit/{shard}.json"}, reversed...)...)
		if r.code != 0 && r.code != 1 {
			t.Fatalf("audit shard %d: %d %s", k, r.code, r.stderr)
		}
		if strings.Contains(r.stdout, `"machine-id","value"`) && strings.Count(r.stdout, `"image":`) == 0 {
			t.Fatalf("audit shard %d: %s", k, r.stdout)
		}
		if b, err := os.ReadFile(fmt.Sprintf("%s/audit/%d-of-%d.json", dir, k, n)); err != nil || string(b) != r.stdout {
			t.Fatalf("--report wrote %q (%v), --json %q", b, err, r.stdout)
		}
	}
	m := runEnv(t, nil, "", "report", "merge", "--json", dir+"/audit")
	var merged shard.Merged
	if err := json.Unmarshal([]byte(m.stdout), &merged); err != nil || m.code != 1 {
		t.Fatalf("audit merge: %d %v\n%s%s", m.code, err, m.stdout, m.stderr)
	}
	a := merged.Audit
	if a == nil || a.Images != 8 || a.Inspected != 8 || len(merged.Missing) != 0 || len(a.Clusters) != 1 || len(a.Clusters[0].Images) != 8 {
		t.Fatalf("audit merge: %s", m.stdout)
	}
	shared := false
	for _, g := range a.Groups {
		shared = shared || (g.Kind == "machine-id" && g.Images == 8)
	}
	if !shared || !strings.Contains(m.stderr, "shared identit") {
		t.Fatalf("the machine-id shared by the 8 copies across 3 shards is not found: %s %s", m.stdout, m.stderr)
	}

	var reports []string
	for _, k := range []int{2, 0, 1} {
		args := []string{"sysprep", "--json", "-j", "2", "--shard", fmt.Sprintf("%d/%d", k, n), "--from", "-", "--report", dir + "/sysprep-{shard}.out"}
		if k == 1 {
			args = append(args, reversed[:3]...) // the same list, partly on the command line
		}
		r := runEnv(t, nil, list, args...)
		if r.code != 0 {
			t.Fatalf("sysprep shard %d: %d %s", k, r.code, r.stderr)
		}
		if want := fmt.Sprintf("imgprep: shard %d/%d (flag): %d of 8 images", k, n, len(shard.Spec{Index: k, Count: n}.Select(shard.Items(images, shard.Resolve)))); !strings.Contains(r.stderr, want) {
			t.Fatalf("stderr %q, want %q", r.stderr, want)
		}
		if b, err := os.ReadFile(fmt.Sprintf("%s/sysprep-%d-of-%d.out", dir, k, n)); err != nil || string(b) != r.stdout {
			t.Fatalf("--report wrote %q (%v), --json %q", b, err, r.stdout)
		}
		reports = append(reports, writeFile(t, dir, fmt.Sprintf("sysprep-%d.jsonl", k), r.stdout))
	}
	m = runEnv(t, nil, "", append([]string{"report", "merge"}, reports...)...)
	if m.code != 0 || !strings.Contains(m.stdout, "merged 3 reports from 3 of 3 shards\nimages: 8, done 8, failed 0\n") {
		t.Fatalf("merge: %d\n%s%s", m.code, m.stdout, m.stderr)
	}
	for _, img := range images {
		r := runEnv(t, nil, "", "inspect", "--json", img)
		if r.code != 0 || strings.Contains(r.stdout, `"state":"set"`) || !strings.Contains(r.stdout, `"machine_id":{"state":"empty"`) {
			t.Fatalf("%s after the sharded sysprep: %s", img, r.stdout)
		}
	}
	// One shard's report missing: the merge says which, and fails.
	m = runEnv(t, nil, "", "report", "merge", reports[0], reports[2])
	if m.code != 1 || !strings.Contains(m.stdout, "missing shards: 0/3") || !strings.Contains(m.stderr, "1 of 3 shards sent no report") {
		t.Fatalf("merge without shard 0: %d\n%s%s", m.code, m.stdout, m.stderr)
	}
}

func TestShardAutoFromTheEnvironment(t *testing.T) {
	images := []string{"/nonexistent/a.qcow2", "/nonexistent/b.qcow2", "/nonexistent/c.qcow2", "/nonexistent/d.qcow2"}
	for _, tc := range []struct {
		vars map[string]string
		want string
	}{
		{map[string]string{"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_MIN": "4", "SLURM_ARRAY_TASK_COUNT": "2"}, "shard 1/2 (slurm): 2 of 4 images"},
		{map[string]string{"JOB_COMPLETION_INDEX": "3", "IMGPREP_SHARD_COUNT": "4"}, "shard 3/4 (kubernetes): 1 of 4 images"},
		{map[string]string{"AWS_BATCH_JOB_ARRAY_INDEX": "0", "AWS_BATCH_JOB_ARRAY_SIZE": "3"}, "shard 0/3 (aws-batch): 2 of 4 images"},
	} {
		r := runEnv(t, tc.vars, "", append([]string{"inspect", "--json", "--shard", "auto"}, images...)...)
		if r.code != 1 || !strings.Contains(r.stderr, tc.want) || !strings.Contains(r.stdout, `{"summary":`) {
			t.Errorf("%v: %d\n%s%s", tc.vars, r.code, r.stdout, r.stderr)
		}
	}
	for _, bad := range []struct {
		vars  map[string]string
		shard string
	}{{nil, "auto"}, {map[string]string{"JOB_COMPLETION_INDEX": "0"}, "auto"}, {nil, "4/4"}} {
		r := runEnv(t, bad.vars, "", append([]string{"sysprep", "--shard", bad.shard}, images...)...)
		if r.code != 2 || !strings.Contains(r.stderr, "shard") {
			t.Errorf("--shard %s with %v: %d %s", bad.shard, bad.vars, r.code, r.stderr)
		}
	}
	r := runEnv(t, nil, "", "report", "merge", writeFile(t, t.TempDir(), "x", "not json\n"))
	if r.code != 1 || !strings.Contains(r.stderr, "not an imgprep shard report") {
		t.Errorf("merging junk: %d %s", r.code, r.stderr)
	}
}
