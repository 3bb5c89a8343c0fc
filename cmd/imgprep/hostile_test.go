package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/imgprep/imgprep/pkg/ops/opstest"
	"github.com/imgprep/imgprep/pkg/sysprep"
	"github.com/imgprep/imgprep/pkg/sysprep/syspreptest"
)

// Strings a hostile guest puts where imgprep prints them: a terminal title
// and clear-screen sequence, a C1 CSI, a right-to-left override, a fake
// second line and bytes that are not UTF-8.
const (
	hostileOS       = "Evil\x1b]0;owned\x07 OS\x1b[2J"
	hostileHostname = "web\x1b[31m\u009b1m\u202ered"
	hostileFile     = "/tmp/\x1b[8mhidden\nimgprep: all good"
	hostileBytes    = "/tmp/bad\xff\xfe"
	hostileHome     = "/home/ev\x1bil"
)

// hostileBackend holds hostile.qcow2, a guest made of hostile strings,
// and its copy hostile2.qcow2 (so that audit groups their host names).
func hostileBackend() *syspreptest.Backend {
	img := func() *syspreptest.Image {
		fsys := opstest.Populated().
			AddFile("/etc/hostname", hostileHostname+"\n", 0o644).
			AddFile(hostileFile, "x", 0o644).
			AddFile(hostileBytes, "x", 0o644).
			AddDir(hostileHome, 0o755).
			AddFile(hostileHome+"/.bash_history", "ls\n", 0o600)
		fsys.Name = "ext4 on partition 2"
		return &syspreptest.Image{
			Info: sysprep.ImageInfo{Format: "qcow2", VirtualSize: 64 << 20, Table: "gpt",
				Chain: []sysprep.Layer{{Path: "hostile.qcow2", Format: "qcow2", VirtualSize: 64 << 20}},
				Filesystems: []sysprep.FilesystemInfo{{Desc: "ext4 on partition 2", Partition: 2, Type: "ext4",
					Label: "lab\x1b[5mel", Supported: true, Writable: true}}},
			Guests: []syspreptest.Guest{{Root: "ext4 on partition 2", FS: fsys,
				OSRelease: map[string]string{"PRETTY_NAME": hostileOS, "ID": "debian"},
				Mounts:    []sysprep.MountInfo{{Point: "/", Filesystem: "ext4 on partition 2", Spec: "LABEL=lab\x1b[5mel"}}}},
		}
	}
	return &syspreptest.Backend{Images: map[string]*syspreptest.Image{"hostile.qcow2": img(), "hostile2.qcow2": img()}}
}

// assertTerminalSafe fails when out holds a control character other than
// the line ends imgprep writes itself, DEL, a C1 control, a
// bidirectional override or a byte that is not UTF-8.
func assertTerminalSafe(t *testing.T, what, out string) {
	t.Helper()
	for i := 0; i < len(out); {
		r, n := utf8.DecodeRuneInString(out[i:])
		if r == utf8.RuneError && n <= 1 || r < 0x20 && r != '\n' || r == 0x7f || unsafeRune(r) {
			t.Errorf("%s: raw %q at byte %d:\n%s", what, r, i, out)
			return
		}
		i += n
	}
}

