package sysprep_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/fs/memfs"
	"github.com/imgprep/imgprep/pkg/ops"
	"github.com/imgprep/imgprep/pkg/ops/catalog"
	"github.com/imgprep/imgprep/pkg/ops/opstest"
	"github.com/imgprep/imgprep/pkg/sysprep"
	"github.com/imgprep/imgprep/pkg/sysprep/syspreptest"
)

func guest(root string, f *memfs.FS) syspreptest.Guest {
	return syspreptest.Guest{Root: root, FS: f, OSRelease: map[string]string{"PRETTY_NAME": "Debian GNU/Linux 12 (bookworm)"},
		Mounts: []sysprep.MountInfo{{Point: "/", Filesystem: root}}}
}

func backend(imgs map[string]*syspreptest.Image) *syspreptest.Backend {
	return &syspreptest.Backend{Images: imgs}
}

// failing is an operation that fails after the others changed things.
type failing struct{ err error }

func (failing) Name() string        { return "zz-fail" }
func (failing) Description() string { return "fails" }
func (failing) Default() bool       { return false }
func (f failing) Apply(context.Context, ops.Guest) ([]ops.Change, error) {
	return nil, f.err
}

func TestRun(t *testing.T) {
	defaults := identityOps(t)
	errXFS := errors.New("xfs mounted at /var: imgprep cannot read or write xfs")
	tests := []struct {
		name        string
		img         *syspreptest.Image
		dryRun      bool
		ops         []ops.Operation
		wantErr     error
		wantErrText string
		wantCommits int
		wantChanges int
		wantGuests  int
	}{
		{
			name:        "a real run commits once and reports every change",
			img:         &syspreptest.Image{Info: sysprep.ImageInfo{Format: "qcow2"}, Guests: []syspreptest.Guest{guest("ext4 on partition 2", opstest.Populated())}},
			ops:         defaults,
			wantCommits: 1, wantChanges: 12, wantGuests: 1,
		},
		{
			name:        "a dry run stages the same changes and discards them",
			img:         &syspreptest.Image{Guests: []syspreptest.Guest{guest("ext4 on partition 2", opstest.Populated())}},
			dryRun:      true,
			ops:         defaults,
			wantCommits: 0, wantChanges: 12, wantGuests: 1,
		},
		{
			name: "several roots are each processed and reported",
			img: &syspreptest.Image{Guests: []syspreptest.Guest{
				guest("ext4 on partition 2", opstest.Populated()), guest("ext4 on partition 5", opstest.Populated())}},
			ops:         defaults,
			wantCommits: 1, wantChanges: 24, wantGuests: 2,
		},
		{
			name:        "zero roots: IMAGE: no operating system found",
			img:         &syspreptest.Image{},
			ops:         defaults,
			wantErr:     sysprep.ErrNoOS,
			wantErrText: "disk.img: sysprep: no operating system found",
		},
		{
			name:        "a failing operation commits nothing",
			img:         &syspreptest.Image{Guests: []syspreptest.Guest{guest("ext4 on partition 2", opstest.Populated())}},
			ops:         append(append([]ops.Operation{}, defaults...), failing{errXFS}),
			wantErr:     errXFS,
			wantErrText: "disk.img: operation zz-fail on the guest with root ext4 on partition 2: xfs mounted at /var: imgprep cannot read or write xfs (nothing was written)",
		},
		{
			name:        "a failing commit is reported",
			img:         &syspreptest.Image{FinishErr: errors.New("disk full"), Guests: []syspreptest.Guest{guest("r", opstest.Populated())}},
			ops:         defaults,
			wantErrText: "disk.img: committing: disk full",
		},
		{
			name:    "no operations selected is an error",
			img:     &syspreptest.Image{Guests: []syspreptest.Guest{guest("r", opstest.Populated())}},
			wantErr: sysprep.ErrNoOperations,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			orig := make([]*memfs.FS, len(tc.img.Guests))
			for i, g := range tc.img.Guests {
				orig[i] = g.FS.Clone()
			}
			b := backend(map[string]*syspreptest.Image{"disk.img": tc.img})
			rep, err := sysprep.Run(context.Background(), "disk.img", sysprep.Options{DryRun: tc.dryRun, Operations: tc.ops, Backend: b})
			if tc.wantErr != nil || tc.wantErrText != "" {
				if err == nil || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) || !strings.Contains(err.Error(), tc.wantErrText) {
					t.Fatalf("err %v, want %v / %q", err, tc.wantErr, tc.wantErrText)
				}
				if rep == nil || rep.Error != err.Error() || rep.Committed || len(rep.Changes()) != 0 {
					t.Fatalf("failed run report: %+v", rep)
				}
				if tc.img.Commits != 0 {
					t.Fatalf("failed run committed")
				}
				for i, g := range tc.img.Guests {
					if d := opstest.Diff(opstest.Take(t, orig[i]), opstest.Take(t, g.FS)); len(d) != 0 {
						t.Fatalf("failed run changed the image: %v", d)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.img.Commits != tc.wantCommits || rep.Committed != (tc.wantCommits > 0) {
				t.Fatalf("commits %d (report %v), want %d", tc.img.Commits, rep.Committed, tc.wantCommits)
			}
			if len(rep.Changes()) != tc.wantChanges || len(rep.Guests) != tc.wantGuests {
				t.Fatalf("report: %d changes in %d guests, want %d in %d: %+v", len(rep.Changes()), len(rep.Guests), tc.wantChanges, tc.wantGuests, rep)
			}
			if rep.BytesStaged == 0 {
				t.Fatalf("no bytes staged")
			}
			if o := tc.img.Opens[0]; o.Write == tc.dryRun || o.DryRun != tc.dryRun || o.Format != "auto" {
				t.Fatalf("opened with %+v", o)
			}
			if tc.dryRun {
				for i, g := range tc.img.Guests {
					if d := opstest.Diff(opstest.Take(t, orig[i]), opstest.Take(t, g.FS)); len(d) != 0 {
						t.Fatalf("dry run changed the image: %v", d)
					}
				}
			}
		})
	}
}

func TestDryRunReportsWhatARealRunChanges(t *testing.T) {
	img := &syspreptest.Image{Guests: []syspreptest.Guest{guest("ext4 on partition 2", opstest.Populated())}}
	b := backend(map[string]*syspreptest.Image{"d": img})
	opts := sysprep.Options{Operations: identityOps(t), Backend: b}
	opts.DryRun = true
	dry, err := sysprep.Run(context.Background(), "d", opts)
	if err != nil {
		t.Fatal(err)
	}
	opts.DryRun = false
	real, err := sysprep.Run(context.Background(), "d", opts)
	if err != nil {
		t.Fatal(err)
	}
	dj, _ := json.Marshal(dry.Changes())
	rj, _ := json.Marshal(real.Changes())
	if string(dj) != string(rj) || dry.BytesStaged != real.BytesStaged {
		t.Fatalf("dry run reported %s (%d bytes), real run %s (%d bytes)", dj, dry.BytesStaged, rj, real.BytesStaged)
	}
	again, err := sysprep.Run(context.Background(), "d", opts)
	if err != nil || len(again.Changes()) != 0 {
		t.Fatalf("second real run: %v, %+v", err, again.Changes())
	}
}

func TestReportJSONIsStable(t *testing.T) {
	img := &syspreptest.Image{Info: sysprep.ImageInfo{Format: "raw"},
		Guests: []syspreptest.Guest{guest("ext4 on partition 1", memfs.New().AddFile("/etc/machine-id", "x\n", 0o444))}}
	tick := time.Unix(0, 0)
	now := func() time.Time { tick = tick.Add(1500 * time.Microsecond); return tick }
	rep, err := sysprep.Run(context.Background(), "d.raw", sysprep.Options{
		Operations: identityOps(t), Backend: backend(map[string]*syspreptest.Image{"d.raw": img}), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(rep)
	want := `{"image":"d.raw","format":"raw","dry_run":false,"operations":["machine-id","netdata"],` +
		`"guests":[{"root":"ext4 on partition 1","os":"Debian GNU/Linux 12 (bookworm)","changes":[` +
		`{"operation":"machine-id","path":"/etc/machine-id","action":"truncated","filesystem":"memfs"}]}],` +
		`"filesystems_touched":["memfs"],"bytes_staged":4096,"committed":true,"duration_ms":1.5}`
	if string(got) != want {
		t.Fatalf("JSON\n%s\nwant\n%s", got, want)
	}
	if _, err := img.Guests[0].FS.Stat("/etc/machine-id"); err != nil || errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
}

func TestNoOSNamesFilesystemsItCannotRead(t *testing.T) {
	img := &syspreptest.Image{Info: sysprep.ImageInfo{Format: "raw", Filesystems: []sysprep.FilesystemInfo{
		{Desc: "xfs on the whole disk", Type: "xfs", Why: "imgprep cannot read or write xfs"}}}}
	_, err := sysprep.Run(context.Background(), "x.raw", sysprep.Options{
		Operations: catalog.All(catalog.Config{}), Backend: backend(map[string]*syspreptest.Image{"x.raw": img})})
	want := "x.raw: sysprep: no operating system found; imgprep cannot look inside xfs on the whole disk (imgprep cannot read or write xfs)"
	if !errors.Is(err, sysprep.ErrNoOS) || err.Error() != want {
		t.Fatalf("err %v, want %q", err, want)
	}
}

// identityOps returns machine-id and netdata, the operations whose changes
// these tests count: the rest of the default catalogue is tested in
// pkg/ops/catalog.
func identityOps(tb testing.TB) []ops.Operation {
	tb.Helper()
	list, err := catalog.Select(catalog.All(catalog.Config{}), []string{"machine-id,netdata"}, "")
	if err != nil {
		tb.Fatal(err)
	}
	return list
}
