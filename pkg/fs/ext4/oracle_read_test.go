package ext4_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/ext4test"
	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/fs/ext4"
)

// TestReadParityWithDebugfs: for every fixture, our reader lists and reads
// each file as debugfs does: names, inode numbers, types, modes, owners,
// sizes, link counts, device numbers, times, contents, symlink targets and
// extended attributes.
func TestReadParityWithDebugfs(t *testing.T) {
	images := append(append([]string{}, commonFixtures()...), specialFixtures()...)
	// Refused for writing, safe to read.
	images = append(images, "ext4-unknown-feature.img", "ext4-bigalloc.img")
	for _, name := range images {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			img := fixture.Path(t, name)
			opts := ext4test.Options{MaxRead: -1}
			theirs := ext4test.SnapshotWith(t, img, opts)
			fsys := openRead(t, img)
			if name == "ext4-htree.img" {
				// ReadDir of the 5000-entry /big, on its own.
				checkListing(t, fsys, theirs, "/big")
			}
			ours := ext4test.SnapshotFSWith(t, fsys, opts)
			ext4test.Parity(t, ours, theirs)

			// ReadFile agrees with the streamed contents for every file
			// that fits the filesystem.
			for _, p := range theirs.Paths() {
				e := theirs[p]
				if e.Type != fs.TypeRegular || e.Size > fsys.Info().Size {
					continue
				}
				b, err := fsys.ReadFile(p)
				if err != nil {
					t.Errorf("ReadFile(%q): %v", p, err)
					continue
				}
				if shaOf(b) != e.SHA256 {
					t.Errorf("ReadFile(%q): %d bytes that differ from what debugfs dumps (%d bytes)", p, len(b), e.Size)
				}
			}
		})
	}
}

// checkListing fails the test unless ReadDir(dir) returns exactly the
// names, inode numbers and types debugfs lists in dir.
func checkListing(t *testing.T, fsys *ext4.FS, theirs ext4test.Tree, dir string) {
	t.Helper()
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		t.Fatalf("ReadDir(%s): %v", dir, err)
	}
	want := map[string]ext4test.Entry{}
	for p, e := range theirs {
		if strings.HasPrefix(p, dir+"/") && !strings.Contains(p[len(dir)+1:], "/") {
			want[p[len(dir)+1:]] = e
		}
	}
	if len(ents) != len(want) {
		t.Errorf("ReadDir(%s): %d entries, debugfs lists %d", dir, len(ents), len(want))
	}
	for _, de := range ents {
		e, ok := want[de.Name]
		if !ok || e.Ino != de.Ino || e.Type != de.Type {
			t.Errorf("ReadDir(%s): %q inode %d type %s; debugfs: listed %v, inode %d type %s", dir, de.Name, de.Ino, de.Type, ok, e.Ino, e.Type)
		}
	}
}

// TestInfoDescribesTheFilesystem: Type names ext2/ext3/ext4 as mount(8)
// would, and Info carries the UUID, label and block size mkfs was given.
func TestInfoDescribesTheFilesystem(t *testing.T) {
	cases := []struct {
		image, typ, label string
		blockSize         int
	}{
		{"ext2.img", "ext2", "ext2", 1024},
		{"ext3-1k.img", "ext3", "ext3-1k", 1024},
		{"ext4-default.img", "ext4", "ext4-default", 4096},
		{"ext4-1k.img", "ext4", "ext4-1k", 1024},
		{"ext4-no64bit.img", "ext4", "ext4-no64bit", 1024},
	}
	for _, c := range cases {
		t.Run(c.image, func(t *testing.T) {
			fsys := openRead(t, fixture.Path(t, c.image))
			inf := fsys.Info()
			if fsys.Type() != c.typ || inf.Type != c.typ {
				t.Errorf("Type() = %q, Info().Type = %q, want %q", fsys.Type(), inf.Type, c.typ)
			}
			if inf.UUID != fixtureUUID || inf.Label != c.label || inf.BlockSize != c.blockSize || inf.Size != 16<<20 {
				t.Errorf("Info() = %+v, want UUID %s, label %q, block size %d, size 16 MiB", inf, fixtureUUID, c.label, c.blockSize)
			}
			if inf.Writable {
				t.Errorf("Info().Writable is true on a filesystem opened with Open")
			}
		})
	}
}

// TestReadAtOddOffsets: File.ReadAt across block, extent and indirect-map
// boundaries returns the same bytes as the whole file debugfs dumps.
func TestReadAtOddOffsets(t *testing.T) {
	want := gen(1 << 20)
	for _, name := range []string{"ext2.img", "ext3-1k.img", "ext4-default.img", "ext4-1k.img"} {
		t.Run(name, func(t *testing.T) {
			fsys := openRead(t, fixture.Path(t, name))
			f, err := fsys.Open("/data/mib")
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			// 12 KiB is the end of the direct blocks at 1 KiB, 268 KiB of
			// the single-indirect range, 4 KiB one block at 4 KiB.
			for _, off := range []int64{0, 1, 1023, 4095, 12*1024 - 3, 268*1024 - 5, 300001, 1<<20 - 7} {
				buf := make([]byte, 9)
				n, err := f.ReadAt(buf, off)
				end := off + 9
				if end > int64(len(want)) {
					end = int64(len(want))
				}
				if !bytes.Equal(buf[:n], want[off:end]) || (n < 9 && err == nil) {
					t.Errorf("ReadAt(9 bytes at %d) = %q, %v; want %q", off, buf[:n], err, want[off:end])
				}
			}
		})
	}
}
