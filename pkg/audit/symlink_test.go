package audit

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/pkg/fs/memfs"
	"github.com/imgprep/imgprep/pkg/sysprep"
	"github.com/imgprep/imgprep/pkg/sysprep/syspreptest"
)

// Finding 9: TestAuditNeverFollowsASymlinkedIdentityFile: two images whose
// /etc/hostname, Netdata GUID and claimed_id are symlinks to the same
// /etc/shadow share no identity through it, and the report (and its
// JSON) never holds the shadow line.
func TestAuditNeverFollowsASymlinkedIdentityFile(t *testing.T) {
	const hash = "$6$saltsalt$AuditMustNeverShowThisHash"
	root := func() *memfs.FS {
		return memfs.New().
			AddFile("/etc/shadow", "root:"+hash+":19675:0:99999:7:::\n", 0o640).
			AddFile("/etc/machine-id", "\n", 0o444).
			AddSymlink("/etc/hostname", "/etc/shadow").
			AddSymlink("/var/lib/netdata/registry/netdata.public.unique.id", "/etc/shadow").
			AddSymlink("/var/lib/netdata/cloud.d/claimed_id", "/etc/shadow")
	}
	b := &syspreptest.Backend{Images: map[string]*syspreptest.Image{
		"a": {Guests: []syspreptest.Guest{{Root: "ext4", FS: root()}}},
		"b": {Guests: []syspreptest.Guest{{Root: "ext4", FS: root()}}},
	}}
	var read []*sysprep.Inspection
	r := run(context.Background(), []string{"a", "b"}, Options{Inspect: sysprep.Options{Backend: b}}, &read)
	j, _ := json.Marshal(r)
	ji, _ := json.Marshal(read)
	for _, out := range []string{string(j), string(ji)} {
		if strings.Contains(out, "AuditMustNeverShowThisHash") || strings.Contains(out, "root:") {
			t.Fatalf("the audit shows the file a symlink points to: %s", out)
		}
	}
	if len(r.Groups) != 0 || !r.Clean() {
		t.Fatalf("groups %+v: a shared identity read through a symlink", r.Groups)
	}
	if len(read) != 2 || len(read[0].Guests[0].Symlinks) != 3 {
		t.Fatalf("inspections %s: want the 3 symlinks reported", ji)
	}
}
