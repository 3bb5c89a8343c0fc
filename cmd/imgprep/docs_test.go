package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/imgprep/imgprep/internal/fixture"
)

// The fields of the Kubernetes objects the examples set (batch/v1 Job,
// v1 PersistentVolumeClaim); KnownFields refuses any other.
type k8sObject struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec k8sSpec `yaml:"spec"`
}

type k8sSpec struct {
	// PersistentVolumeClaim
	AccessModes []string `yaml:"accessModes"`
	Resources   struct {
		Requests map[string]string `yaml:"requests"`
	} `yaml:"resources"`
	// Job
	CompletionMode       string `yaml:"completionMode"`
	Completions          *int   `yaml:"completions"`
	Parallelism          *int   `yaml:"parallelism"`
	BackoffLimit         *int   `yaml:"backoffLimit"`
	BackoffLimitPerIndex *int   `yaml:"backoffLimitPerIndex"`
	MaxFailedIndexes     *int   `yaml:"maxFailedIndexes"`
	Template             struct {
		Spec struct {
			RestartPolicy   string `yaml:"restartPolicy"`
			SecurityContext struct {
				RunAsNonRoot bool `yaml:"runAsNonRoot"`
				RunAsUser    int  `yaml:"runAsUser"`
				RunAsGroup   int  `yaml:"runAsGroup"`
				FSGroup      int  `yaml:"fsGroup"`
			} `yaml:"securityContext"`
			Containers []k8sContainer `yaml:"containers"`
			Volumes    []struct {
				Name                  string `yaml:"name"`
				PersistentVolumeClaim struct {
					ClaimName string `yaml:"claimName"`
				} `yaml:"persistentVolumeClaim"`
			} `yaml:"volumes"`
		} `yaml:"spec"`
	} `yaml:"template"`
}

