package clone

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/ops"
	"github.com/imgprep/imgprep/pkg/ops/machineid"
	"github.com/imgprep/imgprep/pkg/ops/netdata"
	"github.com/imgprep/imgprep/pkg/storage"
)

// prepOps are the operations the tests run on clones: the two of
// imgprep's own identity families.
func prepOps() []ops.Operation {
	return []ops.Operation{machineid.New(machineid.Options{}), netdata.New(netdata.Options{})}
}

func fileSum(tb testing.TB, path string) [32]byte {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		tb.Fatal(err)
	}
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s
}

// allocated returns the bytes a file allocates, as du counts them.
func allocated(tb testing.TB, path string) int64 {
	tb.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Blocks * 512
}

// qemuInfo returns qemu-img info's JSON for path.
func qemuInfo(tb testing.TB, path string) map[string]any {
	tb.Helper()
	out, errOut, code := oracle.Run(tb, "qemu-img", "info", "-U", "--output=json", path)
	if code != 0 {
		tb.Fatalf("qemu-img info %s: %s", path, errOut)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		tb.Fatal(err)
	}
	return m
}

// guestFile reads path from the whole-disk ext4 of img (disk-none
// fixtures) with debugfs, converting a qcow2 first.
func guestFile(tb testing.TB, img, path string) (string, bool) {
	tb.Helper()
	raw := img
	if strings.HasSuffix(img, ".qcow2") {
		raw = filepath.Join(tb.TempDir(), "converted.raw")
		oracle.QemuImgConvertRaw(tb, img, raw)
	}
	b, ok := oracle.DebugfsCat(tb, raw, path)
	return string(b), ok
}

func TestLinkedCloneLeavesTheTemplateBitIdentical(t *testing.T) {
	oracle.Require(t, "qemu-img")
	oracle.Require(t, "debugfs")
	tests := []struct {
		name     string
		fixture  string
		otherDir bool // the clone in another directory: absolute backing name
	}{
		{"qcow2 template, same directory: relative backing name", "disk-none.qcow2", false},
		{"qcow2 template, other directory: absolute backing name", "disk-none.qcow2", true},
		{"raw template: backing format raw", "disk-none.raw", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tmpl := fixture.Path(t, tc.fixture)
			before := fileSum(t, tmpl)
			dir := filepath.Dir(tmpl)
			if tc.otherDir {
				dir = t.TempDir()
			}
			dest := filepath.Join(dir, "clone.qcow2")
			id := Identity{Hostname: "web-1", MachineID: "0123456789abcdef0123456789abcdef"}
			res, err := Clone(context.Background(), tmpl, dest, Options{Mode: Linked, Operations: prepOps(), Identity: id})
			if err != nil {
				t.Fatal(err)
			}
			if fileSum(t, tmpl) != before {
				t.Fatalf("the template changed")
			}
			wantName := filepath.Base(tmpl)
			if tc.otherDir {
				wantName = tmpl
			}
			wantFormat := strings.TrimPrefix(filepath.Ext(tc.fixture), ".")
			info := qemuInfo(t, dest)
			if info["backing-filename"] != wantName || info["backing-filename-format"] != wantFormat || res.BackingFile != wantName {
				t.Fatalf("backing %v (%v), result %q; want %q (%s)", info["backing-filename"], info["backing-filename-format"], res.BackingFile, wantName, wantFormat)
			}
			tinfo := qemuInfo(t, tmpl)
			if info["virtual-size"] != tinfo["virtual-size"] {
				t.Fatalf("clone virtual size %v, template %v", info["virtual-size"], tinfo["virtual-size"])
			}
			oracle.QemuImgCheck(t, dest, false)
			if wantFormat == "qcow2" {
				oracle.QemuImgCheck(t, tmpl, false)
			}
			if got, _ := guestFile(t, dest, "/etc/machine-id"); got != id.MachineID+"\n" {
				t.Fatalf("clone's machine-id %q", got)
			}
			if got, _ := guestFile(t, dest, "/etc/hostname"); got != "web-1\n" {
				t.Fatalf("clone's hostname %q", got)
			}
			if got, _ := guestFile(t, tmpl, "/etc/hostname"); got != "template\n" {
				t.Fatalf("template's hostname %q", got)
			}
			raw := filepath.Join(t.TempDir(), "clone.raw")
			oracle.QemuImgConvertRaw(t, dest, raw)
			oracle.E2fsckClean(t, raw)
		})
	}
}

