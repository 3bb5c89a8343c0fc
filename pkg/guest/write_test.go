package guest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/deadline"
	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/image"
)

// TestScanQcow2TwinsMatchRaw scans each qcow2 fixture through pkg/image
// and expects exactly what its raw twin gives.
func TestScanQcow2TwinsMatchRaw(t *testing.T) {
	for _, name := range []string{"disk-gpt", "disk-mbr", "disk-none"} {
		t.Run(name, func(t *testing.T) {
			d, _ := openRaw(t, name+".raw", false)
			lr, err := Scan(d, Options{})
			if err != nil {
				t.Fatal(err)
			}
			h, err := image.Open(fixture.Path(t, name+".qcow2"), image.OpenOptions{Format: "auto"})
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			if h.Format() != "qcow2" {
				t.Fatalf("format %s", h.Format())
			}
			lq, err := Scan(h, Options{Name: name + ".qcow2"})
			if err != nil {
				t.Fatal(err)
			}
			if a, b := describe(lr), describe(lq); a != b {
				t.Fatalf("raw:\n%s\nqcow2:\n%s", a, b)
			}
			gs, err := lq.Guests()
			if err != nil || len(gs) != 1 {
				t.Fatalf("Guests: %d, %v", len(gs), err)
			}
			if b, err := gs[0].ReadFile("/var/lib/netdata/registry/netdata.public.unique.id"); err != nil || string(b) != "8d3b5c1e-7f2a-11ee-9c4d-0242ac120002\n" {
				t.Fatalf("GUID through qcow2: %q, %v", b, err)
			}
		})
	}
}

// sysprepLike makes the changes imgprep's default operations make, through
// guest paths that cross the /var mount and the /var/run -> /run link.
func sysprepLike(tb testing.TB, g *Guest) {
	tb.Helper()
	steps := []struct {
		what string
		do   func() error
	}{
		{"empty /etc/machine-id", func() error { return g.Truncate("/etc/machine-id", 0) }},
		{"remove the D-Bus machine-id", func() error { return g.Remove("/var/lib/dbus/machine-id") }},
		{"remove Netdata's GUID on /var", func() error { return g.Remove("/var/lib/netdata/registry/netdata.public.unique.id") }},
		{"remove cloud.d on /var", func() error { return g.RemoveAll("/var/lib/netdata/cloud.d") }},
		{"remove the status file through /var/run -> /run", func() error { return g.Remove("/var/run/status-netdata.json") }},
		{"remove the SSH host keys", func() error {
			for _, k := range []string{"ed25519", "rsa"} {
				for _, suffix := range []string{"", ".pub"} {
					if err := g.Remove("/etc/ssh/ssh_host_" + k + "_key" + suffix); err != nil {
						return err
					}
				}
			}
			return nil
		}},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			tb.Fatalf("%s: %v", s.what, err)
		}
	}
	if err := g.Sync(); err != nil {
		tb.Fatal(err)
	}
}

