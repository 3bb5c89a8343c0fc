package shard

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func list(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("/srv/images/vm-%03d.qcow2", (i*37)%n)
	}
	return out
}

// Every image is taken by exactly one of N workers, and each worker's part
// is the same whatever order its list came in.
func TestWorkersCoverEveryImageOnceWhateverTheOrder(t *testing.T) {
	for _, size := range []int{0, 1, 2, 10, 23, 100} {
		paths := list(size)
		for _, n := range []int{1, 3, 4, 7} {
			seen := map[string]int{}
			for k := 0; k < n; k++ {
				spec := Spec{Index: k, Count: n}
				part := Paths(spec.Select(Items(paths, filepath.Clean)))
				if len(part) < size/n || len(part) > size/n+1 {
					t.Errorf("%d images, worker %s takes %d: unbalanced", size, spec, len(part))
				}
				for _, p := range part {
					seen[p]++
				}
				for trial := 0; trial < 5; trial++ {
					shuffled := slices.Clone(paths)
					r := rand.New(rand.NewPCG(uint64(trial), uint64(k)))
					r.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
					if got := Paths(spec.Select(Items(shuffled, filepath.Clean))); !slices.Equal(got, part) {
						t.Fatalf("worker %s: shuffled list gives %v, sorted %v", spec, got, part)
					}
				}
			}
			if len(seen) != size {
				t.Errorf("N=%d over %d images: %d covered", n, size, len(seen))
			}
			for p, c := range seen {
				if c != 1 {
					t.Errorf("N=%d: %s taken %d times", n, p, c)
				}
			}
		}
	}
}

// Two names of one file (a symlink, a relative path) are one image.
func TestDuplicatesByResolvedPathAreOneImage(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.qcow2")
	if err := os.WriteFile(a, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a.qcow2", filepath.Join(dir, "link.qcow2")); err != nil {
		t.Fatal(err)
	}
	b := filepath.Join(dir, "b.qcow2")
	items := Items([]string{filepath.Join(dir, "link.qcow2"), a, b, a + "/../a.qcow2"}, Resolve)
	var all []string
	for k := 0; k < 2; k++ {
		all = append(all, Paths(Spec{Index: k, Count: 2}.Select(items))...)
	}
	if len(all) != 2 {
		t.Fatalf("parts %v: want a.qcow2 once and b.qcow2 once", all)
	}
	if Resolve(filepath.Join(dir, "link.qcow2")) != Resolve(a) || Resolve(b) != b {
		t.Fatalf("Resolve: link %s, a %s, missing b %s", Resolve(filepath.Join(dir, "link.qcow2")), Resolve(a), Resolve(b))
	}
}

func TestParseKN(t *testing.T) {
	none := MapEnv(nil)
	good := map[string]Spec{"0/1": {0, 1}, "2/4": {2, 4}, "6/7": {6, 7}, "0/1048576": {0, MaxCount}}
	for in, want := range good {
		got, src, err := Parse(in, none)
		if err != nil || got != want || src != Flag {
			t.Errorf("Parse(%q) = %v, %s, %v; want %v", in, got, src, err, want)
		}
	}
	for _, in := range []string{"", "1", "4/4", "5/4", "-1/4", "1/0", "0/-1", "a/b", "1/2/3", " 1/2", "+1/2", "0/1048577", "0/99999999999999999999", "auto/2"} {
		if _, _, err := Parse(in, none); !errors.Is(err, ErrSpec) {
			t.Errorf("Parse(%q): %v, want ErrSpec", in, err)
		}
	}
}

