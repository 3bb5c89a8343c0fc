package netdata

import (
	"testing"

	"github.com/imgprep/imgprep/pkg/fs/memfs"
)

func TestGroupID(t *testing.T) {
	tests := []struct {
		name  string
		group string
		want  uint32
	}{
		{"the netdata group's gid", "root:x:0:\nnetdata:x:997:\n", 997},
		{"no netdata group means root", "root:x:0:\n", 0},
		{"a group named netdata-ish is not netdata", "netdatax:x:5:\n", 0},
		{"a malformed gid means root", "netdata:x:abc:\n", 0},
		{"a short line is skipped", "netdata\nnetdata:x:12:\n", 12},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := groupID(memfs.New().AddFile("/etc/group", tc.group, 0o644), "netdata")
			if err != nil || got != tc.want {
				t.Fatalf("groupID = %d, %v; want %d", got, err, tc.want)
			}
		})
	}
}

func FuzzGroupFile(f *testing.F) {
	for _, s := range []string{"root:x:0:\nnetdata:x:997:\n", "netdata:x:4294967296:\n", ":::\n", "netdata:x:-1:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, group string) {
		if _, err := groupID(memfs.New().AddFile("/etc/group", group, 0o644), "netdata"); err != nil {
			t.Fatalf("groupID(%q): %v", group, err)
		}
	})
}