// TestGuestWritesAcrossMountsPassE2fsck makes sysprep's changes on the
// GPT fixture and has e2fsck and debugfs judge both ext4 filesystems, and
// fsck.fat and mtools the ESP.
func TestGuestWritesAcrossMountsPassE2fsck(t *testing.T) {
	g, l, p := scanGuest(t, "disk-gpt.raw", true)
	root, vfs, esp := fsAt(t, l, 2), fsAt(t, l, 3), fsAt(t, l, 1)
	if !root.Writable || !vfs.Writable {
		t.Fatalf("root writable=%t (%s), /var writable=%t (%s)", root.Writable, root.Why, vfs.Writable, vfs.Why)
	}
	if !esp.Writable {
		t.Fatalf("ESP not writable: %s", esp.Why)
	}
	// systemd's image guide: the ESP's loader/random-seed goes too.
	if err := g.Remove("/boot/efi/loader/random-seed"); err != nil {
		t.Fatal(err)
	}
	sysprepLike(t, g)
	after, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	espImg := p + ".esp"
	if err := os.WriteFile(espImg, after[esp.Offset:esp.Offset+esp.Size], 0o600); err != nil {
		t.Fatal(err)
	}
	fsckFatClean(t, espImg)
	if out, _, code := oracle.Run(t, "mtype", "-i", espImg, "::/loader/random-seed"); code == 0 {
		t.Errorf("the ESP's random seed is still there: %q", out)
	}
	if out, _, code := oracle.Run(t, "mtype", "-i", espImg, "::/EFI/BOOT/BOOTX64.EFI"); code != 0 || out != "MZ fake EFI loader\n" {
		t.Errorf("the ESP's loader changed: %q", out)
	}
	rootDev, varDev := oracle.Device(p, root.Offset), oracle.Device(p, vfs.Offset)
	oracle.E2fsckClean(t, rootDev)
	oracle.E2fsckClean(t, varDev)
	checks := []struct {
		dev, path string
		want      string // a prefix of the content, or all of it with exact
		absent    bool
		exact     bool
	}{
		{rootDev, "/etc/machine-id", "", false, true},
		{rootDev, "/etc/hostname", "template\n", false, false},
		{rootDev, "/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n", false, false},
		{rootDev, "/run/status-netdata.json", "", true, false},
		{rootDev, "/etc/ssh/ssh_host_ed25519_key", "", true, false},
		{rootDev, "/etc/ssh/sshd_config", "Port 22\nPermitRootLogin no\n", false, false},
		{rootDev, "/tmp/status-netdata.json", `{"agent"`, false, false},
		{varDev, "/lib/netdata/registry/netdata.public.unique.id", "", true, false},
		{varDev, "/lib/netdata/cloud.d/token", "", true, false},
		{varDev, "/lib/dbus/machine-id", "", true, false},
		{varDev, "/log/syslog", "Nov 14 22:13:21 template kernel: line 1\n", false, false},
		{varDev, "/cache/netdata/netdata-meta.db", "SQLite format 3", false, false},
	}
	for _, c := range checks {
		got, ok := oracle.DebugfsCat(t, c.dev, c.path)
		switch {
		case c.absent && ok:
			t.Errorf("%s still present", c.path)
		case !c.absent && !ok:
			t.Errorf("%s missing", c.path)
		case !c.absent && !strings.HasPrefix(string(got), c.want), c.exact && string(got) != c.want:
			t.Errorf("%s = %q, want %q (exact: %t)", c.path, got, c.want, c.exact)
		}
	}
	if out := oracle.Debugfs(t, rootDev, "ea_get /etc/machine-id security.selinux"); !strings.Contains(out, "machineid_t") {
		t.Errorf("machine-id lost its SELinux label: %q", out)
	}
	if out := oracle.Debugfs(t, varDev, "stat /run"); !strings.Contains(out, "Type: symlink") {
		t.Errorf("/var/run is no longer a symlink: %s", out)
	}
}

// TestGuestWritesOnEveryDiskLayout runs the same changes on every layout
// fixture (MBR with logical partitions, partitionless, 4096-byte sectors)
// and has e2fsck judge every ext filesystem; those the guest does not
// write (the MBR's ext2 /boot) must stay byte-identical.
func TestGuestWritesOnEveryDiskLayout(t *testing.T) {
	tests := []struct {
		image     string
		changed   []int // partitions written
		untouched []int
	}{
		{"disk-mbr.raw", []int{5, 6}, []int{1}},
		{"disk-none.raw", []int{0}, nil},
		{"disk-gpt-4k.raw", []int{1, 2}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.image, func(t *testing.T) {
			g, l, p := scanGuest(t, tt.image, true)
			before, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			sysprepLike(t, g)
			after, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range tt.untouched {
				f := fsAt(t, l, n)
				if !bytes.Equal(before[f.Offset:f.Offset+f.Size], after[f.Offset:f.Offset+f.Size]) {
					t.Errorf("%s changed", f.Desc())
				}
			}
			for _, n := range append(tt.changed, tt.untouched...) {
				f := fsAt(t, l, n)
				oracle.E2fsckClean(t, oracle.Device(p, f.Offset))
				if got, want := normalizeKernel(kernelView(t, p, f)), engineView(t, f.FS); got != want {
					t.Errorf("%s: the kernel sees:\n%s\nour engine sees:\n%s", f.Desc(), got, want)
				}
			}
			root := oracle.Device(p, g.Root().Offset)
			if got, ok := oracle.DebugfsCat(t, root, "/etc/machine-id"); !ok || len(got) != 0 {
				t.Errorf("machine-id: %q, %t", got, ok)
			}
			if _, ok := oracle.DebugfsCat(t, root, "/run/status-netdata.json"); ok {
				t.Error("/run/status-netdata.json survived removal through /var/run")
			}
		})
	}
}

