package shard

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/pkg/audit"
	"github.com/imgprep/imgprep/pkg/batch"
)

// worker writes the JSON lines a sysprep --json --shard K/N run writes:
// one report per image, failing those fail names, then the summary.
func worker(t *testing.T, spec Spec, paths []string, fail map[string]bool) string {
	t.Helper()
	var b strings.Builder
	sum := batch.Summary{Failures: []batch.Failure{}}
	for _, p := range Paths(spec.Select(Items(paths, filepath.Clean))) {
		rep := map[string]any{"image": p, "format": "qcow2", "operations": []string{"machine-id"}}
		sum.Total++
		if fail[p] {
			rep["error"] = p + ": corrupt qcow2 header"
			sum.Failed++
		} else {
			sum.Done++
		}
		line, _ := json.Marshal(rep)
		b.Write(append(line, '\n'))
	}
	line, err := json.Marshal(map[string]any{"summary": map[string]any{
		"images": sum.Total, "done": sum.Done, "failed": sum.Failed, "failures": sum.Failures, "duration_ms": 1.5, "shard": spec}})
	if err != nil {
		t.Fatal(err)
	}
	b.Write(append(line, '\n'))
	return b.String()
}

func inputs(outs []string) []Input {
	in := make([]Input, len(outs))
	for i, o := range outs {
		in[i] = Input{Name: fmt.Sprintf("shard-%d.jsonl", i), R: strings.NewReader(o)}
	}
	return in
}

