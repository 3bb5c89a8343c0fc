package ext4_test

import (
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/fs/ext4"
)

// dumpe2fsHeader runs dumpe2fs -h and returns its "Name: value" lines.
func dumpe2fsHeader(t *testing.T, img string) map[string]string {
	t.Helper()
	out, errOut, code := oracle.Run(t, "dumpe2fs", "-h", img)
	if code != 0 {
		t.Fatalf("dumpe2fs -h %s: exit %d: %s", img, code, errOut)
	}
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			m[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return m
}

// blkidUUID is the UUID blkid reads from the filesystem itself (-p: no
// cache).
func blkidUUID(t *testing.T, img string) string {
	t.Helper()
	out, errOut, code := oracle.Run(t, "blkid", "-p", "-o", "value", "-s", "UUID", img)
	if code != 0 {
		t.Fatalf("blkid -p %s: exit %d: %s", img, code, errOut)
	}
	return strings.TrimSpace(out)
}

// firstBackup returns the block of the first backup superblock (group
// 1) and the block size, from dumpe2fs -h, when the filesystem has one.
func firstBackup(t *testing.T, h map[string]string) (block, blockSize string, ok bool) {
	t.Helper()
	n := func(k string) int64 {
		v, err := strconv.ParseInt(h[k], 10, 64)
		if err != nil {
			t.Fatalf("dumpe2fs %s: %q", k, h[k])
		}
		return v
	}
	b := n("First block") + n("Blocks per group")
	if b >= n("Block count") {
		return "", "", false
	}
	return strconv.FormatInt(b, 10), h["Block size"], true
}

// dumpe2fsBackup is dumpe2fsHeader of the backup superblock at block.
func dumpe2fsBackup(t *testing.T, img, block, blockSize string) map[string]string {
	t.Helper()
	out, errOut, code := oracle.Run(t, "dumpe2fs", "-h", "-o", "superblock="+block, "-o", "blocksize="+blockSize, img)
	if code != 0 {
		t.Fatalf("dumpe2fs -o superblock=%s %s: exit %d: %s", block, img, code, errOut)
	}
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			m[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return m
}

// e2fsckBackup is what e2fsck -fn says of the filesystem read through the
// backup superblock at block and its descriptors.
func e2fsckBackup(t *testing.T, img, block, blockSize string) string {
	t.Helper()
	out, errOut, _ := oracle.Run(t, "e2fsck", "-fn", "-b", block, "-B", blockSize, img)
	return out + errOut
}

func hasFeature(h map[string]string, name string) bool {
	for _, f := range strings.Fields(h["Filesystem features"]) {
		if f == name {
			return true
		}
	}
	return false
}

// TestSetUUIDAsTune2fsDoes: a new random UUID on every flavour (ext2,
// ext3, ext4 with metadata_csum, with metadata_csum_seed already, with
// uninit_bg's crc16 descriptor checksums, without 64bit, with meta_bg,
// 1 KiB blocks): e2fsck -fn finds nothing, dumpe2fs and blkid read the new
// UUID; with metadata_csum the seed of the old UUID is kept in
// s_checksum_seed behind metadata_csum_seed, as tune2fs -O
// metadata_csum_seed -U does, and uninit_bg's descriptors are rewritten.
// The kernel mounts the result and reads a file from it.
func TestSetUUIDAsTune2fsDoes(t *testing.T) {
	for _, name := range []string{"ext2.img", "ext3-1k.img", "ext4-default.img", "ext4-1k.img", "ext4-nocsum.img",
		"ext4-no64bit.img", "ext4-metabg.img", "ext4-orphan-seed.img"} {
		t.Run(name, func(t *testing.T) {
			img := fixture.Path(t, name)
			before := dumpe2fsHeader(t, img)
			if before["Filesystem UUID"] != fixtureUUID {
				t.Fatalf("fixture UUID %q, want %q", before["Filesystem UUID"], fixtureUUID)
			}
			backup, bs, hasBackup := firstBackup(t, before)
			var backupCheck string
			if hasBackup {
				backupCheck = e2fsckBackup(t, img, backup, bs)
			}
			fsys, done := openWrite(t, img)
			var setter fs.UUIDSetter = fsys
			old, new, err := setter.SetRandomUUID(nil)
			if err != nil {
				t.Fatalf("SetRandomUUID: %v", err)
			}
			if old != fixtureUUID || new == old {
				t.Fatalf("SetRandomUUID: %q → %q", old, new)
			}
			if u, err := uuid.Parse(new); err != nil || u.Version() != 4 || u.Variant() != uuid.RFC4122 {
				t.Errorf("new UUID %q is not a random RFC 4122 UUID (%v)", new, err)
			}
			if got := fsys.Info().UUID; got != new {
				t.Errorf("Info().UUID = %q before Sync, want %q", got, new)
			}
			done()

			oracle.E2fsckClean(t, img)
			after := dumpe2fsHeader(t, img)
			if got := after["Filesystem UUID"]; got != new {
				t.Errorf("dumpe2fs reads UUID %q, want %q", got, new)
			}
			if got := blkidUUID(t, img); got != new {
				t.Errorf("blkid reads UUID %q, want %q", got, new)
			}
			if hasFeature(before, "metadata_csum") {
				seed := before["Checksum seed"]
				if seed == "" { // seeded from the UUID until now
					oldUUID := uuid.MustParse(old)
					seed = fmt.Sprintf("0x%08x", ^crc32.Checksum(oldUUID[:], crc32.MakeTable(crc32.Castagnoli)))
				}
				if !hasFeature(after, "metadata_csum_seed") || after["Checksum seed"] != seed {
					t.Errorf("after: features %q, checksum seed %q; want metadata_csum_seed with the old seed %s",
						after["Filesystem features"], after["Checksum seed"], seed)
				}
			} else if hasFeature(after, "metadata_csum_seed") {
				t.Errorf("metadata_csum_seed set without metadata_csum: %q", after["Filesystem features"])
			}
			// The first backup superblock follows (as tune2fs writes it),
			// and e2fsck -b reading it and its descriptors finds nothing
			// it did not find before (a fixture's backups hold stale free
			// counts; with uninit_bg the descriptors copied over their
			// backups bring the current ones).
			if hasBackup {
				bh := dumpe2fsBackup(t, img, backup, bs)
				for _, k := range []string{"Filesystem UUID", "Filesystem features", "Checksum seed"} {
					if bh[k] != after[k] {
						t.Errorf("backup superblock at %s: %s %q, the primary's %q", backup, k, bh[k], after[k])
					}
				}
				got := e2fsckBackup(t, img, backup, bs)
				for _, l := range strings.Split(got, "\n") {
					if !strings.Contains(backupCheck, l) {
						t.Errorf("e2fsck -fn -b %s says %q, which it did not before:\nbefore\n%s\nafter\n%s", backup, l, backupCheck, got)
					}
				}
			}
			// Nothing else of the superblock moved.
			for _, k := range []string{"Block count", "Free blocks", "Free inodes", "Inode count", "Filesystem volume name", "Journal UUID"} {
				if before[k] != after[k] {
					t.Errorf("dumpe2fs %s: %q, then %q", k, before[k], after[k])
				}
			}
			if strings.HasPrefix(name, "ext4") {
				dir, _ := oracle.KernelMount(t, img, 0, true)
				if out, errOut, code := oracle.Run(t, "cat", dir+"/etc/hostname"); code != 0 || out == "" {
					t.Errorf("reading /etc/hostname through the kernel: exit %d: %s", code, errOut)
				}
			}
		})
	}
}

// TestSetUUIDRefusesReadOnlyAndRepeats: a read-only filesystem is not
// renamed, and a random source repeating the current UUID is refused.
func TestSetUUIDRefusesReadOnlyAndRepeats(t *testing.T) {
	img := fixture.Path(t, "ext4-default.img")
	sum := fixture.SHA256(t, img)
	if _, _, err := openRead(t, img).SetRandomUUID(nil); !errors.Is(err, fs.ErrReadOnly) {
		t.Errorf("SetRandomUUID on a read-only filesystem: %v, want fs.ErrReadOnly", err)
	}
	fsys, done := openWrite(t, img)
	same := uuid.MustParse(fixtureUUID)
	if _, _, err := fsys.SetUUID(same); !errors.Is(err, ext4.ErrSameUUID) {
		t.Errorf("SetUUID(the current UUID): %v, want ErrSameUUID", err)
	}
	if _, _, err := fsys.SetUUID([16]byte{}); !errors.Is(err, ext4.ErrSameUUID) {
		t.Errorf("SetUUID(zero): %v, want ErrSameUUID", err)
	}
	done()
	if fixture.SHA256(t, img) != sum {
		t.Error("a refused SetUUID changed the image")
	}
}
