package shard

import (
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// MaxCount bounds N: far more workers than any array job runs (Slurm's
// default MaxArraySize is 1001, Kubernetes allows 100000 completions).
const MaxCount = 1 << 20

// Spec is one worker's part: Index (K, 0-based) of Count (N).
type Spec struct {
	Index int `json:"index"`
	Count int `json:"count"`
}

// All is the whole list: worker 0 of 1.
var All = Spec{Index: 0, Count: 1}

// String is "K/N".
func (s Spec) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// Valid reports whether 0 <= K < N <= MaxCount.
func (s Spec) Valid() bool {
	return s.Count >= 1 && s.Count <= MaxCount && s.Index >= 0 && s.Index < s.Count
}

// Env looks up an environment variable, as os.LookupEnv does.
type Env func(key string) (string, bool)

// MapEnv is an Env over a map.
func MapEnv(m map[string]string) Env {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// Source names where an auto Spec came from.
type Source string

// Sources of a Spec.
const (
	Flag       Source = "flag"
	Slurm      Source = "slurm"
	Kubernetes Source = "kubernetes"
	AWSBatch   Source = "aws-batch"
)

// Parse reads a --shard value: "K/N", or "auto" to take K and N from env.
func Parse(value string, env Env) (Spec, Source, error) {
	if value == "auto" {
		return FromEnv(env)
	}
	k, n, ok := strings.Cut(value, "/")
	if !ok {
		return Spec{}, "", fmt.Errorf("--shard %q: %w", value, ErrSpec)
	}
	ki, err1 := atoi(k)
	ni, err2 := atoi(n)
	s := Spec{Index: ki, Count: ni}
	if err1 != nil || err2 != nil || !s.Valid() {
		return Spec{}, "", fmt.Errorf("--shard %q: %w", value, ErrSpec)
	}
	return s, Flag, nil
}

// atoi reads a decimal number of at most 9 digits, without sign.
func atoi(s string) (int, error) {
	if s == "" || len(s) > 9 || strings.Trim(s, "0123456789") != "" {
		return 0, strconv.ErrSyntax
	}
	return strconv.Atoi(s)
}

// FromEnv takes K and N from the first array job env describes: Slurm,
// then Kubernetes, then AWS Batch.
func FromEnv(env Env) (Spec, Source, error) {
	if _, ok := env("SLURM_ARRAY_TASK_ID"); ok {
		s, err := slurm(env)
		return s, Slurm, err
	}
	if _, ok := env("JOB_COMPLETION_INDEX"); ok {
		s, err := indexCount(env, "JOB_COMPLETION_INDEX", "IMGPREP_SHARD_COUNT")
		return s, Kubernetes, err
	}
	if _, ok := env("AWS_BATCH_JOB_ARRAY_INDEX"); ok {
		count := "AWS_BATCH_JOB_ARRAY_SIZE"
		if _, ok := env(count); !ok {
			count = "IMGPREP_SHARD_COUNT"
		}
		s, err := indexCount(env, "AWS_BATCH_JOB_ARRAY_INDEX", count)
		return s, AWSBatch, err
	}
	return Spec{}, "", fmt.Errorf("--shard auto: %w", ErrNoScheduler)
}

// number reads the variable key as a number.
func number(env Env, key string) (int, error) {
	v, ok := env(key)
	if !ok {
		return 0, fmt.Errorf("--shard auto: %s is not set: %w", key, ErrEnv)
	}
	n, err := atoi(strings.TrimSpace(v))
	if err != nil {
		return 0, fmt.Errorf("--shard auto: %s=%q is not a number: %w", key, v, ErrEnv)
	}
	return n, nil
}

func slurm(env Env) (Spec, error) {
	id, err := number(env, "SLURM_ARRAY_TASK_ID")
	if err != nil {
		return Spec{}, err
	}
	lo, err := number(env, "SLURM_ARRAY_TASK_MIN")
	if err != nil {
		return Spec{}, err
	}
	count, err := number(env, "SLURM_ARRAY_TASK_COUNT")
	if err != nil {
		return Spec{}, err
	}
	step := 1
	if _, ok := env("SLURM_ARRAY_TASK_STEP"); ok {
		if step, err = number(env, "SLURM_ARRAY_TASK_STEP"); err != nil {
			return Spec{}, err
		}
	}
	if id < lo || step < 1 || (id-lo)%step != 0 {
		return Spec{}, fmt.Errorf("--shard auto: SLURM_ARRAY_TASK_ID=%d is not MIN %d plus a multiple of STEP %d: %w", id, lo, step, ErrEnv)
	}
	s := Spec{Index: (id - lo) / step, Count: count}
	if !s.Valid() {
		return Spec{}, fmt.Errorf("--shard auto: Slurm task %d of %d (SLURM_ARRAY_TASK_ID=%d, MIN=%d): %w; use a contiguous --array=0-%d", s.Index, count, id, lo, ErrEnv, max(count, 1)-1)
	}
	return s, nil
}

func indexCount(env Env, index, count string) (Spec, error) {
	k, err := number(env, index)
	if err != nil {
		return Spec{}, err
	}
	n, err := number(env, count)
	if err != nil {
		return Spec{}, err
	}
	s := Spec{Index: k, Count: n}
	if !s.Valid() {
		return Spec{}, fmt.Errorf("--shard auto: %s=%d is not below %s=%d: %w", index, k, count, n, ErrEnv)
	}
	return s, nil
}

// Item is one image of the list: the path as given and the key it sorts
// by (its resolved path, the same on every worker that sees the same
// storage).
type Item struct {
	Path string
	Key  string
}

// Select returns this worker's part of items: sorted by Key (then Path),
// one item per Key, and of those every Count-th starting at Index. The
// union of the parts of workers 0..N-1 is every distinct item, each in
// exactly one part, whatever order the list came in. The zero Spec
// selects every distinct item.
func (s Spec) Select(items []Item) []Item {
	if s.Count <= 0 {
		s = All
	}
	sorted := append([]Item(nil), items...)
	sort.SliceStable(sorted, func(a, b int) bool {
		if sorted[a].Key != sorted[b].Key {
			return sorted[a].Key < sorted[b].Key
		}
		return sorted[a].Path < sorted[b].Path
	})
	var out []Item
	pos := 0
	for i, it := range sorted {
		if i > 0 && sorted[i-1].Key == it.Key {
			continue
		}
		if pos%s.Count == s.Index {
			out = append(out, it)
		}
		pos++
	}
	return out
}

// Items pairs each path with its key, resolve(path).
func Items(paths []string, resolve func(string) string) []Item {
	out := make([]Item, len(paths))
	for i, p := range paths {
		out[i] = Item{Path: p, Key: resolve(p)}
	}
	return out
}

// Paths returns the items' paths.
func Paths(items []Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.Path
	}
	return out
}

// Resolve is the key of a host path: absolute, with symlinks resolved. A
// path that does not resolve (missing) keeps its absolute, cleaned form:
// the worker that draws it reports the error.
func Resolve(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return filepath.Clean(path)
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		return r
	}
	return abs
}