func TestMergeCountsEachImageOnceWhateverTheOrder(t *testing.T) {
	paths := list(30)
	fail := map[string]bool{paths[4]: true, paths[17]: true}
	for _, n := range []int{1, 3, 4, 7} {
		var outs []string
		for k := 0; k < n; k++ {
			outs = append(outs, worker(t, Spec{Index: k, Count: n}, paths, fail))
		}
		var first *Merged
		for trial := 0; trial < 4; trial++ {
			r := rand.New(rand.NewPCG(uint64(n), uint64(trial)))
			r.Shuffle(len(outs), func(a, b int) { outs[a], outs[b] = outs[b], outs[a] })
			m, err := Merge(inputs(outs), MergeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if m.Images != 30 || m.Done != 28 || m.Failed != 2 || len(m.Repeated) != 0 || len(m.Missing) != 0 || m.Count != n || len(m.Shards) != n || m.Reports != n || m.Clean() {
				t.Fatalf("N=%d: %+v", n, m)
			}
			if m.Failures[0].Item > m.Failures[1].Item || !fail[m.Failures[0].Item] || !fail[m.Failures[1].Item] || !strings.Contains(m.Failures[0].Error, "corrupt qcow2 header") {
				t.Fatalf("failures %+v", m.Failures)
			}
			if first == nil {
				first = m
			} else if !reflect.DeepEqual(first, m) {
				t.Fatalf("N=%d: merge depends on the order:\n%+v\n%+v", n, first, m)
			}
		}
	}
}

// A retried shard reports its images again: each is counted once, done
// when the retry succeeded; a shard that never reported is missing.
func TestMergeRetriedAndMissingShards(t *testing.T) {
	paths := list(12)
	spec := func(k int) Spec { return Spec{Index: k, Count: 4} }
	all := map[string]bool{}
	for _, p := range paths {
		all[p] = true
	}
	failed := worker(t, spec(1), paths, all) // the first try of shard 1 failed everything
	retry := worker(t, spec(1), paths, nil)
	m, err := Merge(inputs([]string{worker(t, spec(0), paths, nil), failed, retry, worker(t, spec(3), paths, nil)}), MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Images != 9 || m.Done != 9 || m.Failed != 0 || len(m.Repeated) != 3 || fmt.Sprint(m.Missing) != "[2]" || m.Clean() {
		t.Fatalf("%+v", m)
	}
	m, err = Merge(inputs([]string{worker(t, spec(2), paths, nil)}), MergeOptions{})
	if err != nil || fmt.Sprint(m.Missing) != "[0 1 3]" {
		t.Fatalf("%+v %v", m, err)
	}
}

func TestMergeRefusesWhatIsNoShardReport(t *testing.T) {
	paths := list(6)
	for name, outs := range map[string][]string{
		"text":            {"sysprep prepared 6 images\n"},
		"other json":      {`{"hello":"world"}` + "\n"},
		"a json array":    {"[1,2]\n"},
		"mixed counts":    {worker(t, Spec{Index: 0, Count: 2}, paths, nil), worker(t, Spec{Index: 1, Count: 3}, paths, nil)},
		"shard past N":    {`{"summary":{"shard":{"index":4,"count":4}}}` + "\n"},
		"a line too long": {`{"image":"` + strings.Repeat("a", MaxLine) + `"}`},
	} {
		_, err := Merge(inputs(outs), MergeOptions{})
		if !errors.Is(err, ErrReport) || !strings.Contains(err.Error(), "shard-") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestMergeAuditShardsFindsIdentitiesSharedAcrossShards(t *testing.T) {
	key := []byte("k")
	id := func(image string, kind audit.Kind, value string) audit.Identity {
		return audit.Identity{Kind: kind, Digest: audit.Digest(key, kind, value), Image: image, Where: "/etc/x on ext4"}
	}
	shard0 := audit.Report{Images: 2, Inspected: 2, Groups: []audit.Group{}, Identities: []audit.Identity{
		id("a", audit.MachineID, "m1"), id("b", audit.MachineID, "m2"), id("b", audit.Hostname, "web")}}
	shard1 := audit.Report{Images: 2, Inspected: 1, Groups: []audit.Group{}, Failures: []batch.Failure{{Item: "d", Error: "d: unreadable"}},
		Identities: []audit.Identity{id("c", audit.MachineID, "m1"), id("c", audit.Hostname, "web")}}
	var outs []string
	for k, r := range []audit.Report{shard0, shard1} {
		b, err := json.Marshal(struct {
			audit.Report
			Shard Spec `json:"shard"`
		}{r, Spec{Index: k, Count: 2}})
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, string(b)+"\n")
	}
	m, err := Merge(inputs(outs), MergeOptions{FilesystemUUIDWarning: true})
	if err != nil {
		t.Fatal(err)
	}
	a := m.Audit
	if a == nil || a.Images != 4 || a.Inspected != 3 || a.Shared != 1 || a.Warnings != 1 || len(a.Failures) != 1 || m.Clean() || len(m.Missing) != 0 {
		t.Fatalf("%+v / %+v", m, a)
	}
	g := a.Groups[0]
	if g.Kind != audit.MachineID || g.Images != 2 || g.Holders[0].Image != "a" || g.Holders[1].Image != "c" || g.Value != audit.Digest(key, audit.MachineID, "m1") {
		t.Fatalf("group %+v", g)
	}
	if fmt.Sprint(a.Clusters) != "[{[a c] [machine-id]}]" {
		t.Fatalf("clusters %v", a.Clusters)
	}
}

func FuzzMerge(f *testing.F) {
	f.Add(`{"image":"a"}` + "\n" + `{"summary":{"shard":{"index":0,"count":2}}}`)
	f.Add(`{"groups":[],"identities":[{"kind":"hostname","digest":"d","image":"x"}],"shard":{"index":1,"count":2}}`)
	f.Add(`{"image":"a","error":"e"}` + "\n" + `{"image":"a"}`)
	f.Fuzz(func(t *testing.T, s string) {
		m, err := Merge([]Input{{Name: "f", R: strings.NewReader(s)}}, MergeOptions{})
		if err != nil {
			return
		}
		if m.Done+m.Failed != m.Images || len(m.Failures) != m.Failed || len(m.Missing) > m.Count {
			t.Fatalf("%+v", m)
		}
	})
}
