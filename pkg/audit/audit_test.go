package audit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/pkg/fs/memfs"
	"github.com/imgprep/imgprep/pkg/sysprep"
	"github.com/imgprep/imgprep/pkg/sysprep/syspreptest"
)

// facts builds one image's inspection: a guest with the given identity.
type facts struct {
	machineID, dbusID, guid, claimed, hostname, fsUUID string
	keys                                               []string
}

func inspection(image string, f facts) *sysprep.Inspection {
	g := sysprep.GuestFacts{Root: "ext4 on partition 2", Hostname: f.hostname,
		MachineID: sysprep.IDFact{State: "empty"}, DbusID: sysprep.IDFact{State: "missing"},
		Netdata: sysprep.NetdataFact{GUID: f.guid, ClaimedID: f.claimed}}
	if f.machineID != "" {
		g.MachineID = sysprep.IDFact{State: "set", Value: f.machineID}
	}
	if f.dbusID != "" {
		g.DbusID = sysprep.IDFact{State: "set", Value: f.dbusID}
	}
	for i, k := range f.keys {
		g.SSHKeys = append(g.SSHKeys, sysprep.SSHKey{Path: fmt.Sprintf("/etc/ssh/ssh_host_%d_key.pub", i), Type: "ssh-ed25519", Fingerprint: k})
	}
	in := &sysprep.Inspection{Image: image, Guests: []sysprep.GuestFacts{g}}
	if f.fsUUID != "" {
		in.Info.Filesystems = []sysprep.FilesystemInfo{{Desc: "ext4 on partition 2", Type: "ext4", UUID: f.fsUUID}}
	}
	return in
}

func kinds(r *Report, sev Severity) string {
	var out []string
	for _, g := range r.Groups {
		if g.Severity == sev {
			out = append(out, fmt.Sprintf("%s=%s×%d", g.Kind, g.Value, g.Images))
		}
	}
	return strings.Join(out, " ")
}

func TestAnalyzeGroupsSharedIdentities(t *testing.T) {
	const (
		mid1 = "0123456789abcdef0123456789abcdef"
		mid2 = "fedcba9876543210fedcba9876543210"
	)
	tests := []struct {
		name     string
		images   map[string]facts
		fsWarn   bool
		errors   string
		warnings string
		clusters string
	}{
		{"distinct machines share nothing", map[string]facts{
			"a": {machineID: mid1, hostname: "a", fsUUID: "u1", keys: []string{"SHA256:a"}},
			"b": {machineID: mid2, hostname: "b", fsUUID: "u2", keys: []string{"SHA256:b"}},
		}, false, "", "", ""},
		{"the same non-empty machine-id", map[string]facts{
			"a": {machineID: mid1}, "b": {machineID: mid1}, "c": {machineID: mid2},
		}, false, "machine-id=" + mid1 + "×2", "", "a,b(machine-id)"},
		{"a D-Bus copy equal to another image's machine-id", map[string]facts{
			"a": {machineID: mid1, dbusID: mid1}, "b": {dbusID: mid1},
		}, false, "machine-id=" + mid1 + "×2", "", "a,b(machine-id)"},
		{"an image's own D-Bus copy is not sharing", map[string]facts{
			"a": {machineID: mid1, dbusID: mid1}, "b": {machineID: mid2},
		}, false, "", "", ""},
		{"the same Netdata GUID or claimed_id", map[string]facts{
			"a": {guid: "G1", claimed: "C1"}, "b": {guid: "g1"}, "c": {claimed: "c1"},
		}, false, "netdata-guid=g1×2 netdata-claimed-id=c1×2", "", "a,b,c(netdata-guid,netdata-claimed-id)"},
		{"the same SSH host key", map[string]facts{
			"a": {keys: []string{"SHA256:k1", "SHA256:k2"}}, "b": {keys: []string{"SHA256:k2"}},
		}, false, "ssh-host-key=ssh-ed25519 SHA256:k2×2", "", "a,b(ssh-host-key)"},
		{"the same filesystem UUID is an error by default", map[string]facts{
			"a": {fsUUID: "0A1B"}, "b": {fsUUID: "0a1b"},
		}, false, "filesystem-uuid=0a1b×2", "", "a,b(filesystem-uuid)"},
		{"the same filesystem UUID as a warning", map[string]facts{
			"a": {fsUUID: "u"}, "b": {fsUUID: "u"},
		}, true, "", "filesystem-uuid=u×2", ""},
		{"the same hostname is a warning", map[string]facts{
			"a": {hostname: "template"}, "b": {hostname: "template"},
		}, false, "", "hostname=template×2", ""},
		{"empty values are no identity", map[string]facts{
			"a": {}, "b": {},
		}, false, "", "", ""},
		{"two groups joined by different identities form one cluster", map[string]facts{
			"a": {machineID: mid1}, "b": {machineID: mid1, guid: "g"}, "c": {guid: "g"}, "d": {machineID: mid2},
		}, false, "machine-id=" + mid1 + "×2 netdata-guid=g×2", "", "a,b,c(machine-id,netdata-guid)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ins []*sysprep.Inspection
			for _, name := range []string{"a", "b", "c", "d"} {
				if f, ok := tc.images[name]; ok {
					ins = append(ins, inspection(name, f))
				}
			}
			r := Analyze(ins, tc.fsWarn)
			if got := kinds(r, Error); got != tc.errors {
				t.Errorf("errors: %q, want %q", got, tc.errors)
			}
			if got := kinds(r, Warning); got != tc.warnings {
				t.Errorf("warnings: %q, want %q", got, tc.warnings)
			}
			var cl []string
			for _, c := range r.Clusters {
				ks := make([]string, len(c.Kinds))
				for i, k := range c.Kinds {
					ks[i] = string(k)
				}
				cl = append(cl, strings.Join(c.Images, ",")+"("+strings.Join(ks, ",")+")")
			}
			if got := strings.Join(cl, " "); got != tc.clusters {
				t.Errorf("clusters: %q, want %q", got, tc.clusters)
			}
			if r.Shared != strings.Count(tc.errors, "×") || r.Clean() != (tc.errors == "") {
				t.Errorf("shared %d, clean %v", r.Shared, r.Clean())
			}
		})
	}
}

