package netdata_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/fs/memfs"
	"github.com/imgprep/imgprep/pkg/ops"
	"github.com/imgprep/imgprep/pkg/ops/netdata"
	"github.com/imgprep/imgprep/pkg/ops/opstest"
)

var claim = &netdata.Claim{Token: "SECRET-CLAIM-TOKEN", Rooms: "room1,room2", Proxy: "http://proxy:3128"}

func TestConformance(t *testing.T) {
	t.Run("without claim", func(t *testing.T) { opstest.Conformance(t, netdata.New(netdata.Options{})) })
	t.Run("with claim", func(t *testing.T) { opstest.Conformance(t, netdata.New(netdata.Options{Claim: claim})) })
}

func paths(cs []ops.Change) []string {
	var out []string
	for _, c := range cs {
		out = append(out, string(c.Action)+" "+c.Path)
	}
	return out
}

func TestNetdata(t *testing.T) {
	tests := []struct {
		name  string
		root  func() *memfs.FS
		claim *netdata.Claim
		want  []string
	}{
		{
			name: "the GUID, every status file, cloud.d and the node database go; claim.conf stays",
			root: opstest.Populated,
			want: []string{
				"removed /var/lib/netdata/registry/netdata.public.unique.id",
				"removed /var/lib/netdata/status-netdata.json",
				"removed /var/cache/netdata/status-netdata.json",
				"removed /tmp/status-netdata.json",
				"removed /run/status-netdata.json",
				"removed /var/lib/netdata/cloud.d",
				"removed /var/cache/netdata/netdata-meta.db",
				"removed /var/cache/netdata/netdata-meta.db-shm",
				"removed /var/cache/netdata/netdata-meta.db-wal",
				"removed /var/cache/netdata/context-meta.db",
			},
		},
		{
			name: "with /var/run -> ../run the status file is reported once",
			root: func() *memfs.FS {
				return memfs.New().AddFile("/run/status-netdata.json", "{}", 0o644).AddSymlink("/var/run", "../run")
			},
			want: []string{"removed /run/status-netdata.json"},
		},
		{
			name: "a cloud.d symlink is removed, not what it points to",
			root: func() *memfs.FS {
				return memfs.New().AddFile("/etc/passwd", "root", 0o644).AddSymlink("/var/lib/netdata/cloud.d", "/etc")
			},
			want: []string{"removed /var/lib/netdata/cloud.d"},
		},
		{
			name:  "a claim creates /etc/netdata and claim.conf",
			root:  func() *memfs.FS { return memfs.New().AddFile("/etc/group", "root:x:0:\nnetdata:x:997:\n", 0o644) },
			claim: claim,
			want:  []string{"created /etc/netdata", "created /etc/netdata/claim.conf"},
		},
		{
			name:  "a claim overwrites an existing claim.conf",
			root:  opstest.Populated,
			claim: &netdata.Claim{Token: "T"},
			want: []string{
				"removed /var/lib/netdata/registry/netdata.public.unique.id",
				"removed /var/lib/netdata/status-netdata.json",
				"removed /var/cache/netdata/status-netdata.json",
				"removed /tmp/status-netdata.json",
				"removed /run/status-netdata.json",
				"removed /var/lib/netdata/cloud.d",
				"removed /var/cache/netdata/netdata-meta.db",
				"removed /var/cache/netdata/netdata-meta.db-shm",
				"removed /var/cache/netdata/netdata-meta.db-wal",
				"removed /var/cache/netdata/context-meta.db",
				"written /etc/netdata/claim.conf",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.root()
			got, err := netdata.New(netdata.Options{Claim: tc.claim}).Apply(context.Background(), f)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(paths(got), tc.want) {
				t.Fatalf("changes\n  %s\nwant\n  %s", strings.Join(paths(got), "\n  "), strings.Join(tc.want, "\n  "))
			}
			for _, c := range got {
				if strings.Contains(c.Detail, "SECRET") || strings.Contains(c.Detail, "T)") {
					t.Errorf("change %+v leaks the token", c)
				}
			}
			if tc.claim == nil {
				want, werr := tc.root().ReadFile(netdata.ClaimPath)
				got, gerr := f.ReadFile(netdata.ClaimPath)
				if (werr == nil) != (gerr == nil) || string(got) != string(want) {
					t.Errorf("claim.conf changed: %q (%v), want %q (%v)", got, gerr, want, werr)
				}
			}
		})
	}
}

func TestClaimConf(t *testing.T) {
	f := memfs.New().AddFile("/etc/group", "root:x:0:\nnetdata:x:997:\n", 0o644)
	if _, err := netdata.New(netdata.Options{Claim: claim}).Apply(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	got, err := f.ReadFile(netdata.ClaimPath)
	if err != nil {
		t.Fatal(err)
	}
	want := "[global]\n    url = https://app.netdata.cloud\n    token = SECRET-CLAIM-TOKEN\n    rooms = room1,room2\n    proxy = http://proxy:3128\n    insecure = no\n"
	if string(got) != want {
		t.Fatalf("claim.conf =\n%s\nwant\n%s", got, want)
	}
	a, _ := f.Lstat(netdata.ClaimPath)
	if a.Perm() != 0o640 || a.UID != 0 || a.GID != 997 {
		t.Fatalf("claim.conf mode %o owner %d:%d, want 0640 0:997 (the guest's netdata group)", a.Perm(), a.UID, a.GID)
	}
	d, _ := f.Lstat("/etc/netdata")
	if d.Type() != fs.TypeDir || d.Perm() != 0o755 {
		t.Fatalf("/etc/netdata: %+v", d)
	}

	// No netdata group: root.
	f = memfs.New().AddDir("/etc", 0o755)
	if _, err := netdata.New(netdata.Options{Claim: claim}).Apply(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	if a, _ := f.Lstat(netdata.ClaimPath); a.GID != 0 {
		t.Fatalf("gid %d without a netdata group, want 0", a.GID)
	}
}

func TestBadClaim(t *testing.T) {
	tests := []struct {
		name  string
		claim netdata.Claim
	}{
		{"a claim needs a token", netdata.Claim{Rooms: "r"}},
		{"a line break would inject INI keys", netdata.Claim{Token: "SECRET-CLAIM-TOKEN", Rooms: "r\ninsecure = yes"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := opstest.Populated()
			before := opstest.Take(t, f)
			_, err := netdata.New(netdata.Options{Claim: &tc.claim}).Apply(context.Background(), f)
			if !errors.Is(err, netdata.ErrBadClaim) {
				t.Fatalf("err %v, want ErrBadClaim", err)
			}
			if strings.Contains(err.Error(), tc.claim.Token) && tc.claim.Token != "" {
				t.Fatalf("error leaks the token: %v", err)
			}
			if d := opstest.Diff(before, opstest.Take(t, f)); len(d) != 0 {
				t.Fatalf("bad claim changed %v", d)
			}
		})
	}
}
