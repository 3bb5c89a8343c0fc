package ext4

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/fs"
)

// TestOpenWritableRefuses: a filesystem that is unsafe to write is refused
// with the documented error naming the filesystem and the reason, the
// image stays byte-identical, and reading still works.
func TestOpenWritableRefuses(t *testing.T) {
	oracle.Require(t, "debugfs")
	blk := filepath.Join(t.TempDir(), "blk")
	if err := os.WriteFile(blk, make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		cfg      int
		requests []string
		want     error
		reason   string
		unread   bool // not even readable
	}{
		{"a journal with s_start != 0 needs journal recovery", 0,
			[]string{"jo", "jw -b 100 " + blk, "jc", "feature -needs_recovery"}, ErrNeedsRecovery, "needs journal recovery", false},
		{"s_state ERROR_FS is an error state", 0, []string{"ssv state 3"}, ErrErrorState, "having errors", false},
		{"s_last_orphan set means orphans present", 0, []string{"ssv last_orphan 12"}, ErrOrphansPresent, "orphan", false},
		{"an unknown incompat bit is an unknown feature, not even read", 0, []string{"feature FEATURE_I31"}, ErrUnknownFeature, "FEATURE_I31", true},
		{"an unknown ro_compat bit is an unknown feature", 0, []string{"feature FEATURE_R30"}, ErrUnknownFeature, "FEATURE_R30", false},
		{"bigalloc is a known but unsupported feature", -1, nil, ErrUnsupportedFeature, "bigalloc", false},
		{"quota is a known but unsupported feature", -2, nil, ErrUnsupportedFeature, "quota", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var img string
			switch tc.cfg {
			case -1:
				img = mkfs(t, mkfsConfig{name: "bigalloc", fsType: "ext4", blockSize: 4096, features: "bigalloc", sizeMiB: 32}, "")
			case -2:
				img = mkfs(t, mkfsConfig{name: "quota", fsType: "ext4", blockSize: 4096, features: "quota", sizeMiB: 32}, "")
			default:
				img = mkfs(t, testConfigs()[tc.cfg], "")
			}
			if len(tc.requests) > 0 {
				debugfsW(t, img, tc.requests...)
			}
			sum := fixture.SHA256(t, img)
			fh, err := os.OpenFile(img, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer fh.Close()
			st, _ := fh.Stat()
			_, err = OpenWritable(fh, st.Size(), Options{Name: "ext4 on partition 2"})
			if !errors.Is(err, tc.want) {
				t.Fatalf("OpenWritable = %v, want %v", err, tc.want)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "refusing to write: ext4 on partition 2") || !strings.Contains(msg, tc.reason) {
				t.Errorf("error %q does not read like the documented refusal mentioning %q", msg, tc.reason)
			}
			if fixture.SHA256(t, img) != sum {
				t.Fatal("a refused OpenWritable changed the image")
			}
			ro, err := Open(fh, st.Size())
			if tc.unread {
				if !errors.Is(err, tc.want) {
					t.Fatalf("Open for reading = %v, want %v", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open for reading: %v", err)
			}
			if _, err := ro.ReadDir("/lost+found"); err != nil {
				t.Errorf("reading a refused filesystem: %v", err)
			}
			if inf := ro.Info(); inf.Writable || !strings.Contains(inf.WhyReadOnly, tc.reason) {
				t.Errorf("Info = %+v, want WhyReadOnly mentioning %q", inf, tc.reason)
			}
			if err := ro.Remove("/lost+found"); !errors.Is(err, fs.ErrReadOnly) || !errors.Is(err, tc.want) {
				t.Errorf("Remove on the read-only FS = %v", err)
			}
			if fixture.SHA256(t, img) != sum {
				t.Fatal("the read-only FS changed the image")
			}
		})
	}
}

// TestOpenRejectsNonExt: garbage, a short device and a filesystem larger
// than its device are refused with the documented errors.
func TestOpenRejectsNonExt(t *testing.T) {
	img := mkfs(t, testConfigs()[1], "")
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"zeros are not an ext filesystem", make([]byte, 8192), ErrNotExt},
		{"a device shorter than the superblock is not an ext filesystem", b[:1500], ErrNotExt},
		{"a filesystem larger than its device is corrupt", b[:len(b)/2], ErrCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(bytesReaderAt(tc.data), int64(len(tc.data)))
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open = %v, want %v", err, tc.want)
			}
		})
	}
	var ce *CorruptError
	bad := append([]byte{}, b...)
	bad[superblockOffset+0x60] ^= 0x80 // a feature bit flipped: checksum mismatch
	if _, err := Open(bytesReaderAt(bad), int64(len(bad))); !errors.As(err, &ce) || ce.Offset != superblockOffset || !errors.Is(err, ErrChecksum) {
		t.Fatalf("Open with a bad superblock checksum = %v, want a CorruptError at %d", err, superblockOffset)
	}
}

type bytesReaderAt []byte

func (b bytesReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off > int64(len(b)) {
		return 0, os.ErrInvalid
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