func TestRunReadsImagesReadOnlyAndReportsUnreadableOnes(t *testing.T) {
	guest := func(id string) syspreptest.Guest {
		return syspreptest.Guest{Root: "ext4", FS: memfs.New().AddFile("/etc/machine-id", id+"\n", 0o444).AddFile("/etc/hostname", "h\n", 0o644)}
	}
	const shared = "0123456789abcdef0123456789abcdef"
	b := &syspreptest.Backend{Images: map[string]*syspreptest.Image{}}
	var names []string
	for i := 0; i < 12; i++ {
		name := fmt.Sprintf("img-%02d", i)
		id := fmt.Sprintf("%032x", i+1)
		if i < 3 {
			id = shared
		}
		b.Images[name] = &syspreptest.Image{Guests: []syspreptest.Guest{guest(id)}}
		names = append(names, name)
	}
	b.Images["broken"] = &syspreptest.Image{OpenErr: errors.New("bad header")}
	names = append(names, "broken")
	r := Run(context.Background(), names, Options{Inspect: sysprep.Options{Backend: b}, Jobs: 4})
	if r.Images != 13 || r.Inspected != 12 || len(r.Failures) != 1 || r.Failures[0].Item != "broken" {
		t.Fatalf("report %+v", r)
	}
	if r.Shared != 1 || len(r.Clusters) != 1 || strings.Join(r.Clusters[0].Images, ",") != "img-00,img-01,img-02" {
		t.Fatalf("groups %+v clusters %+v", r.Groups, r.Clusters)
	}
	if r.Warnings != 1 || r.Clean() {
		t.Fatalf("warnings %d clean %v", r.Warnings, r.Clean())
	}
	for _, name := range names {
		for _, o := range b.Images[name].Opens {
			if o.Write || o.DryRun {
				t.Fatalf("%s opened for writing: %+v", name, o)
			}
		}
		if b.Images[name].Commits != 0 {
			t.Fatalf("%s committed", name)
		}
	}
}

// TestAnalyzeVolumeGroupUUIDs: a VG UUID shared by images is an
// lvm-vg-uuid group, a warning like a filesystem UUID (an error under
// --strict); a VG UUID of one image alone is no group.
func TestAnalyzeVolumeGroupUUIDs(t *testing.T) {
	const vg = "Ubuvg0-0000-4000-8000-0000-0000-000001"
	var ins []*sysprep.Inspection
	for i, id := range []string{vg, vg, "Other0-0000-4000-8000-0000-0000-000001"} {
		in := inspection(fmt.Sprintf("img%d", i), facts{})
		in.Info.VolumeGroups = []sysprep.VolumeGroupInfo{{Name: "ubuntu-vg", UUID: id}}
		ins = append(ins, in)
	}
	for _, warn := range []bool{true, false} {
		r := Analyze(ins, warn)
		if len(r.Groups) != 1 || r.Groups[0].Kind != LVMVGUUID || r.Groups[0].Value != vg || r.Groups[0].Images != 2 ||
			r.Groups[0].Holders[0].Where != "LVM2 VG ubuntu-vg" {
			t.Fatalf("warn %v: groups %+v", warn, r.Groups)
		}
		want := Error
		if warn {
			want = Warning
		}
		if r.Groups[0].Severity != want {
			t.Errorf("warn %v: severity %s, want %s", warn, r.Groups[0].Severity, want)
		}
	}
}