// TestEngineRefusalFallsBackToReadOnly: an ext4 with orphan inodes
// left by a crash is opened read-only, with the engine's reason, when
// writing was asked.
func TestEngineRefusalFallsBackToReadOnly(t *testing.T) {
	d, _ := openRaw(t, "ext4-orphans.img", true)
	l, err := Scan(d, Options{Name: "ext4-orphans.img", Writable: true})
	if err != nil {
		t.Fatal(err)
	}
	f := fsAt(t, l, 0)
	if f.FS == nil || f.Writable || !strings.Contains(f.Why, "orphan") {
		t.Fatalf("engine=%t writable=%t why=%q; want a read-only engine and the orphan reason", f.FS != nil, f.Writable, f.Why)
	}
	if strings.Count(f.Why, "has orphan inodes") != 1 || strings.Count(f.Why, "refusing") != 1 {
		t.Errorf("why=%q repeats itself", f.Why)
	}
}

// TestRemovingCloudDLinkLeavesEtcAlone: /var/lib/netdata/cloud.d -> /etc;
// removing it removes the link and nothing in the guest's /etc.
func TestRemovingCloudDLinkLeavesEtcAlone(t *testing.T) {
	g, _, p := scanGuest(t, "guest-clouddlink.raw", true)
	etcBefore := oracle.Debugfs(t, p, "ls -l /etc")
	if err := g.RemoveAll("/var/lib/netdata/cloud.d"); err != nil {
		t.Fatal(err)
	}
	if err := g.Sync(); err != nil {
		t.Fatal(err)
	}
	oracle.E2fsckClean(t, p)
	if _, ok := oracle.DebugfsCat(t, p, "/var/lib/netdata/cloud.d"); ok {
		t.Fatal("cloud.d still present")
	}
	if etcAfter := oracle.Debugfs(t, p, "ls -l /etc"); etcAfter != etcBefore {
		t.Fatalf("/etc changed:\nbefore:\n%s\nafter:\n%s", etcBefore, etcAfter)
	}
}

// TestHostileGuestsAreRefusedCleanly: writes that the hostile links
// would send elsewhere fail with the kernel's error and change nothing.
func TestHostileGuestsAreRefusedCleanly(t *testing.T) {
	tests := []struct {
		image string
		do    func(g *Guest) error
		want  error
	}{
		{"guest-runfile.raw", func(g *Guest) error { return g.Remove("/var/run/status-netdata.json") }, fs.ErrNotDir},
		{"guest-symloop.raw", func(g *Guest) error {
			return g.Remove("/var/lib/netdata/registry/netdata.public.unique.id")
		}, fs.ErrLoop},
		{"guest-varxfs.raw", func(g *Guest) error { return g.WriteFile("/var/x", []byte("x"), fs.WriteOptions{Perm: 0o644}) }, fs.ErrReadOnly},
	}
	for _, tt := range tests {
		t.Run(tt.image, func(t *testing.T) {
			g, _, p := scanGuest(t, tt.image, true)
			before, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := deadline.Err(t, tt.image, func() error { return tt.do(g) }); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if err := g.Sync(); err != nil {
				t.Fatal(err)
			}
			after, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(before, after) {
				t.Fatal("the image changed")
			}
		})
	}
}

// TestGuestWritesThroughQcow2 makes the same changes on the qcow2 twin
// through pkg/image, commits, and has qemu-img and e2fsck judge the result.
func TestGuestWritesThroughQcow2(t *testing.T) {
	p := fixture.Path(t, "disk-gpt.qcow2")
	h, err := image.Open(p, image.OpenOptions{Format: "auto", Write: true})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	l, err := Scan(h, Options{Name: "disk-gpt.qcow2", Writable: true})
	if err != nil {
		t.Fatal(err)
	}
	gs, err := l.Guests()
	if err != nil || len(gs) != 1 {
		t.Fatalf("Guests: %d, %v", len(gs), err)
	}
	sysprepLike(t, gs[0])
	if err := h.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	oracle.QemuImgCheck(t, p, false)
	raw := p + ".raw"
	oracle.QemuImgConvertRaw(t, p, raw)
	for _, n := range []int{2, 3} {
		f := fsAt(t, l, n)
		oracle.E2fsckClean(t, oracle.Device(raw, f.Offset))
		if v := kernelView(t, raw, f); strings.Contains(v, "netdata.public.unique.id") || strings.Contains(v, "ssh_host_rsa_key\n") {
			t.Errorf("%s: the kernel still sees an identity file:\n%s", f.Desc(), v)
		}
	}
	if got, ok := oracle.DebugfsCat(t, oracle.Device(raw, fsAt(t, l, 2).Offset), "/etc/machine-id"); !ok || len(got) != 0 {
		t.Fatalf("machine-id after commit: %q, %t", got, ok)
	}
	if _, ok := oracle.DebugfsCat(t, oracle.Device(raw, fsAt(t, l, 3).Offset), "/lib/netdata/registry/netdata.public.unique.id"); ok {
		t.Fatal("the GUID survived the commit")
	}
}

