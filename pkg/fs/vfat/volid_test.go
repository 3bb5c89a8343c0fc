package vfat

import (
	"bytes"
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/fs"
)

var volIDForm = regexp.MustCompile(`^[0-9A-F]{4}-[0-9A-F]{4}$`)

// TestSetRandomUUIDGivesANewVolumeID: on FAT12, FAT16 and FAT32 a new
// volume ID is what blkid then reads, fsck.fat -n finds nothing to fix
// (on FAT32 it compares the boot sector with its backup, which got the
// same ID), and nothing but the ID's bytes changed.
func TestSetRandomUUIDGivesANewVolumeID(t *testing.T) {
	for _, im := range fatImages {
		t.Run(im.name, func(t *testing.T) {
			f, img, fh := openFileRW(t, im.name)
			before := readAll(t, img)
			beforeUsed := fsckFatClean(t, img)
			var setter fs.UUIDSetter = f
			old, new, err := setter.SetRandomUUID(nil)
			if err != nil {
				t.Fatalf("SetRandomUUID: %v", err)
			}
			if !volIDForm.MatchString(old) || !volIDForm.MatchString(new) || old == new {
				t.Fatalf("SetRandomUUID: %q → %q", old, new)
			}
			if f.Info().UUID != new {
				t.Errorf("Info().UUID = %q, want %q", f.Info().UUID, new)
			}
			if err := fh.Sync(); err != nil {
				t.Fatal(err)
			}
			out, errOut, code := oracle.Run(t, "blkid", "-p", "-o", "value", "-s", "UUID", img)
			if code != 0 || strings.TrimSpace(out) != new {
				t.Errorf("blkid -p reads %q (exit %d, %s), want %q", strings.TrimSpace(out), code, errOut, new)
			}
			if used := fsckFatClean(t, img); used != beforeUsed {
				t.Errorf("fsck.fat counts %d clusters in use, %d before", used, beforeUsed)
			}
			after := readAll(t, img)
			var diff []int
			for i := range before {
				if before[i] != after[i] {
					diff = append(diff, i)
				}
			}
			want := 1 // the ID's 4 bytes in the boot sector, and on FAT32 in its backup
			if im.fatType == 32 {
				want = 2
			}
			if len(diff) == 0 || len(diff) > 4*want || diff[len(diff)-1]-diff[0] > 6*512+4 {
				t.Errorf("bytes changed at %v", diff)
			}
		})
	}
}

// TestSetRandomUUIDRefusals: read-only, a FAT without an extended boot
// signature, and a random source giving the current ID all fail without
// writing.
func TestSetRandomUUIDRefusals(t *testing.T) {
	img := fixture.Path(t, "disk-vfat16.raw")
	b := readAll(t, img)
	ro, err := Open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ro.SetRandomUUID(nil); !errors.Is(err, fs.ErrReadOnly) {
		t.Errorf("read-only: %v, want fs.ErrReadOnly", err)
	}

	f, img2, _ := openFileRW(t, "disk-vfat16.raw")
	cur := readAll(t, img2)
	id := cur[f.volIDOffset : f.volIDOffset+4]
	if _, _, err := f.SetRandomUUID(bytes.NewReader(id)); !errors.Is(err, ErrSameVolumeID) {
		t.Errorf("the current ID drawn: %v, want ErrSameVolumeID", err)
	}
	if _, _, err := f.SetRandomUUID(bytes.NewReader(make([]byte, 4))); !errors.Is(err, ErrSameVolumeID) {
		t.Errorf("a zero ID drawn: %v, want ErrSameVolumeID", err)
	}
	if !bytes.Equal(readAll(t, img2), cur) {
		t.Error("a refused SetRandomUUID wrote")
	}

	noSig := bytes.Clone(b)
	noSig[extBPBOffset+2] = 0 // BS_BootSig
	g, err := OpenWritable(memRW(noSig), int64(len(noSig)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := g.SetRandomUUID(nil); !errors.Is(err, ErrNoVolumeID) {
		t.Errorf("no extended boot signature: %v, want ErrNoVolumeID", err)
	}
}

func readAll(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