func TestFullCloneReadsAsQemuImgConvertAndIsNoLarger(t *testing.T) {
	oracle.Require(t, "qemu-img")
	for _, format := range []string{"qcow2", "raw"} {
		for _, fx := range []string{"disk-gpt.qcow2", "disk-mbr.raw"} {
			t.Run(fx+" to "+format, func(t *testing.T) {
				tmpl := fixture.Path(t, fx)
				before := fileSum(t, tmpl)
				dir := t.TempDir()
				dest := filepath.Join(dir, "full."+format)
				var last, total int64
				_, err := Clone(context.Background(), tmpl, dest, Options{Mode: Full, OutputFormat: format,
					Progress: func(d, t int64) { last, total = d, t }})
				if err != nil {
					t.Fatal(err)
				}
				if total == 0 || last != total {
					t.Errorf("progress ended at %d of %d", last, total)
				}
				if fileSum(t, tmpl) != before {
					t.Fatalf("the template changed")
				}
				ref := filepath.Join(dir, "ref."+format)
				if _, errOut, code := oracle.Run(t, "qemu-img", "convert", "-U", "-O", format, tmpl, ref); code != 0 {
					t.Fatal(errOut)
				}
				oracle.QemuImgCompare(t, dest, tmpl)
				oracle.QemuImgCompare(t, dest, ref)
				if format == "qcow2" {
					oracle.QemuImgCheck(t, dest, false)
				}
				// One host-filesystem block of slack: st_blocks also
				// counts the host's extent tree.
				if got, want := allocated(t, dest), allocated(t, ref); got > want+4096 {
					t.Fatalf("the clone allocates %d bytes, qemu-img convert's output %d", got, want)
				}
				info := qemuInfo(t, dest)
				if info["format"] != format {
					t.Fatalf("format %v", info["format"])
				}
			})
		}
	}
}

func TestFailedCloneRemovesItsPartialFile(t *testing.T) {
	dir := t.TempDir()
	// A disk without an OS: the copy succeeds, its sysprep fails.
	blank := filepath.Join(dir, "blank.raw")
	if err := os.WriteFile(blank, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []Mode{Linked, Full} {
		dest := filepath.Join(dir, "c-"+string(mode)+".qcow2")
		res, err := Clone(context.Background(), blank, dest, Options{Mode: mode, Operations: prepOps()})
		if err == nil || res.Error == "" {
			t.Fatalf("%s clone of a blank disk: %v", mode, err)
		}
		if !strings.Contains(err.Error(), dest) {
			t.Errorf("error %q does not name the clone", err)
		}
		if _, serr := os.Lstat(dest); !errors.Is(serr, os.ErrNotExist) {
			t.Fatalf("%s: the failed clone's file is still there (%v)", mode, serr)
		}
	}
	// An existing destination is refused and left alone.
	exist := filepath.Join(dir, "exists.qcow2")
	os.WriteFile(exist, []byte("keep"), 0o644)
	if _, err := Clone(context.Background(), blank, exist, Options{Mode: Full}); !errors.Is(err, ErrDestExists) {
		t.Fatalf("existing destination: %v", err)
	}
	if b, _ := os.ReadFile(exist); string(b) != "keep" {
		t.Fatalf("existing destination overwritten")
	}
	// Bad options write nothing.
	for _, o := range []Options{{Mode: "thin"}, {Mode: Linked, OutputFormat: "raw"}, {Mode: Full, OutputFormat: "vmdk"},
		{Mode: Full, Identity: Identity{MachineID: "xyz"}}} {
		d := filepath.Join(dir, "bad.qcow2")
		if _, err := Clone(context.Background(), blank, d, o); err == nil {
			t.Errorf("%+v accepted", o)
		}
		if _, err := os.Lstat(d); err == nil {
			t.Fatalf("%+v left a file", o)
		}
	}
}

func TestDependentsFindsTheLinkedClonesOfATemplate(t *testing.T) {
	oracle.Require(t, "qemu-img")
	dir := t.TempDir()
	other := t.TempDir()
	tmpl := fixture.PathIn(t, "disk-none.qcow2", dir)
	unrelated := fixture.PathIn(t, "disk-gpt.qcow2", dir)
	mk := func(base, name string) string {
		t.Helper()
		p := filepath.Join(base, name)
		if _, errOut, code := oracle.Run(t, "qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", base2rel(base, dir, tmpl), p); code != 0 {
			t.Fatal(errOut)
		}
		return p
	}
	a := mk(dir, "a.qcow2")
	b := mk(other, "b.qcow2")
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("QFI"), 0o644)
	os.WriteFile(filepath.Join(dir, "short"), []byte("Q"), 0o644)
	tests := []struct {
		name  string
		image string
		dirs  []string
		want  []string
	}{
		{"same directory", tmpl, nil, []string{a}},
		{"with --clones-dir", tmpl, []string{other}, []string{a, b}},
		{"an image nobody uses", unrelated, []string{other}, nil},
		{"a clone itself", a, []string{other}, nil},
		{"a missing image", filepath.Join(dir, "missing.qcow2"), nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NewIndex().Dependents(tc.image, tc.dirs)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			err = NewIndex().Check(tc.image, tc.dirs)
			var te *TemplateError
			if (len(tc.want) > 0) != errors.As(err, &te) || (te != nil && !errors.Is(err, ErrTemplateInUse)) {
				t.Fatalf("Check: %v", err)
			}
		})
	}
	// A symlink to the template is the same file.
	link := filepath.Join(t.TempDir(), "tmpl-link.qcow2")
	os.Symlink(tmpl, link)
	if got, _ := NewIndex().Dependents(link, []string{dir}); len(got) != 1 || got[0] != a {
		t.Fatalf("through a symlink: %v", got)
	}
}