func TestAutoFromSchedulers(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want Spec
		src  Source
	}{
		{"slurm 0-based", map[string]string{"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_COUNT": "4"}, Spec{3, 4}, Slurm},
		{"slurm 1-based", map[string]string{"SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_COUNT": "8"}, Spec{0, 8}, Slurm},
		{"slurm step", map[string]string{"SLURM_ARRAY_TASK_ID": "14", "SLURM_ARRAY_TASK_MIN": "10", "SLURM_ARRAY_TASK_STEP": "2", "SLURM_ARRAY_TASK_COUNT": "5"}, Spec{2, 5}, Slurm},
		{"slurm before kubernetes", map[string]string{"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_COUNT": "3", "JOB_COMPLETION_INDEX": "0", "IMGPREP_SHARD_COUNT": "9"}, Spec{2, 3}, Slurm},
		{"kubernetes", map[string]string{"JOB_COMPLETION_INDEX": "5", "IMGPREP_SHARD_COUNT": "7"}, Spec{5, 7}, Kubernetes},
		{"kubernetes before aws", map[string]string{"JOB_COMPLETION_INDEX": "0", "IMGPREP_SHARD_COUNT": "2", "AWS_BATCH_JOB_ARRAY_INDEX": "1", "AWS_BATCH_JOB_ARRAY_SIZE": "3"}, Spec{0, 2}, Kubernetes},
		{"aws", map[string]string{"AWS_BATCH_JOB_ARRAY_INDEX": "9", "AWS_BATCH_JOB_ARRAY_SIZE": "10"}, Spec{9, 10}, AWSBatch},
		{"aws count from imgprep", map[string]string{"AWS_BATCH_JOB_ARRAY_INDEX": "1", "IMGPREP_SHARD_COUNT": "3"}, Spec{1, 3}, AWSBatch},
	}
	for _, tc := range tests {
		got, src, err := Parse("auto", MapEnv(tc.env))
		if err != nil || got != tc.want || src != tc.src {
			t.Errorf("%s: %v %s %v; want %v %s", tc.name, got, src, err, tc.want, tc.src)
		}
	}
}

func TestAutoRefusesBadEnvironments(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want error
	}{
		{"nothing", map[string]string{"SLURM_JOB_ID": "12", "HOME": "/root"}, ErrNoScheduler},
		{"kubernetes without count", map[string]string{"JOB_COMPLETION_INDEX": "0"}, ErrEnv},
		{"kubernetes index past count", map[string]string{"JOB_COMPLETION_INDEX": "4", "IMGPREP_SHARD_COUNT": "4"}, ErrEnv},
		{"kubernetes count zero", map[string]string{"JOB_COMPLETION_INDEX": "0", "IMGPREP_SHARD_COUNT": "0"}, ErrEnv},
		{"kubernetes junk", map[string]string{"JOB_COMPLETION_INDEX": "x", "IMGPREP_SHARD_COUNT": "4"}, ErrEnv},
		{"aws negative", map[string]string{"AWS_BATCH_JOB_ARRAY_INDEX": "-1", "AWS_BATCH_JOB_ARRAY_SIZE": "4"}, ErrEnv},
		{"aws without size", map[string]string{"AWS_BATCH_JOB_ARRAY_INDEX": "0"}, ErrEnv},
		{"slurm without min", map[string]string{"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "4"}, ErrEnv},
		{"slurm sparse array", map[string]string{"SLURM_ARRAY_TASK_ID": "9", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_COUNT": "3"}, ErrEnv},
		{"slurm below min", map[string]string{"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_COUNT": "3"}, ErrEnv},
		{"slurm off step", map[string]string{"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_STEP": "2", "SLURM_ARRAY_TASK_COUNT": "3"}, ErrEnv},
	}
	for _, tc := range tests {
		if _, _, err := Parse("auto", MapEnv(tc.env)); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"0/1", "3/4", "auto", "9/2", "1/0", "a/b"} {
		f.Add(s, "3", "1", "4")
	}
	f.Fuzz(func(t *testing.T, spec, id, lo, count string) {
		env := MapEnv(map[string]string{"SLURM_ARRAY_TASK_ID": id, "SLURM_ARRAY_TASK_MIN": lo, "SLURM_ARRAY_TASK_COUNT": count})
		s, _, err := Parse(spec, env)
		if err == nil && !s.Valid() {
			t.Fatalf("Parse(%q) accepted invalid %v", spec, s)
		}
		if err == nil {
			items := Items([]string{"a", "b", "c", "d", "e"}, filepath.Clean)
			if got := s.Select(items); len(got) > 5 {
				t.Fatalf("select %v", got)
			}
		}
	})
}
