package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
)

// TestAcceptanceLVMClonesPassAuditStrict: full clones of Ubuntu Server's
// LVM layout made with --operations defaults,fs-uuids (lvm-uuids is a
// default) share no PV UUID (blkid reads each PV's own), no VG UUID and
// no filesystem UUID, so audit --strict passes; clones made without
// lvm-uuids share the template's PV and VG UUIDs and fail it.
func TestAcceptanceLVMClonesPassAuditStrict(t *testing.T) {
	tmpl := fixture.Path(t, "lvm-ubuntu.raw")
	dir := filepath.Dir(tmpl)
	p3 := oracle.Partitions(t, tmpl)[3]
	tmplPV := blkidUUID(t, tmpl, p3.Start)
	mustRun(t, 0, "clone", "--full", "--output-format", "raw", "--count", "2", "--name-pattern", filepath.Join(dir, "u-{n}.raw"), "--hostname-pattern", "u-{n}",
		"--operations", "defaults,fs-uuids", tmpl)
	seen := map[string]string{tmplPV: tmpl}
	var paths []string
	for n := 1; n <= 2; n++ {
		p := filepath.Join(dir, fmt.Sprintf("u-%d.raw", n))
		paths = append(paths, p)
		pv := blkidUUID(t, p, p3.Start)
		if other, dup := seen[pv]; dup {
			t.Errorf("%s: PV UUID %s, as %s has", p, pv, other)
		}
		seen[pv] = p
	}
	r := mustRun(t, 0, append([]string{"audit", "--strict"}, paths...)...)
	if strings.Contains(r.stdout, "filesystem-uuid") || strings.Contains(r.stdout, "lvm-vg-uuid") {
		t.Errorf("audit --strict finds shared UUIDs:\n%s", r.stdout)
	}
	mustRun(t, 0, "clone", "--full", "--output-format", "raw", "--count", "2", "--name-pattern", filepath.Join(dir, "plain-{n}.raw"), "--hostname-pattern", "plain-{n}",
		"--operations", "defaults,fs-uuids,-lvm-uuids", tmpl)
	s := mustRun(t, 1, "audit", "--strict", filepath.Join(dir, "plain-1.raw"), filepath.Join(dir, "plain-2.raw"))
	if !strings.Contains(s.stdout, "error: filesystem-uuid "+strings.ToLower(tmplPV)) ||
		!strings.Contains(s.stdout, "error: lvm-vg-uuid Ubuvg0-0000-4000-8000-0000-0000-000001") {
		t.Errorf("audit --strict of clones without lvm-uuids:\n%s", s.stdout)
	}
}
