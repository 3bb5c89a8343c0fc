package machineid_test

import (
	"context"
	"errors"
	"testing"

	"github.com/imgprep/imgprep/pkg/fs/memfs"
	"github.com/imgprep/imgprep/pkg/ops"
	"github.com/imgprep/imgprep/pkg/ops/machineid"
	"github.com/imgprep/imgprep/pkg/ops/opstest"
)

func TestConformance(t *testing.T) {
	for _, mode := range []machineid.Mode{machineid.ModeEmpty, machineid.ModeUninitialized} {
		t.Run(string(mode), func(t *testing.T) {
			opstest.Conformance(t, machineid.New(machineid.Options{Mode: mode}))
		})
	}
}

func TestMachineID(t *testing.T) {
	const id = "4c4c4544003957108052b4c04f384833\n"
	tests := []struct {
		name     string
		mode     machineid.Mode
		setup    func(f *memfs.FS)
		wantEtc  *string // nil: must not exist
		wantDbus *string
		want     []ops.Change
	}{
		{
			name: "an empty /etc/machine-id is not a first boot: truncate, keep the D-Bus copy from coming back",
			setup: func(f *memfs.FS) {
				f.AddFile("/etc/machine-id", id, 0o444).AddFile("/var/lib/dbus/machine-id", id, 0o444)
			},
			wantEtc: ptr(""), wantDbus: ptr(""),
			want: []ops.Change{
				{Path: "/etc/machine-id", Action: ops.Truncated, Filesystem: "memfs"},
				{Path: "/var/lib/dbus/machine-id", Action: ops.Truncated, Filesystem: "memfs"},
			},
		},
		{
			name:    "a missing /etc/machine-id stays missing",
			setup:   func(f *memfs.FS) { f.AddDir("/etc", 0o755) },
			wantEtc: nil,
		},
		{
			name: "a symlinked /var/lib/dbus/machine-id is not read by systemd and is left alone",
			setup: func(f *memfs.FS) {
				f.AddFile("/etc/machine-id", id, 0o444).AddSymlink("/var/lib/dbus/machine-id", "/etc/machine-id")
			},
			wantEtc: ptr(""), wantDbus: ptr(""),
			want: []ops.Change{{Path: "/etc/machine-id", Action: ops.Truncated, Filesystem: "memfs"}},
		},
		{
			name: "a symlinked /etc/machine-id is followed to the machine-id file systemd reads",
			setup: func(f *memfs.FS) {
				f.AddSymlink("/etc/machine-id", "../var/lib/dbus/machine-id").AddFile("/var/lib/dbus/machine-id", id, 0o444)
			},
			wantEtc: ptr(""), wantDbus: ptr(""),
			want: []ops.Change{{Path: "/var/lib/dbus/machine-id", Action: ops.Truncated, Filesystem: "memfs"}},
		},
		{
			name: "a symlinked /etc/machine-id is not followed to a file of another name",
			setup: func(f *memfs.FS) {
				f.AddSymlink("/etc/machine-id", "/etc/passwd").AddFile("/etc/passwd", "root:x:0:0\n", 0o644)
			},
			wantEtc: ptr("root:x:0:0\n"),
		},
		{
			name: "uninitialized through a symlinked /etc/machine-id is not undone by the D-Bus step",
			mode: machineid.ModeUninitialized,
			setup: func(f *memfs.FS) {
				f.AddSymlink("/etc/machine-id", "/var/lib/dbus/machine-id").AddFile("/var/lib/dbus/machine-id", id, 0o444)
			},
			wantEtc: ptr("uninitialized\n"), wantDbus: ptr("uninitialized\n"),
			want: []ops.Change{{Path: "/var/lib/dbus/machine-id", Action: ops.Written, Filesystem: "memfs"}},
		},
		{
			name: "uninitialized marks the next boot as the first boot",
			mode: machineid.ModeUninitialized,
			setup: func(f *memfs.FS) {
				f.AddFile("/etc/machine-id", id, 0o444).AddFile("/var/lib/dbus/machine-id", id, 0o444)
			},
			wantEtc: ptr("uninitialized\n"), wantDbus: ptr(""),
			want: []ops.Change{
				{Path: "/etc/machine-id", Action: ops.Written, Filesystem: "memfs"},
				{Path: "/var/lib/dbus/machine-id", Action: ops.Truncated, Filesystem: "memfs"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := memfs.New()
			tc.setup(f)
			var before map[string][]byte
			if a, err := f.Lstat("/etc/machine-id"); err == nil {
				f.SetXattr("/etc/machine-id", "security.selinux", []byte("label"))
				before, _ = f.Xattrs("/etc/machine-id")
				defer func() {
					b, err := f.Lstat("/etc/machine-id")
					if err != nil || b.Ino != a.Ino || b.Mode != a.Mode || b.UID != a.UID || b.GID != a.GID {
						t.Errorf("inode, mode or owner changed: %+v → %+v (%v)", a, b, err)
					}
					if x, _ := f.Xattrs("/etc/machine-id"); string(x["security.selinux"]) != string(before["security.selinux"]) {
						t.Errorf("xattrs changed: %q", x)
					}
				}()
			}
			got, err := machineid.New(machineid.Options{Mode: tc.mode}).Apply(context.Background(), f)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("changes %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("changes %+v, want %+v", got, tc.want)
				}
			}
			checkContent(t, f, "/etc/machine-id", tc.wantEtc)
			if tc.wantDbus != nil {
				checkContent(t, f, "/var/lib/dbus/machine-id", tc.wantDbus)
			}
		})
	}
}

func TestBadMode(t *testing.T) {
	if _, err := machineid.ParseMode("random"); !errors.Is(err, machineid.ErrBadMode) {
		t.Fatalf("ParseMode(random): %v", err)
	}
	f := memfs.New().AddFile("/etc/machine-id", "x\n", 0o444)
	if _, err := machineid.New(machineid.Options{Mode: "random"}).Apply(context.Background(), f); !errors.Is(err, machineid.ErrBadMode) {
		t.Fatalf("Apply with a bad mode: %v", err)
	}
	if b, _ := f.ReadFile("/etc/machine-id"); string(b) != "x\n" {
		t.Fatalf("bad mode changed the file to %q", b)
	}
}

func checkContent(t testing.TB, f *memfs.FS, p string, want *string) {
	t.Helper()
	b, err := f.ReadFile(p)
	if want == nil {
		if err == nil {
			t.Fatalf("%s exists (%q), want missing", p, b)
		}
		return
	}
	if err != nil || string(b) != *want {
		t.Fatalf("%s = %q (%v), want %q", p, b, err, *want)
	}
}

func ptr(s string) *string { return &s }
