package main

// Acceptance tests: the whole stack through the CLI, in-process, on the
// guest fixtures of testdata/images/gen.d/guest.sh, judged by tools we did
// not write (debugfs rdump, e2fsck -fn, qemu-img check/convert, fdisk).

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/ops/opstest"
	"github.com/imgprep/imgprep/pkg/storage"
	"github.com/imgprep/imgprep/pkg/sysprep"
)

// documented is what a default sysprep of a fixture guest must change,
// guest path → action (netdata's and machine-id's documented paths, as
// the fixture holds them; /var/run/status-netdata.json is /run's).
var documented = map[string]string{
	"/etc/machine-id":                                    "truncated",
	"/var/lib/dbus/machine-id":                           "truncated",
	"/var/lib/netdata/registry/netdata.public.unique.id": "removed",
	"/var/lib/netdata/status-netdata.json":               "removed",
	"/var/cache/netdata/status-netdata.json":             "removed",
	"/tmp/status-netdata.json":                           "removed",
	"/run/status-netdata.json":                           "removed",
	"/var/lib/netdata/cloud.d":                           "removed",
	"/var/cache/netdata/netdata-meta.db":                 "removed",
	"/var/cache/netdata/netdata-meta.db-shm":             "removed",
	"/var/cache/netdata/netdata-meta.db-wal":             "removed",
	"/var/cache/netdata/context-meta.db":                 "removed",
	"/var/cache/netdata/context-meta.db-wal":             "removed",
	// The rest of the default catalogue (pkg/ops/catalog): ssh-hostkeys,
	// logfiles (/var/log/*.log*, syslog*) and random-seed.
	"/etc/ssh/ssh_host_ed25519_key":     "removed",
	"/etc/ssh/ssh_host_ed25519_key.pub": "removed",
	"/etc/ssh/ssh_host_rsa_key":         "removed",
	"/etc/ssh/ssh_host_rsa_key.pub":     "removed",
	"/var/log/big.log":                  "removed",
	"/var/log/syslog":                   "removed",
	"/var/lib/systemd/random-seed":      "removed",
}

// espSeed is systemd-boot's random seed on the ESP, which random-seed
// removes on the fixtures that have an ESP; the ESP is no ext filesystem,
// so changeSet leaves it out (pkg/ops/catalog judges it with fsck.fat).
const espSeed = "/boot/efi/loader/random-seed"

// extFS is one ext filesystem of a fixture: its partition and where the
// guest mounts it (from the fixture's fstab, see guest.sh).
type extFS struct {
	part  int // 0: the whole disk
	mount string
}

type guestFixture struct {
	name    string
	sector  int
	fss     []extFS
	selinux bool // /etc/machine-id carries security.selinux
}

var guestFixtures = []guestFixture{
	{"disk-gpt.raw", 512, []extFS{{2, "/"}, {3, "/var"}}, true},
	{"disk-gpt.qcow2", 512, []extFS{{2, "/"}, {3, "/var"}}, true},
	{"disk-mbr.raw", 512, []extFS{{5, "/"}, {6, "/var"}, {1, "/boot"}}, false},
	{"disk-mbr.qcow2", 512, []extFS{{5, "/"}, {6, "/var"}, {1, "/boot"}}, false},
	{"disk-none.raw", 512, []extFS{{0, "/"}}, true},
	{"disk-none.qcow2", 512, []extFS{{0, "/"}}, true},
	{"disk-gpt-4k.raw", 4096, []extFS{{1, "/"}, {2, "/var"}}, false},
}

// rawOf returns a raw copy of img's virtual disk (img itself when raw).
func rawOf(tb testing.TB, img string) string {
	tb.Helper()
	if !strings.HasSuffix(img, ".qcow2") {
		return img
	}
	dst := filepath.Join(tb.TempDir(), "converted.raw")
	oracle.QemuImgConvertRaw(tb, img, dst)
	return dst
}

// devices returns each ext filesystem's device (path?offset=N), with
// partition offsets as fdisk reads them.
func devices(tb testing.TB, raw string, g guestFixture) map[string]string {
	tb.Helper()
	out := map[string]string{}
	var starts map[int]int64
	for _, f := range g.fss {
		if f.part == 0 {
			out[f.mount] = raw
			continue
		}
		if starts == nil {
			starts = fdiskStarts(tb, raw, g.sector)
		}
		off, ok := starts[f.part]
		if !ok {
			tb.Fatalf("fdisk finds no partition %d in %s", f.part, raw)
		}
		out[f.mount] = oracle.Device(raw, off)
	}
	return out
}

