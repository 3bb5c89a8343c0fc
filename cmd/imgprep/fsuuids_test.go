package main

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
)

// TestAcceptanceClonesWithFsUUIDsPassAuditStrict: linked clones of the
// GPT template (ESP, ext4 root, ext4 /var) made with --operations
// defaults,fs-uuids no longer share its filesystem UUIDs, so audit
// --strict finds none shared; each filesystem's UUID, as blkid reads it,
// is its own, each clone's fstab names its own, and e2fsck -fn is clean.
// Clones made without fs-uuids still fail --strict.
func TestAcceptanceClonesWithFsUUIDsPassAuditStrict(t *testing.T) {
	oracle.Require(t, "qemu-img")
	tmpl := fixture.Path(t, "disk-gpt.qcow2")
	dir := filepath.Dir(tmpl)
	// The partitions: 1 the ESP (vfat), 2 the ext4 root, 3 the ext4 /var.
	uuids := func(raw string) (map[int]string, map[int]int64) {
		starts := fdiskStarts(t, raw, 512)
		u := map[int]string{}
		for part := 1; part <= 3; part++ {
			u[part] = blkidUUID(t, raw, starts[part])
		}
		return u, starts
	}
	tmplUUIDs, starts := uuids(rawOf(t, tmpl))
	fstab := string(mustCat(t, oracle.Device(rawOf(t, tmpl), starts[2]), "/etc/fstab"))
	if !strings.Contains(fstab, "UUID="+tmplUUIDs[2]+" ") || !strings.Contains(fstab, "UUID="+tmplUUIDs[3]+" ") {
		t.Fatalf("the template's fstab does not name root and /var by UUID:\n%s", fstab)
	}
	mustRun(t, 0, "clone", "--linked", "--count", "3", "--name-pattern", filepath.Join(dir, "web-{n}.qcow2"),
		"--machine-id", "random", "--hostname-pattern", "web-{n}", "--operations", "defaults,fs-uuids", tmpl)
	var paths []string
	seen := map[string]string{}
	for _, u := range tmplUUIDs {
		seen[u] = tmpl
	}
	for n := 1; n <= 3; n++ {
		p := filepath.Join(dir, fmt.Sprintf("web-%d.qcow2", n))
		paths = append(paths, p)
		raw := rawOf(t, p)
		u, starts := uuids(raw)
		for part, id := range u {
			if other, dup := seen[id]; dup {
				t.Errorf("%s partition %d has UUID %s, as %s does", p, part, id, other)
			}
			seen[id] = p
		}
		oracle.E2fsckClean(t, oracle.Device(raw, starts[2]))
		oracle.E2fsckClean(t, oracle.Device(raw, starts[3]))
		fstab := string(mustCat(t, oracle.Device(raw, starts[2]), "/etc/fstab"))
		if !strings.Contains(fstab, "UUID="+u[2]+" ") || !strings.Contains(fstab, "UUID="+u[3]+" ") ||
			strings.Contains(fstab, tmplUUIDs[2]) || strings.Contains(fstab, tmplUUIDs[3]) {
			t.Errorf("%s: fstab does not follow the new UUIDs %s and %s:\n%s", p, u[2], u[3], fstab)
		}
	}
	r := mustRun(t, 0, append([]string{"audit", "--strict"}, paths...)...)
	if strings.Contains(r.stdout, "filesystem-uuid") {
		t.Errorf("audit --strict still finds shared filesystem UUIDs:\n%s", r.stdout)
	}
	// Without fs-uuids the same clones share them, and --strict fails.
	mustRun(t, 0, "clone", "--linked", "--name-pattern", filepath.Join(dir, "plain-{n}.qcow2"), "--count", "2",
		"--machine-id", "random", "--hostname-pattern", "plain-{n}", tmpl)
	s := mustRun(t, 1, "audit", "--strict", filepath.Join(dir, "plain-1.qcow2"), filepath.Join(dir, "plain-2.qcow2"))
	if !strings.Contains(s.stdout, "error: filesystem-uuid "+tmplUUIDs[2]) {
		t.Errorf("audit --strict of clones without fs-uuids:\n%s", s.stdout)
	}
}

func mustCat(t *testing.T, dev, p string) []byte {
	t.Helper()
	b, ok := oracle.DebugfsCat(t, dev, p)
	if !ok {
		t.Fatalf("debugfs finds no %s on %s", p, dev)
	}
	return b
}

// blkidUUID is the UUID blkid reads from the filesystem at byte offset
// off of raw.
func blkidUUID(t *testing.T, raw string, off int64) string {
	t.Helper()
	out, errOut, code := oracle.Run(t, "blkid", "-p", "-O", strconv.FormatInt(off, 10), "-o", "value", "-s", "UUID", raw)
	if code != 0 || strings.TrimSpace(out) == "" {
		t.Fatalf("blkid -p %s: exit %d: %s", raw, code, errOut)
	}
	return strings.TrimSpace(out)
}
