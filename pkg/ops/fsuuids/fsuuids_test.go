package fsuuids_test

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/guest"
	"github.com/imgprep/imgprep/pkg/ops"
	"github.com/imgprep/imgprep/pkg/ops/catalogtest"
	"github.com/imgprep/imgprep/pkg/ops/fsuuids"
)

// The catalog fixture's UUIDs (testdata/images/gen.d/catalog.sh).
const (
	rootUUID = "0c0c0c0c-0000-4000-8000-000000000001"
	varUUID  = "0c0c0c0c-0000-4000-8000-000000000002"
	espID    = "0C0C-0C0C"
)

// references are guest files naming the old UUIDs, as a Debian or Fedora
// install writes them, with the content each must have afterwards (ROOT,
// VAR and ESP standing for the new UUIDs, root and var in lower case).
var references = []struct{ path, before, after string }{
	{"/boot/grub/grub.cfg",
		"search --no-floppy --fs-uuid --set=root " + rootUUID + "\nlinux /vmlinuz root=UUID=" + rootUUID + " ro resume=UUID=" + varUUID + "\n",
		"search --no-floppy --fs-uuid --set=root ROOT\nlinux /vmlinuz root=UUID=ROOT ro resume=UUID=VAR\n"},
	{"/etc/default/grub",
		"GRUB_CMDLINE_LINUX=\"root=UUID=" + strings.ToUpper(rootUUID) + "\"\n# not ours: " + rootUUID + "0 x" + varUUID + "-1\n",
		"GRUB_CMDLINE_LINUX=\"root=UUID=ROOTUPPER\"\n# not ours: " + rootUUID + "0 x" + varUUID + "-1\n"},
	{"/boot/loader/entries/debian.conf",
		"title Debian\noptions root=UUID=" + rootUUID + " ro\n",
		"title Debian\noptions root=UUID=ROOT ro\n"},
	{"/etc/crypttab", "swap UUID=" + varUUID + " /dev/urandom swap\n", "swap UUID=VAR /dev/urandom swap\n"},
	{"/etc/initramfs-tools/conf.d/resume", "RESUME=UUID=" + varUUID + "\n", "RESUME=UUID=VAR\n"},
	{"/etc/fstab", "UUID=" + rootUUID + " / ext4 errors=remount-ro 0 1\nUUID=" + varUUID + " /var ext4 defaults 0 2\nUUID=" + espID + " /boot/efi vfat umask=0077 0 1\n",
		"UUID=ROOT / ext4 errors=remount-ro 0 1\nUUID=VAR /var ext4 defaults 0 2\nUUID=ESP /boot/efi vfat umask=0077 0 1\n"},
}

// filesystem returns the layout's filesystem mounted at point.
func filesystem(t *testing.T, g *guest.Guest, point string) *guest.Filesystem {
	t.Helper()
	for _, m := range g.Mounts() {
		if m.Point == point {
			return m.FS
		}
	}
	t.Fatalf("nothing mounted at %s", point)
	return nil
}