func fdiskStarts(tb testing.TB, raw string, sector int) map[int]int64 {
	tb.Helper()
	stdout, stderr, code := oracle.Run(tb, "fdisk", "-b", strconv.Itoa(sector), "-l", "-o", "Device,Start", raw)
	if code != 0 {
		tb.Fatalf("fdisk -l %s: %s", raw, stderr)
	}
	starts := map[int]int64{}
	for _, line := range strings.Split(stdout, "\n") {
		f := strings.Fields(line)
		if len(f) != 2 || !strings.HasPrefix(f[0], raw) {
			continue
		}
		n, err1 := strconv.Atoi(strings.TrimPrefix(f[0], raw))
		s, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 == nil && err2 == nil {
			starts[n] = s * int64(sector)
		}
	}
	return starts
}

// sysprepJSON runs imgprep sysprep --json with args on the real stack and
// returns the report.
func sysprepJSON(tb testing.TB, wantCode int, args ...string) (*sysprep.Report, cliResult) {
	tb.Helper()
	r := runCLI(tb, sysprep.Stack{}, append([]string{"sysprep", "--json"}, args...)...)
	if r.code != wantCode {
		tb.Fatalf("imgprep sysprep %v: exit %d, want %d\nstdout: %s\nstderr: %s", args, r.code, wantCode, r.stdout, r.stderr)
	}
	var rep sysprep.Report
	if err := json.Unmarshal([]byte(strings.SplitN(r.stdout, "\n", 2)[0]), &rep); err != nil {
		tb.Fatalf("report %q: %v", r.stdout, err)
	}
	return &rep, r
}

func changeSet(rep *sysprep.Report) map[string]string {
	out := map[string]string{}
	for _, c := range rep.Changes() {
		if c.Path == espSeed {
			continue
		}
		out[c.Path] = string(c.Action)
	}
	return out
}

// fsPath maps a guest path to its filesystem's mount point and the path
// inside that filesystem.
func fsPath(g guestFixture, p string) (mount, rel string) {
	mount = "/"
	for _, f := range g.fss {
		if (p == f.mount || strings.HasPrefix(p, f.mount+"/")) && len(f.mount) > len(mount) {
			mount = f.mount
		}
	}
	rel = strings.TrimPrefix(p, strings.TrimSuffix(mount, "/"))
	if rel == "" {
		rel = "/"
	}
	return mount, rel
}

// entry is what a dumped file looks like on the host.
type entry struct {
	mode     fs.FileMode
	uid, gid uint32
	content  string // content or symlink target
}

