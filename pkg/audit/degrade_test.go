package audit

import (
	"context"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
)

// TestAuditXFSVarAndNoOSSucceedWithNotes: with the real disk stack, an
// image whose /var is xfs (read, and empty) and one with no operating
// system are audited, not failed: the latter gets a note saying so.
func TestAuditXFSVarAndNoOSSucceedWithNotes(t *testing.T) {
	dir := t.TempDir()
	varxfs := fixture.PathIn(t, "guest-varxfs.raw", dir)
	xfsroot := fixture.PathIn(t, "guest-xfsroot.raw", dir)
	gpt := fixture.PathIn(t, "disk-gpt.qcow2", dir)
	rep := Run(context.Background(), []string{varxfs, xfsroot, gpt}, Options{})
	if len(rep.Failures) != 0 || rep.Inspected != 3 {
		t.Fatalf("failures %+v, %d inspected: want none and 3", rep.Failures, rep.Inspected)
	}
	got := map[string][]string{}
	for _, n := range rep.Notes {
		got[n.Image] = append(got[n.Image], n.Note)
	}
	checks := []struct {
		image string
		want  []string
	}{
		{xfsroot, []string{"no operating system found"}},
		{gpt, []string{"guest on ext4 on partition 2: fstab mounts /srv from", "which is missing"}},
	}
	if len(got[varxfs]) != 0 {
		t.Errorf("%s: notes %q, want none (its xfs /var is read)", varxfs, got[varxfs])
	}
	for _, c := range checks {
		if len(got[c.image]) != 1 {
			t.Errorf("%s: notes %q, want one", c.image, got[c.image])
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(got[c.image][0], w) {
				t.Errorf("%s: note %q lacks %q", c.image, got[c.image][0], w)
			}
		}
	}
	// What could be read is compared: the xfs guest's root carries the
	// same machine-id as disk-gpt (both come from one generator).
	found := false
	for _, g := range rep.Groups {
		for _, h := range g.Holders {
			found = found || (g.Kind == MachineID && h.Image == varxfs && h.Where == "/etc/machine-id on ext4 on partition 1")
		}
	}
	if !found {
		t.Errorf("the xfs guest's /etc/machine-id was not compared: %+v", rep.Groups)
	}
	// Alone, the xfs guest audits clean.
	if alone := Run(context.Background(), []string{varxfs}, Options{}); !alone.Clean() || len(alone.Notes) != 0 {
		t.Errorf("alone: clean %v, notes %+v, failures %+v", alone.Clean(), alone.Notes, alone.Failures)
	}
}