// TestHostileGuestStringsAreEscaped: the host name, PRETTY_NAME, a label
// and file names of a hostile guest reach the terminal escaped in every
// human output (sysprep, its dry run and -x trace, inspect, audit), and
// exact in JSON.
func TestHostileGuestStringsAreEscaped(t *testing.T) {
	cases := []struct {
		args []string
		code int
		want []string // escaped forms the output must show
	}{
		{[]string{"sysprep", "-x", "--dry-run", "--operations", "bash-history,tmp-files", "hostile.qcow2"}, 0,
			[]string{`Evil\x1b]0;owned\x07 OS\x1b[2J`, `/tmp/\x1b[8mhidden\nimgprep: all good`, `/tmp/bad\xff\xfe`, `/home/ev\x1bil/.bash_history`, `LABEL=lab\x1b[5mel`}},
		{[]string{"sysprep", "--operations", "bash-history,tmp-files", "-v", "hostile.qcow2"}, 0,
			[]string{`Evil\x1b]0;owned\x07 OS\x1b[2J`, `/tmp/\x1b[8mhidden\nimgprep: all good`, `/tmp/bad\xff\xfe`}},
		{[]string{"inspect", "hostile.qcow2"}, 0,
			[]string{`hostname: web\x1b[31m\u009b1m\u202ered`, `LABEL=lab\x1b[5mel`, `Evil\x1b]0;owned\x07 OS\x1b[2J`}},
		{[]string{"audit", "hostile.qcow2", "hostile2.qcow2"}, 1,
			[]string{`hostname web\x1b[31m\u009b1m\u202ered shared by 2 images`}},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := runCLI(t, hostileBackend(), tc.args...)
			if r.code != tc.code {
				t.Fatalf("exit %d:\n%s\n%s", r.code, r.stdout, r.stderr)
			}
			assertTerminalSafe(t, "stdout", r.stdout)
			assertTerminalSafe(t, "stderr", r.stderr)
			for _, w := range tc.want {
				if !strings.Contains(r.stdout+r.stderr, w) {
					t.Errorf("output lacks the escaped %s:\n%s%s", w, r.stdout, r.stderr)
				}
			}
			if strings.Contains(r.stdout+r.stderr, "\nimgprep: all good") {
				t.Errorf("the guest's host name forged a line of output")
			}
		})
	}
	t.Run("json is exact", func(t *testing.T) {
		r := runCLI(t, hostileBackend(), "inspect", "--json", "hostile.qcow2")
		var in sysprep.Inspection
		if err := json.Unmarshal([]byte(r.stdout), &in); err != nil || len(in.Guests) != 1 {
			t.Fatalf("%v: %s", err, r.stdout)
		}
		if g := in.Guests[0]; g.Hostname != hostileHostname || g.OS != hostileOS {
			t.Errorf("JSON host name %q, OS %q: want the guest's exact strings", g.Hostname, g.OS)
		}
		r = runCLI(t, hostileBackend(), "sysprep", "--json", "--dry-run", "--operations", "tmp-files", "hostile.qcow2")
		var rep sysprep.Report
		if err := json.Unmarshal([]byte(strings.SplitN(r.stdout, "\n", 2)[0]), &rep); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, ch := range rep.Changes() {
			found = found || ch.Path == hostileFile
		}
		if !found || rep.Guests[0].OS != hostileOS {
			t.Errorf("JSON changes %+v, OS %q: want %q and the exact OS", rep.Changes(), rep.Guests[0].OS, hostileFile)
		}
	})
}

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"plain /etc/machine-id":   "plain /etc/machine-id",
		"é ü 日本":                  "é ü 日本",
		"a\x1b[2Jb":               `a\x1b[2Jb`,
		"tab\there\r\n":           `tab\there\r\n`,
		"\x00\x7f":                `\x00\x7f`,
		"c1\u0085\u009b":          `c1\u0085\u009b`,
		"bidi\u202eevil\u2066x":   `bidi\u202eevil\u2066x`,
		"bad\xff\xc3":             `bad\xff\xc3`,
		`back\x1b`:                `back\\x1b`,
		"zero-width-ok\u200b":     "zero-width-ok\u200b",
		"mark\u200e\u200f":        `mark\u200e\u200f`,
		"":                        "",
		"emoji 😀":                 "emoji 😀",
		"nul-in-middle a\x00b":    `nul-in-middle a\x00b`,
		"line\u2028sep-is-ok-too": "line\u2028sep-is-ok-too",
	} {
		if got := escape(in); got != want {
			t.Errorf("escape(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestInternalPackagesAreListed: every package under pkg/ is in
// internalPackages, so that no new one's prefix reaches a user.
func TestInternalPackagesAreListed(t *testing.T) {
	listed := map[string]bool{}
	for _, p := range internalPackages {
		listed[p] = true
	}
	err := filepath.WalkDir(filepath.Join("..", "..", "pkg"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if name, ok := strings.CutPrefix(sc.Text(), "package "); ok {
				if !listed[name] && !strings.HasSuffix(name, "test") {
					t.Errorf("%s: package %s is not in internalPackages", path, name)
				}
				break
			}
		}
		return sc.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestUserMessageDropsPackagePrefixes(t *testing.T) {
	for in, want := range map[string]string{
		"storage: image is in use":                      "image is in use",
		"a.qcow2: image: qcow2: bad header":             "a.qcow2: bad header",
		"--operations: catalog: unknown operation":      "--operations: unknown operation",
		"x.raw: writing (ext4: corrupt; txn: aborted)":  "x.raw: writing (corrupt; aborted)",
		"web: host name":                                "web: host name",
		"a.qcow2: not an image: storage: in use":        "a.qcow2: not an image: in use",
		"1 of 2 failed:\n  storage: in use":             "1 of 2 failed:\n  in use",
		"a.raw: open /images/storage: no such file":     "a.raw: open /images/storage: no such file",
		"a.raw: ext4:corrupt (no space, so not prefix)": "a.raw: ext4:corrupt (no space, so not prefix)",
	} {
		if got := userMessage(in); got != want {
			t.Errorf("userMessage(%q) = %q, want %q", in, got, want)
		}
	}
}