// dump extracts dev with debugfs rdump and indexes it by path.
func dump(tb testing.TB, dev string) map[string]entry {
	tb.Helper()
	root := oracle.Rdump(tb, dev, tb.TempDir())
	out := map[string]entry{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := "/" + strings.TrimPrefix(strings.TrimPrefix(p, root), "/")
		if rel == "/lost+found" || strings.HasPrefix(rel, "/lost+found/") {
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		e := entry{mode: fi.Mode()}
		if st, ok := statOwner(fi); ok {
			e.uid, e.gid = st[0], st[1]
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			e.content = t
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			e.content = string(b)
		}
		out[rel] = e
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// diffDumps returns the sorted paths added, removed or changed.
func diffDumps(a, b map[string]entry) []string { return opstest.Diff(a, b) }

func TestAcceptanceSysprepGuests(t *testing.T) {
	for _, g := range guestFixtures {
		t.Run(g.name, func(t *testing.T) {
			img := fixture.Path(t, g.name)
			raw := rawOf(t, img)
			devs := devices(t, raw, g)
			before := map[string]map[string]entry{}
			for m, dev := range devs {
				before[m] = dump(t, dev)
			}

			// --dry-run: the file stays byte-identical, and it reports what
			// the real run then changes.
			sum := fixture.SHA256(t, img)
			dry, _ := sysprepJSON(t, 0, "--dry-run", img)
			if fixture.SHA256(t, img) != sum {
				t.Fatalf("--dry-run changed %s", img)
			}
			real, _ := sysprepJSON(t, 0, img)
			got := changeSet(real)
			if d := changeSet(dry); !sameMap(d, got) || dry.BytesStaged != real.BytesStaged {
				t.Fatalf("dry run reported %v (%d bytes), the real run %v (%d bytes)", d, dry.BytesStaged, got, real.BytesStaged)
			}
			if !sameMap(got, documented) {
				t.Fatalf("changes %v, want exactly the documented %v", got, documented)
			}
			if !real.Committed || real.BytesStaged == 0 {
				t.Fatalf("report: committed %v, %d bytes", real.Committed, real.BytesStaged)
			}
			if strings.HasSuffix(img, ".qcow2") {
				oracle.QemuImgCheck(t, img, false)
			}

			raw = rawOf(t, img)
			devs = devices(t, raw, g)
			for m, dev := range devs {
				oracle.E2fsckClean(t, dev)
				after := dump(t, dev)
				for _, p := range diffDumps(before[m], after) {
					if !explained(g, m, p, before[m], after) {
						t.Errorf("%s (mounted at %s): %s changed, and no documented change covers it", dev, m, p)
					}
				}
			}
			for p, action := range documented {
				m, rel := fsPath(g, p)
				if _, ok := before[m][rel]; !ok {
					t.Errorf("fixture lacks %s (%s in the fs at %s): the test proves nothing", p, rel, m)
					continue
				}
				if action == "truncated" {
					if e := dump1(t, devs[m], rel); e.content != "" {
						t.Errorf("%s not emptied: %q", p, e.content)
					}
				}
			}
			if g.selinux {
				out := oracle.Debugfs(t, devs["/"], "ea_get /etc/machine-id security.selinux")
				if !strings.Contains(out, "machineid_t") {
					t.Errorf("/etc/machine-id lost its security.selinux label: %q", out)
				}
			}

			// A second run finds nothing left to do.
			again, _ := sysprepJSON(t, 0, img)
			if n := len(again.Changes()); n != 0 {
				t.Errorf("second run changed %d paths: %v", n, changeSet(again))
			}
		})
	}
}

// explained reports whether the difference at fs path p of the filesystem
// mounted at m is one of the documented changes.
func explained(g guestFixture, m, p string, before, after map[string]entry) bool {
	for gp, action := range documented {
		dm, rel := fsPath(g, gp)
		if dm != m {
			continue
		}
		switch action {
		case "truncated":
			if p == rel {
				b, a := before[p], after[p]
				return a.content == "" && a.mode == b.mode && a.uid == b.uid && a.gid == b.gid
			}
		case "removed":
			if p == rel || strings.HasPrefix(p, rel+"/") {
				_, still := after[p]
				return !still
			}
		}
	}
	return false
}

func dump1(tb testing.TB, dev, rel string) entry {
	tb.Helper()
	b, ok := oracle.DebugfsCat(tb, dev, rel)
	if !ok {
		tb.Fatalf("debugfs: %s not found", rel)
	}
	return entry{content: string(b)}
}

func sameMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestAcceptanceHostileGuests(t *testing.T) {
	tests := []struct {
		name string
		why  string
	}{
		{"guest-clouddlink.raw", "/var/lib/netdata/cloud.d -> /etc: the link goes, /etc stays"},
		{"guest-netdatadotdot.raw", "/var/lib/netdata -> ../../../../..: clamped at the guest root"},
		{"guest-symloop.raw", "/var/lib/netdata/registry loops: skipped"},
		{"guest-runfile.raw", "/run -> a regular file: skipped"},
	}
	g := guestFixture{fss: []extFS{{0, "/"}}}
	for _, tc := range tests {
		t.Run(tc.name+": "+tc.why, func(t *testing.T) {
			img := fixture.Path(t, tc.name)
			before := dump(t, img)
			rep, _ := sysprepJSON(t, 0, img)
			oracle.E2fsckClean(t, img)
			after := dump(t, img)
			for _, p := range diffDumps(before, after) {
				if !explained(g, "/", p, before, after) {
					t.Errorf("%s changed, outside the documented paths", p)
				}
			}
			for p := range changeSet(rep) {
				if _, ok := documented[p]; !ok {
					t.Errorf("reported change of %s, not a documented path", p)
				}
			}
		})
	}
}

// TestAcceptanceXFSRefused: a sysprep of a disk whose only filesystem
// (xfs) holds no guest fails naming the image and why, and the image does
// not change.
func TestAcceptanceXFSRefused(t *testing.T) {
	for name, why := range map[string]string{
		"guest-xfsroot.raw": "no operating system found",
	} {
		t.Run(name, func(t *testing.T) {
			img := fixture.Path(t, name)
			sum := fixture.SHA256(t, img)
			r := runCLI(t, sysprep.Stack{}, "sysprep", img)
			if r.code != 1 || !strings.Contains(r.stderr, why) || !strings.Contains(r.stderr, name) {
				t.Fatalf("exit %d, stderr %q: want 1 and an error naming the image and saying %q", r.code, r.stderr, why)
			}
			if fixture.SHA256(t, img) != sum {
				t.Fatalf("%s changed", img)
			}
		})
	}
}

// TestAcceptanceBtrfsFedora: a Fedora-like guest whose root and /home are
// btrfs subvolumes is inspected and audited from the root subvolume, and
// sysprep fails it with exit 1, naming the btrfs partition, and leaves
// the image byte-identical.
func TestAcceptanceBtrfsFedora(t *testing.T) {
	img := fixture.Path(t, "guest-fedora.raw")
	sum := fixture.SHA256(t, img)
	r := runCLI(t, sysprep.Stack{}, "inspect", img)
	if r.code != 0 || !strings.Contains(r.stdout, "fedora") || !strings.Contains(r.stdout, "fedora-template") {
		t.Fatalf("inspect: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	// Two copies of one template share its identities; audit reads them
	// from the btrfs root subvolume of each.
	img2 := fixture.Path(t, "guest-fedora.raw")
	r = runCLI(t, sysprep.Stack{}, "audit", img, img2)
	if !strings.Contains(r.stdout+r.stderr, "machine-id") || strings.Contains(r.stdout, "0 shared identities") {
		t.Fatalf("audit: exit %d, output %q%q: want the shared machine-id finding", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, sysprep.Stack{}, "sysprep", img)
	if r.code != 1 || !strings.Contains(r.stderr, "btrfs on partition 3: imgprep cannot write btrfs yet") || !strings.Contains(r.stderr, "guest-fedora.raw") {
		t.Fatalf("sysprep: exit %d, stderr %q: want 1 and an error naming the image and the btrfs partition", r.code, r.stderr)
	}
	if fixture.SHA256(t, img) != sum {
		t.Fatalf("%s changed", img)
	}
}

func TestAcceptanceNetdataClaim(t *testing.T) {
	img := fixture.Path(t, "disk-none.raw")
	r := runCLI(t, sysprep.Stack{}, "sysprep", "--netdata-claim-token", "TOKEN-XYZ", "--netdata-claim-rooms", "room-1", img)
	if r.code != 0 || strings.Contains(r.stdout+r.stderr, "TOKEN-XYZ") {
		t.Fatalf("exit %d, output %s%s (must not show the token)", r.code, r.stdout, r.stderr)
	}
	oracle.E2fsckClean(t, img)
	conf, ok := oracle.DebugfsCat(t, img, "/etc/netdata/claim.conf")
	want := "[global]\n    url = https://app.netdata.cloud\n    token = TOKEN-XYZ\n    rooms = room-1\n    proxy = \n    insecure = no\n"
	if !ok || string(conf) != want {
		t.Fatalf("claim.conf = %q, want %q", conf, want)
	}
	st := oracle.Debugfs(t, img, "stat /etc/netdata/claim.conf")
	for _, w := range []string{"Mode:  0640", "User:     0", "Group:   996"} {
		if !strings.Contains(st, w) {
			t.Errorf("claim.conf stat lacks %q:\n%s", w, st)
		}
	}
}

func TestAcceptanceInspect(t *testing.T) {
	img := fixture.Path(t, "disk-gpt.qcow2")
	sum := fixture.SHA256(t, img)
	r := runCLI(t, sysprep.Stack{}, "inspect", img)
	if r.code != 0 {
		t.Fatalf("inspect: exit %d: %s", r.code, r.stderr)
	}
	if fixture.SHA256(t, img) != sum {
		t.Fatal("inspect changed the image")
	}
	// The fingerprints ssh-keygen computes from the same .pub files.
	raw := rawOf(t, img)
	dev := devices(t, raw, guestFixtures[0])["/"]
	for _, k := range []string{"ed25519", "rsa"} {
		pub, ok := oracle.DebugfsCat(t, dev, "/etc/ssh/ssh_host_"+k+"_key.pub")
		if !ok {
			t.Fatalf("no %s key in the fixture", k)
		}
		f := filepath.Join(t.TempDir(), "k.pub")
		if err := os.WriteFile(f, pub, 0o644); err != nil {
			t.Fatal(err)
		}
		out, _, _ := oracle.Run(t, "ssh-keygen", "-l", "-E", "sha256", "-f", f)
		fp := strings.Fields(out)[1]
		if !strings.Contains(r.stdout, fp) {
			t.Errorf("inspect lacks %s fingerprint %s:\n%s", k, fp, r.stdout)
		}
	}
	normalised := normalise(strings.ReplaceAll(r.stdout, img, "disk-gpt.qcow2"), "")
	golden(t, "inspect-disk-gpt", normalised)
	if bytes.Contains([]byte(r.stdout), []byte("fixture-claim-token")) {
		t.Fatal("inspect shows the claim token")
	}
}

func TestAcceptanceImageInUseIsNotWritten(t *testing.T) {
	nbd := oracle.Require(t, "qemu-nbd")
	img := fixture.Path(t, "disk-gpt.qcow2")
	sock := filepath.Join(t.TempDir(), "nbd.sock")
	cmd := exec.Command(nbd, "--persistent", "-k", sock, "-f", "qcow2", img)
	var nbdErr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &nbdErr, &nbdErr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	// Wait until qemu-nbd holds its write lock. The probe only asks
	// (F_OFD_GETLK) and takes no lock: polling with qemu-img info would
	// itself lock the image for a moment and could make qemu-nbd's start
	// fail with 'Failed to get "write" lock'.
	locked := false
	for i := 0; i < 500 && !locked; i++ {
		l, err := storage.Probe(img)
		locked = err == nil && l.Held.Has(storage.PermWrite)
		if !locked {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if !locked {
		t.Fatalf("qemu-nbd never locked the image; qemu-nbd said: %s", nbdErr.String())
	}
	sum := fixture.SHA256(t, img)
	r := runCLI(t, sysprep.Stack{}, "sysprep", img)
	if r.code != 1 || !strings.Contains(r.stderr, img) || !strings.Contains(r.stderr, "hint:") {
		t.Fatalf("exit %d, stderr %q: want 1, the image named and a hint", r.code, r.stderr)
	}
	if fixture.SHA256(t, img) != sum {
		t.Fatal("an image in use was written")
	}
}

func TestAcceptanceRecoverCleanImage(t *testing.T) {
	img := fixture.Path(t, "disk-none.raw")
	sum := fixture.SHA256(t, img)
	r := runCLI(t, sysprep.Stack{}, "recover", img)
	if r.code != 0 || !strings.Contains(r.stdout, "nothing to recover") {
		t.Fatalf("recover: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	if fixture.SHA256(t, img) != sum {
		t.Fatal("recover changed a clean image")
	}
}

func TestAcceptanceOverlayNeverWritesItsBackingFile(t *testing.T) {
	base := fixture.Path(t, "disk-gpt.qcow2")
	top := filepath.Join(filepath.Dir(base), "clone.qcow2")
	if _, errOut, code := oracle.Run(t, "qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", base, top); code != 0 {
		t.Fatalf("qemu-img create: %s", errOut)
	}
	baseSum := fixture.SHA256(t, base)
	rep, _ := sysprepJSON(t, 0, top)
	if !sameMap(changeSet(rep), documented) {
		t.Fatalf("changes %v, want %v", changeSet(rep), documented)
	}
	if fixture.SHA256(t, base) != baseSum {
		t.Fatal("the backing file was written")
	}
	oracle.QemuImgCheck(t, top, false)
	raw := rawOf(t, top)
	for _, dev := range devices(t, raw, guestFixtures[1]) {
		oracle.E2fsckClean(t, dev)
	}
	if got, ok := oracle.DebugfsCat(t, devices(t, raw, guestFixtures[1])["/"], "/etc/machine-id"); !ok || len(got) != 0 {
		t.Fatalf("overlay's /etc/machine-id = %q, %v", got, ok)
	}
}

// TestGoldenRealStack pins the human summary and the JSON report of a
// real sysprep of the GPT qcow2 fixture (durations, the temporary path and
// the staged byte counts normalised).
func TestGoldenRealStack(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"real-sysprep-verbose", []string{"sysprep", "-v"}},
		{"real-sysprep-json", []string{"sysprep", "--json"}},
		{"real-sysprep-dry-run", []string{"sysprep", "--dry-run"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img := fixture.Path(t, "disk-gpt.qcow2")
			r := runCLI(t, sysprep.Stack{}, append(tc.args, img)...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			out := normalise(r.stdout+r.stderr, filepath.Dir(img))
			for _, b := range stagedBytes {
				out = b.re.ReplaceAllString(out, b.repl)
			}
			golden(t, tc.name, "$ imgprep "+strings.Join(tc.args, " ")+" disk-gpt.qcow2\n"+out)
		})
	}
}
