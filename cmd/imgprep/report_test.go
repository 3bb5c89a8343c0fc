package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/pkg/ops"
	"github.com/imgprep/imgprep/pkg/sysprep"
)

func TestPrintReportAlignsPathsWhateverTheOperationNames(t *testing.T) {
	change := func(op string, action ops.Action, path string) sysprep.Change {
		return sysprep.Change{Operation: op, Change: ops.Change{Action: action, Path: path}}
	}
	tests := []struct {
		name    string
		changes []sysprep.Change
	}{
		{"short names", []sysprep.Change{
			change("machine-id", "truncate", "/etc/machine-id"),
			change("ssh", "remove", "/etc/ssh/ssh_host_rsa_key"),
		}},
		{"a name longer than eleven characters (package-manager-cache)", []sysprep.Change{
			change("machine-id", "truncate", "/etc/machine-id"),
			change("package-manager-cache", "remove", "/var/cache/apt/archives/x.deb"),
			change("rh-subscription-manager", "remove", "/etc/pki/consumer/cert.pem"),
		}},
		{"a long action", []sysprep.Change{
			change("netdata", "remove", "/var/lib/netdata/registry/netdata.public.unique.id"),
			change("cron-spool", "overwrite-long", "/var/spool/at/.SEQ"),
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &sysprep.Report{Image: "x.qcow2", Format: "qcow2",
				Guests: []sysprep.GuestReport{{Root: "ext4", Changes: tc.changes}}}
			var out bytes.Buffer
			printReport(&out, r, false)
			col := -1
			for _, ch := range tc.changes {
				var line string
				for _, l := range strings.Split(out.String(), "\n") {
					if strings.HasSuffix(l, " "+ch.Path) && strings.Contains(l, " "+ch.Operation+" ") {
						line = l
					}
				}
				if line == "" {
					t.Fatalf("no line for %s %s:\n%s", ch.Operation, ch.Path, out.String())
				}
				c := strings.LastIndex(line, " "+ch.Path) + 1
				if col >= 0 && c != col {
					t.Errorf("path %s starts at column %d, the first at %d:\n%s", ch.Path, c, col, out.String())
				}
				col = c
				if f := strings.Fields(line); len(f) < 3 || f[0] != ch.Operation || f[1] != string(ch.Action) {
					t.Errorf("line %q: want operation, action, path as columns", line)
				}
			}
		})
	}
}