type k8sContainer struct {
	Name  string   `yaml:"name"`
	Image string   `yaml:"image"`
	Args  []string `yaml:"args"`
	Env   []struct {
		Name  string `yaml:"name"`
		Value string `yaml:"value"`
	} `yaml:"env"`
	Resources struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext struct {
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   bool  `yaml:"readOnlyRootFilesystem"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
}

func readK8s(t *testing.T, name string) []k8sObject {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixture.Root(t), "docs", "kubernetes", name))
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var out []k8sObject
	for {
		var o k8sObject
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out = append(out, o)
	}
}

// checkPod asserts what every imgprep pod of the examples needs: the
// FROM scratch image's user, no privileges, the images' PVC mounted.
func checkPod(t *testing.T, o k8sObject, claim string) k8sContainer {
	t.Helper()
	p := o.Spec.Template.Spec
	sc := p.SecurityContext
	if p.RestartPolicy != "Never" || !sc.RunAsNonRoot || sc.RunAsUser != 65532 || sc.RunAsGroup != 65532 || len(p.Containers) != 1 {
		t.Fatalf("%s: pod %+v", o.Metadata.Name, p)
	}
	c := p.Containers[0]
	if c.SecurityContext.AllowPrivilegeEscalation == nil || *c.SecurityContext.AllowPrivilegeEscalation ||
		!c.SecurityContext.ReadOnlyRootFilesystem || strings.Join(c.SecurityContext.Capabilities.Drop, ",") != "ALL" {
		t.Fatalf("%s: container security %+v", o.Metadata.Name, c.SecurityContext)
	}
	if !strings.Contains(c.Image, "imgprep") || len(p.Volumes) != 1 || p.Volumes[0].PersistentVolumeClaim.ClaimName != claim ||
		len(c.VolumeMounts) != 1 || c.VolumeMounts[0].Name != p.Volumes[0].Name || c.VolumeMounts[0].MountPath != "/images" {
		t.Fatalf("%s: image %q, volumes %+v, mounts %+v", o.Metadata.Name, c.Image, p.Volumes, c.VolumeMounts)
	}
	return c
}

// under rewrites the pod's /images paths in args to dir.
func under(args []string, dir string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = strings.ReplaceAll(a, "/images", dir)
	}
	return out
}

// The Indexed Job manifest: its fields asserted, and its pods' command
// lines run, index by index, on a directory standing for the PVC; then
// the merge job's.
func TestKubernetesIndexedJobExample(t *testing.T) {
	objs := readK8s(t, "imgprep-indexed-job.yaml")
	if len(objs) != 2 || objs[0].Kind != "PersistentVolumeClaim" || objs[0].APIVersion != "v1" || objs[1].Kind != "Job" || objs[1].APIVersion != "batch/v1" {
		t.Fatalf("objects %+v", objs)
	}
	pvc, job := objs[0], objs[1]
	if strings.Join(pvc.Spec.AccessModes, ",") != "ReadWriteMany" || pvc.Spec.Resources.Requests["storage"] == "" {
		t.Fatalf("PVC %+v: the pods of all nodes share it", pvc.Spec)
	}
	s := job.Spec
	if s.CompletionMode != "Indexed" || s.Completions == nil || s.Parallelism == nil || *s.Parallelism > *s.Completions || s.BackoffLimitPerIndex == nil {
		t.Fatalf("job spec %+v", s)
	}
	c := checkPod(t, job, pvc.Metadata.Name)
	count := ""
	for _, e := range c.Env {
		if e.Name == "IMGPREP_SHARD_COUNT" {
			count = e.Value
		}
	}
	if count != strconv.Itoa(*s.Completions) {
		t.Fatalf("IMGPREP_SHARD_COUNT %q, completions %d: they must agree", count, *s.Completions)
	}
	if strings.Join(c.Args[:3], " ") != "sysprep --shard auto" {
		t.Fatalf("args %q", c.Args)
	}
	merge := readK8s(t, "imgprep-merge-job.yaml")
	if len(merge) != 1 || merge[0].Kind != "Job" || merge[0].Spec.CompletionMode != "" || *merge[0].Spec.Completions != 1 {
		t.Fatalf("merge job %+v", merge)
	}
	mc := checkPod(t, merge[0], pvc.Metadata.Name)

	// Run the pods' command lines.
	pv := t.TempDir()
	images := copies(t, "disk-gpt.qcow2", 6)
	var list []string
	for i, img := range images {
		dst := filepath.Join(pv, fmt.Sprintf("vm-%d.qcow2", i))
		if err := os.Rename(img, dst); err != nil {
			t.Fatal(err)
		}
		list = append(list, dst)
	}
	writeFile(t, pv, "list.txt", strings.Join(list, "\n")+"\n")
	for k := 0; k < *s.Completions; k++ {
		r := runEnv(t, map[string]string{"JOB_COMPLETION_INDEX": strconv.Itoa(k), "IMGPREP_SHARD_COUNT": count}, "", under(c.Args, pv)...)
		if r.code != 0 || !strings.Contains(r.stderr, fmt.Sprintf("shard %d/%s (kubernetes)", k, count)) {
			t.Fatalf("pod %d: %d\n%s%s", k, r.code, r.stdout, r.stderr)
		}
	}
	r := runEnv(t, nil, "", under(mc.Args, pv)...)
	want := fmt.Sprintf("merged %s reports from %s of %s shards\nimages: 6, done 6, failed 0\n", count, count, count)
	if r.code != 0 || r.stdout != want {
		t.Fatalf("merge pod: %d\n%s%s\nwant\n%s", r.code, r.stdout, r.stderr, want)
	}
}

// sbatchOptions are the #SBATCH options of a batch script.
func sbatchOptions(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	opts := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "#SBATCH "); ok {
			k, v, _ := strings.Cut(strings.TrimSpace(rest), "=")
			opts[k] = v
		}
	}
	return opts
}

func TestSlurmExampleScript(t *testing.T) {
	path := filepath.Join(fixture.Root(t), "docs", "slurm", "imgprep-array.sbatch")
	opts := sbatchOptions(t, path)
	if opts["--array"] != "0-7" || opts["--job-name"] == "" || !strings.Contains(opts["--output"], "%A_%a") || opts["--cpus-per-task"] == "" {
		t.Fatalf("#SBATCH options %v", opts)
	}
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), `sysprep --shard auto --from "$LIST"`) || !strings.Contains(string(b), `--report "$REPORTS/sysprep-{shard}.jsonl"`) {
		t.Fatalf("the script does not run imgprep sysprep --shard auto with a report:\n%s", b)
	}
}
