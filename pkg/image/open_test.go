package image

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/pkg/qcow2"
	"github.com/imgprep/imgprep/pkg/storage"
)

func TestFormatDetection(t *testing.T) {
	dir := t.TempDir()
	raw := filepath.Join(dir, "disk.raw")
	patternFile(t, raw, 1<<20, "raw")
	qcow := filepath.Join(dir, "disk.qcow2")
	qemuImg(t, "convert", "-f", "raw", "-O", "qcow2", raw, qcow)
	// A raw disk whose guest wrote the qcow2 magic into its first sector.
	magic := filepath.Join(dir, "magic.raw")
	patternFile(t, magic, 1<<20, "magic")
	mb, _ := os.ReadFile(magic)
	copy(mb, "QFI\xfb\x00\x00\x00\x03")
	if err := os.WriteFile(magic, mb, 0o644); err != nil {
		t.Fatal(err)
	}
	rawBytes, _ := os.ReadFile(raw)
	qcowFile, _ := os.ReadFile(qcow)

	for _, tc := range []struct {
		name    string
		path    string
		format  string
		want    string
		content []byte
		wantErr error
	}{
		{"auto: a raw image has no qcow2 magic and is raw", raw, "auto", "raw", rawBytes, nil},
		{"auto is the default", raw, "", "raw", rawBytes, nil},
		{"auto: the qcow2 magic QFI\\xfb means qcow2", qcow, "auto", "qcow2", rawBytes, nil},
		{"forced qcow2 on a qcow2 image", qcow, "qcow2", "qcow2", rawBytes, nil},
		{"forced raw on a qcow2 image is the file's bytes, never probed", qcow, "raw", "raw", qcowFile, nil},
		{"forced raw on a raw image that starts with the magic stays raw", magic, "raw", "raw", mb, nil},
		{"auto on a raw image that starts with the magic probes qcow2 (QEMU's hazard) and fails", magic, "auto", "", nil, qcow2.ErrCorrupt},
		{"forced qcow2 on a raw image", raw, "qcow2", "", nil, qcow2.ErrNotQcow2},
		{"an unknown format name", raw, "vmdk", "", nil, ErrUnknownFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := Open(tc.path, OpenOptions{Format: tc.format})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Open error = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			if h.Format() != tc.want {
				t.Fatalf("Format = %q, want %q", h.Format(), tc.want)
			}
			if got := readAll(t, h); !bytes.Equal(got, tc.content) {
				t.Fatal("virtual disk content differs")
			}
			chain := h.Chain()
			if len(chain) != 1 || chain[0].Path != tc.path || chain[0].Format != tc.want || chain[0].VirtualSize != int64(len(tc.content)) {
				t.Fatalf("Chain = %+v", chain)
			}
		})
	}
}

func TestReadOnlyHandleRefusesWrites(t *testing.T) {
	path := fixture.Path(t, "part-mbr.raw")
	before := sha256File(t, path)
	h, err := Open(path, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.WriteAt([]byte("x"), 0); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("WriteAt on a read-only handle: %v", err)
	}
	if err := h.Commit(); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("Commit on a read-only handle: %v", err)
	}
	if h.Staged() != nil {
		t.Fatal("Staged on a read-only handle")
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if sha256File(t, path) != before {
		t.Fatal("a read-only handle changed the image")
	}
}

func TestOpenForWritingRefusesAnImageInUse(t *testing.T) {
	path := fixture.Path(t, "part-mbr.raw")
	before := sha256File(t, path)
	holder, err := storage.OpenFile(path, storage.OpenOptions{Write: true})
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	for _, opts := range []OpenOptions{{Write: true}} {
		if h, err := Open(path, opts); !errors.Is(err, storage.ErrInUse) {
			if h != nil {
				h.Close()
			}
			t.Fatalf("Open %+v of an image held for writing: %v, want ErrInUse", opts, err)
		}
	}
	if _, err := Recover(path, RecoverOptions{}); !errors.Is(err, storage.ErrInUse) {
		t.Fatalf("Recover of an image held for writing: %v, want ErrInUse", err)
	}
	holder.Close()
	if sha256File(t, path) != before {
		t.Fatal("image changed")
	}
}

func TestDryRunNeverOpensTheFileForWriting(t *testing.T) {
	path := fixture.Path(t, "part-gpt.raw")
	if err := os.Chmod(path, 0o444); err != nil {
		t.Fatal(err)
	}
	before := sha256File(t, path)
	if h, err := Open(path, OpenOptions{Write: true}); !errors.Is(err, storage.ErrReadOnly) {
		if h != nil {
			h.Close()
		}
		t.Fatalf("Open for writing of a read-only file: %v, want storage.ErrReadOnly", err)
	}
	h, err := Open(path, OpenOptions{Write: true, DryRun: true})
	if err != nil {
		t.Fatalf("a dry run of a read-only file: %v", err)
	}
	if !h.DryRun() || !h.Writable() {
		t.Fatalf("DryRun, Writable = %v, %v", h.DryRun(), h.Writable())
	}
	if _, err := h.WriteAt([]byte("staged"), 1<<20); err != nil {
		t.Fatal(err)
	}
	if got := h.Staged(); len(got) != 1 || got[0] != (Region{Offset: 1 << 20, Length: 6}) {
		t.Fatalf("Staged = %+v", got)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if sha256File(t, path) != before {
		t.Fatal("a dry run changed the image")
	}
}