// TestFsUUIDsRenamesFilesystemsAndTheirReferences: on the catalog fixture
// (GPT: ESP, ext4 root, ext4 /var) every filesystem gets a new UUID, the
// guest's fstab, grub.cfg, /etc/default/grub, BLS entry, crypttab, resume
// config and ESP grub.cfg name the new ones (a longer token that merely
// starts with an old UUID is left alone), e2fsck -fn and fsck.fat -n are
// clean, blkid reads the new UUIDs, and the kernel finds the root by its
// new UUID (blkid -U on a loop device) and mounts it by UUID=.
func TestFsUUIDsRenamesFilesystemsAndTheirReferences(t *testing.T) {
	d := catalogtest.Open(t)
	g := d.Guest
	for _, r := range references {
		mkdirAll(t, g, parent(r.path))
		if err := g.WriteFile(r.path, []byte(r.before), fs.WriteOptions{Perm: 0o644}); err != nil {
			t.Fatalf("writing %s: %v", r.path, err)
		}
	}
	changes, err := fsuuids.New(nil).Apply(context.Background(), g)
	if err != nil {
		t.Fatal(err)
	}
	news := map[string]string{} // mount point -> new UUID
	var got []string
	for _, c := range changes {
		got = append(got, string(c.Action)+" "+c.Path)
		if c.Action == ops.NewUUID {
			_, n, _ := strings.Cut(c.Detail, " → ")
			news[c.Path] = n
		}
	}
	want := []string{"new-uuid /", "new-uuid /var", "new-uuid /boot/efi", "edited /etc/fstab", "edited /etc/crypttab",
		"edited /etc/default/grub", "edited /boot/grub/grub.cfg",
		"edited /boot/loader/entries/debian.conf", "edited /etc/initramfs-tools/conf.d/resume"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("changes:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	d.SyncAndCheck(t, changes)

	root, vr, esp := filesystem(t, g, "/"), filesystem(t, g, "/var"), filesystem(t, g, "/boot/efi")
	for point, f := range map[string]*guest.Filesystem{"/": root, "/var": vr, "/boot/efi": esp} {
		out, errOut, code := oracle.Run(t, "blkid", "-p", "-O", strconv.FormatInt(f.Offset, 10), "-o", "value", "-s", "UUID", d.Path)
		if code != 0 || strings.TrimSpace(out) != news[point] || news[point] == "" {
			t.Errorf("blkid -p at %s reads %q (exit %d %s), want the new %q", point, strings.TrimSpace(out), code, errOut, news[point])
		}
	}
	if news["/boot/efi"] != strings.ToUpper(news["/boot/efi"]) || len(news["/boot/efi"]) != len(espID) {
		t.Errorf("ESP volume ID %q, want blkid's XXXX-XXXX", news["/boot/efi"])
	}

	// What the guest's files say now, read by debugfs.
	dev := oracle.Device(d.Path, root.Offset)
	wantFstab := "UUID=" + news["/"] + " / ext4 errors=remount-ro 0 1\n"
	subst := strings.NewReplacer("ROOTUPPER", strings.ToUpper(news["/"]), "ROOT", news["/"], "VAR", news["/var"], "ESP", news["/boot/efi"])
	for _, r := range references {
		content, ok := oracle.DebugfsCat(t, dev, r.path)
		if !ok {
			t.Fatalf("%s is gone", r.path)
		}
		if want := subst.Replace(r.after); string(content) != want {
			t.Errorf("%s:\n%s\nwant:\n%s", r.path, content, want)
		}
	}

	// The kernel finds the root filesystem by its new UUID and mounts it.
	loop := oracle.Loop(t, d.Path, root.Offset, root.Size, true)
	out, errOut, code := oracle.Run(t, "blkid", "-U", news["/"])
	if code != 0 || strings.TrimSpace(out) != loop {
		t.Fatalf("blkid -U %s: %q (exit %d %s), want %s", news["/"], strings.TrimSpace(out), code, errOut, loop)
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-o", "ro", "UUID="+news["/"], dir).CombinedOutput(); err != nil {
		t.Fatalf("mount UUID=%s: %v: %s", news["/"], err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	if out, errOut, code := oracle.Run(t, "cat", dir+"/etc/fstab"); code != 0 || !strings.HasPrefix(out, wantFstab) {
		t.Errorf("the kernel reads /etc/fstab as %q (exit %d %s)", out, code, errOut)
	}
}

// TestFsUUIDsOnAGuestWithoutFilesystems: a guest that cannot rename
// filesystems (an in-memory one) gets no change, and references stay.
func TestFsUUIDsOnAGuestWithoutFilesystems(t *testing.T) {
	d := catalogtest.Open(t)
	mem := catalogtest.Memfs(t, d.Guest, "memfs")
	changes, err := fsuuids.New(nil).Apply(context.Background(), mem)
	if err != nil || len(changes) != 0 {
		t.Fatalf("changes %v, err %v; want none", changes, err)
	}
}

// TestReplace: whole tokens only, without regard to case, written in the
// mention's case.
func TestReplace(t *testing.T) {
	r := []fsuuids.Rename{{Old: rootUUID, New: "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"}, {Old: espID, New: "1A2B-3C4D"}}
	for _, tc := range []struct {
		in, want string
		n        int
	}{
		{"UUID=" + rootUUID + " /", "UUID=aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee /", 1},
		{"UUID=" + strings.ToUpper(rootUUID), "UUID=AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE", 1},
		{rootUUID + "0 1" + rootUUID + " " + rootUUID + "-x", rootUUID + "0 1" + rootUUID + " " + rootUUID + "-x", 0},
		{"UUID=0c0c-0c0c,UUID=0C0C-0C0C " + rootUUID, "UUID=1a2b-3c4d,UUID=1A2B-3C4D aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee", 3},
		{"", "", 0},
	} {
		got, n := fsuuids.Replace([]byte(tc.in), r)
		if string(got) != tc.want || n != tc.n {
			t.Errorf("Replace(%q) = %q, %d; want %q, %d", tc.in, got, n, tc.want, tc.n)
		}
	}
}

func parent(p string) string { return p[:strings.LastIndex(p, "/")] }

func mkdirAll(t *testing.T, g *guest.Guest, p string) {
	t.Helper()
	cur := ""
	for _, c := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		cur += "/" + c
		if _, err := g.Lstat(cur); err == nil {
			continue
		}
		if err := g.Mkdir(cur, 0o755, fs.Owner{}); err != nil {
			t.Fatalf("mkdir %s: %v", cur, err)
		}
	}
}