// fsckFatClean fails the test unless dosfstools' fsck.fat -n finds
// nothing to fix on img.
func fsckFatClean(tb testing.TB, img string) {
	tb.Helper()
	out, errOut, code := oracle.Run(tb, "fsck.fat", "-n", img)
	var bad []string
	for _, l := range strings.Split(out+errOut, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "fsck.fat ") || strings.HasPrefix(l, img+":") {
			continue
		}
		bad = append(bad, l)
	}
	if code != 0 || len(bad) > 0 {
		tb.Fatalf("fsck.fat -n %s: exit %d:\n%s%s", img, code, out, errOut)
	}
}

// TestOverlappingPartitionsAreNotWritten: an MBR whose partition 1 is
// stretched over logical partition 5 (no checksum protects an MBR). A
// write to either filesystem could corrupt the other, so both are opened
// read-only with the reason, and a change fails with fs.ErrReadOnly.
func TestOverlappingPartitionsAreNotWritten(t *testing.T) {
	d, p := openRaw(t, "disk-mbr.raw", true)
	// Partition entry 1 is at 446; its sector count at +12.
	var size [4]byte
	binary.LittleEndian.PutUint32(size[:], 40000)
	if _, err := d.WriteAt(size[:], 446+12); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	l, err := Scan(d, Options{Writable: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, 5} {
		f := fsAt(t, l, n)
		if f.Writable || !strings.Contains(f.Why, "overlaps") {
			t.Errorf("%s: writable=%t why=%q", f.Desc(), f.Writable, f.Why)
		}
	}
	if f := fsAt(t, l, 6); !f.Writable {
		t.Errorf("partition 6 does not overlap and should be writable: %s", f.Why)
	}
	gs, err := l.Guests()
	if err != nil {
		t.Fatal(err)
	}
	if err := gs[0].Truncate("/etc/machine-id", 0); !errors.Is(err, fs.ErrReadOnly) {
		t.Fatalf("Truncate on an overlapping root: %v, want fs.ErrReadOnly", err)
	}
	if err := gs[0].Sync(); err != nil {
		t.Fatal(err)
	}
	after, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Fatal("the image changed")
	}
}

// TestPartitionCoveringTheGPTIsNotWritten: a GPT entry whose partition
// ends in the disk's last sector, over the backup GPT (pkg/partition
// accepts it: it lies inside the disk). Writing that filesystem could
// rewrite the partition table, so it is opened read-only with the reason.
func TestPartitionCoveringTheGPTIsNotWritten(t *testing.T) {
	d, _ := openRaw(t, "disk-gpt.raw", true)
	hdr := make([]byte, 92)
	if _, err := d.ReadAt(hdr, 512); err != nil {
		t.Fatal(err)
	}
	entLBA := int64(binary.LittleEndian.Uint64(hdr[72:]))
	n, esz := binary.LittleEndian.Uint32(hdr[80:]), binary.LittleEndian.Uint32(hdr[84:])
	ents := make([]byte, n*esz)
	if _, err := d.ReadAt(ents, entLBA*512); err != nil {
		t.Fatal(err)
	}
	binary.LittleEndian.PutUint64(ents[2*esz+40:], uint64(d.Size()/512-1)) // entry 3 (/var) ends in the last LBA
	binary.LittleEndian.PutUint32(hdr[88:], crc32.ChecksumIEEE(ents))
	binary.LittleEndian.PutUint32(hdr[16:], 0)
	binary.LittleEndian.PutUint32(hdr[16:], crc32.ChecksumIEEE(hdr))
	if _, err := d.WriteAt(ents, entLBA*512); err != nil {
		t.Fatal(err)
	}
	if _, err := d.WriteAt(hdr, 512); err != nil {
		t.Fatal(err)
	}
	l, err := Scan(d, Options{Writable: true})
	if err != nil {
		t.Fatal(err)
	}
	f := fsAt(t, l, 3)
	if f.Writable || !strings.Contains(f.Why, "covers the backup GPT") {
		t.Fatalf("%s: writable=%t why=%q", f.Desc(), f.Writable, f.Why)
	}
	if f := fsAt(t, l, 2); !f.Writable {
		t.Fatalf("partition 2 should stay writable: %s", f.Why)
	}
}
