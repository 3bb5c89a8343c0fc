package audit

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/pkg/sysprep"
)

// groupsOf renders a report's groups without their values: kind,
// severity and images.
func groupsOf(r *Report) []string {
	var out []string
	for _, g := range r.Groups {
		var imgs []string
		for _, h := range g.Holders {
			imgs = append(imgs, h.Image+"@"+h.Where)
		}
		out = append(out, fmt.Sprintf("%s/%s/%d:%s", g.Kind, g.Severity, g.Images, strings.Join(imgs, ",")))
	}
	slices.Sort(out)
	return out
}

// Shards digesting their own images, merged, find what one audit of all
// the images finds, and no identity value appears in what they write.
func TestMergedDigestsFindWhatOneAuditFinds(t *testing.T) {
	const mid = "0123456789abcdef0123456789abcdef"
	all := []*sysprep.Inspection{
		inspection("s0-a", facts{machineID: mid, hostname: "web", fsUUID: "uuid-1", keys: []string{"SHA256:k1"}}),
		inspection("s1-b", facts{machineID: mid, dbusID: mid, hostname: "web", fsUUID: "uuid-2", keys: []string{"SHA256:k2"}}),
		inspection("s2-c", facts{guid: "guid-1", hostname: "db", fsUUID: "uuid-1", keys: []string{"SHA256:k1"}}),
		inspection("s2-d", facts{guid: "GUID-1", claimed: "claim-9", hostname: "db2"}),
		inspection("s0-e", facts{claimed: "claim-9", machineID: "fedcba9876543210fedcba9876543210"}),
	}
	for _, strict := range []bool{false, true} {
		want := Analyze(all, !strict)
		key := []byte("a key the shards share")
		var ids []Identity
		for _, shard := range []string{"s0-", "s1-", "s2-"} {
			var part []*sysprep.Inspection
			for _, in := range all {
				if strings.HasPrefix(in.Image, shard) {
					part = append(part, in)
				}
			}
			written, err := json.Marshal(Digests(part, key))
			if err != nil {
				t.Fatal(err)
			}
			for _, secret := range []string{mid, "guid-1", "claim-9", "SHA256:k1", "uuid-1", "web"} {
				if strings.Contains(strings.ToLower(string(written)), secret) {
					t.Fatalf("shard %s writes %q in the clear: %s", shard, secret, written)
				}
			}
			var back []Identity
			if err := json.Unmarshal(written, &back); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, back...)
		}
		got := MergeIdentities(ids, !strict)
		if !slices.Equal(groupsOf(got), groupsOf(want)) {
			t.Fatalf("strict=%v merged:\n%s\none audit:\n%s", strict, strings.Join(groupsOf(got), "\n"), strings.Join(groupsOf(want), "\n"))
		}
		if got.Shared != want.Shared || got.Warnings != want.Warnings || got.Inspected != len(all) || want.Shared < 3 {
			t.Fatalf("strict=%v: merged %d shared, %d warnings, %d images; one audit %d, %d", strict, got.Shared, got.Warnings, got.Inspected, want.Shared, want.Warnings)
		}
		if fmt.Sprint(got.Clusters) != fmt.Sprint(want.Clusters) {
			t.Fatalf("clusters %v, want %v", got.Clusters, want.Clusters)
		}
	}
}

func TestDigestIsKeyedAndSeparatesKinds(t *testing.T) {
	a := Digest(nil, Hostname, "web")
	if a != Digest(DefaultDigestKey, Hostname, "web") || len(a) != 64 {
		t.Fatalf("default key digest %q", a)
	}
	if a == Digest([]byte("other"), Hostname, "web") {
		t.Fatalf("the key does not change the digest")
	}
	if Digest(nil, MachineID, "x") == Digest(nil, Hostname, "x") {
		t.Fatalf("two kinds of one value share a digest")
	}
}