// base2rel names tmpl (in tdir) as a clone in base would: relative in the
// same directory, absolute otherwise.
func base2rel(base, tdir, tmpl string) string {
	if base == tdir {
		return filepath.Base(tmpl)
	}
	return tmpl
}

func TestManifestIsWrittenAtomically(t *testing.T) {
	p := filepath.Join(t.TempDir(), "m.json")
	m := Manifest{Template: "t.qcow2", Mode: Linked, Clones: []Result{{Path: "a.qcow2", Mode: Linked, Format: "qcow2",
		BackingFile: "t.qcow2", BackingFormat: "qcow2", Hostname: "web-1", MachineID: "0123456789abcdef0123456789abcdef", Operations: []string{"machine-id"}}}}
	if err := WriteManifest(p, m); err != nil {
		t.Fatal(err)
	}
	var back Manifest
	b, _ := os.ReadFile(p)
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Clones[0].MachineID != m.Clones[0].MachineID || back.Clones[0].BackingFile != "t.qcow2" {
		t.Fatalf("round trip: %+v", back)
	}
	entries, _ := os.ReadDir(filepath.Dir(p))
	if len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
	if err := WriteManifest(filepath.Join(t.TempDir(), "no", "such", "dir.json"), m); err == nil {
		t.Fatalf("a manifest in a missing directory was accepted")
	}
}

// holdForWriting starts qemu-nbd serving img read-write, as a running VM
// holds its disk, and returns once its write lock is visible.
func holdForWriting(tb testing.TB, img string) {
	tb.Helper()
	bin := oracle.Require(tb, "qemu-nbd")
	sock, err := os.MkdirTemp("", "nbd") // short: unix socket paths are limited
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(bin, "-f", "qcow2", "--socket", filepath.Join(sock, "s"), img)
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		os.RemoveAll(sock)
	})
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if l, err := storage.Probe(img); err == nil && l.Held.Has(storage.PermWrite) {
			return
		}
		select {
		case <-exited:
			tb.Fatalf("qemu-nbd exited before locking %s", img)
		default:
		}
	}
	tb.Fatalf("qemu-nbd: no write lock on %s after 10 s", img)
}

func TestATemplateInUseForWritingIsNotCloned(t *testing.T) {
	tmpl := fixture.Path(t, "disk-none.qcow2")
	holdForWriting(t, tmpl)
	for _, mode := range []Mode{Linked, Full} {
		dest := filepath.Join(t.TempDir(), "c.qcow2")
		_, err := Clone(context.Background(), tmpl, dest, Options{Mode: mode})
		if !errors.Is(err, ErrTemplateBusy) {
			t.Fatalf("%s clone of a template a VM writes: %v", mode, err)
		}
		if _, err := os.Lstat(dest); err == nil {
			t.Fatalf("%s: a file was left", mode)
		}
	}
}

func TestFullClonesArePreparedInEitherFormat(t *testing.T) {
	oracle.Require(t, "debugfs")
	for _, format := range []string{"qcow2", "raw"} {
		t.Run(format, func(t *testing.T) {
			tmpl := fixture.Path(t, "disk-none.qcow2")
			before := fileSum(t, tmpl)
			dest := filepath.Join(t.TempDir(), "db-1."+format)
			id := Identity{Hostname: "db-1", MachineID: "00112233445566778899aabbccddeeff"}
			res, err := Clone(context.Background(), tmpl, dest, Options{Mode: Full, OutputFormat: format, Operations: prepOps(), Identity: id})
			if err != nil {
				t.Fatal(err)
			}
			if res.Format != format || res.BackingFile != "" || res.Report == nil || !res.Report.Committed {
				t.Fatalf("result %+v", res)
			}
			if got, _ := guestFile(t, dest, "/etc/hostname"); got != "db-1\n" {
				t.Fatalf("hostname %q", got)
			}
			if got, _ := guestFile(t, dest, "/etc/machine-id"); got != id.MachineID+"\n" {
				t.Fatalf("machine-id %q", got)
			}
			if _, ok := guestFile(t, dest, "/var/lib/netdata/registry/netdata.public.unique.id"); ok {
				t.Fatalf("netdata's GUID survived")
			}
			raw := dest
			if format == "qcow2" {
				raw = filepath.Join(t.TempDir(), "c.raw")
				oracle.QemuImgConvertRaw(t, dest, raw)
			}
			oracle.E2fsckClean(t, raw)
			if fileSum(t, tmpl) != before {
				t.Fatalf("the template changed")
			}
		})
	}
}
