package guest

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/oracle"
)

// joinFixture scans vm-disk1.raw and vm-disk2.raw and joins them.
func joinFixture(t *testing.T, writable bool) (*Layout, []string) {
	t.Helper()
	names := []string{"vm-disk1.raw", "vm-disk2.raw"}
	var layouts []*Layout
	var paths []string
	for _, n := range names {
		d, p := openRaw(t, n, writable)
		l, err := Scan(d, Options{Name: n, Writable: writable})
		if err != nil {
			t.Fatal(err)
		}
		layouts, paths = append(layouts, l), append(paths, p)
	}
	j, err := Join(names, layouts...)
	if err != nil {
		t.Fatal(err)
	}
	return j, paths
}

// TestJoinResolvesFstabAcrossDisks: the root on the first disk mounts /var
// from the second by UUID= and /srv/data by the second virtio disk's
// kernel name; /backup names a UUID on neither.
func TestJoinResolvesFstabAcrossDisks(t *testing.T) {
	j, _ := joinFixture(t, false)
	gs, err := j.Guests()
	if err != nil || len(gs) != 1 {
		t.Fatalf("Guests: %d, %v", len(gs), err)
	}
	g := gs[0]
	var got []string
	for _, m := range g.Mounts() {
		got = append(got, m.Point+"="+m.FS.Desc())
	}
	want := "/=ext4 on partition 1 of vm-disk1.raw /var=ext4 on partition 1 of vm-disk2.raw /srv/data=ext4 on partition 2 of vm-disk2.raw"
	if strings.Join(got, " ") != want {
		t.Fatalf("mounts %s, want %s", strings.Join(got, " "), want)
	}
	u := g.Unresolved()
	if len(u) != 1 || u[0].Point != "/backup" || !strings.Contains(u[0].Reason, "no filesystem on these disks matches UUID=0bad0bad") {
		t.Fatalf("unresolved %+v", u)
	}
	id, err := g.ReadFile("/var/lib/netdata/registry/netdata.public.unique.id")
	if err != nil || string(id) != "6e4c2d1f-8a3b-11ee-9d5e-0242ac120003\n" {
		t.Fatalf("netdata GUID on the second disk: %q, %v", id, err)
	}
	if _, err := g.ReadFile("/backup/x"); !errors.Is(err, ErrUnresolvedMount) {
		t.Fatalf("a path under the missing /backup: %v, want ErrUnresolvedMount", err)
	}
}

// TestJoinAloneLeavesVarUnresolved: the first disk alone has the guest,
// with /var and /srv/data unresolved and said to be on another disk.
func TestJoinAloneLeavesVarUnresolved(t *testing.T) {
	g, _, _ := scanGuest(t, "vm-disk1.raw", false)
	var got []string
	for _, u := range g.Unresolved() {
		got = append(got, u.Point+": "+u.Reason)
	}
	want := []string{
		"/var: no filesystem on this disk matches UUID=0a1b2c3d-0000-4000-8000-0000000000a2",
		"/srv/data: /dev/vdb2 is on another disk than this one (name every disk of the VM)",
		"/backup: no filesystem on this disk matches UUID=0bad0bad-0000-4000-8000-0000000000a4",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("unresolved:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestJoinWritesBothDisks: changes through the joined guest land on the
// disk that holds each path, and e2fsck finds both disks clean.
func TestJoinWritesBothDisks(t *testing.T) {
	j, paths := joinFixture(t, true)
	gs, err := j.Guests()
	if err != nil {
		t.Fatal(err)
	}
	g := gs[0]
	for _, p := range []string{"/var/lib/dhcp/dhclient.ens3.leases", "/var/lib/netdata/registry/netdata.public.unique.id", "/etc/ssh/ssh_host_ed25519_key"} {
		if err := g.Remove(p); err != nil {
			t.Fatalf("remove %s: %v", p, err)
		}
	}
	if err := g.Truncate("/etc/machine-id", 0); err != nil {
		t.Fatal(err)
	}
	if err := g.Sync(); err != nil {
		t.Fatal(err)
	}
	oracle.E2fsckClean(t, paths[0]+"?offset=1048576")
	oracle.E2fsckClean(t, paths[1]+"?offset=1048576")
	oracle.E2fsckClean(t, paths[1]+fmt.Sprintf("?offset=%d", fsAt(t, j, 2).Offset))
	if _, ok := oracle.DebugfsCat(t, paths[1]+"?offset=1048576", "/lib/dhcp/dhclient.ens3.leases"); ok {
		t.Error("the lease is still on the second disk")
	}
	if _, ok := oracle.DebugfsCat(t, paths[0]+"?offset=1048576", "/etc/ssh/ssh_host_ed25519_key"); ok {
		t.Error("the host key is still on the first disk")
	}
	if st := oracle.Debugfs(t, paths[1]+"?offset=1048576", "stat /lib/dbus/machine-id"); !strings.Contains(st, "Size: 33") {
		t.Errorf("the second disk's other files changed:\n%s", st)
	}
}
