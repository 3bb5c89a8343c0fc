package txn

import (
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/imgprep/imgprep/internal/faultfile"
	"github.com/imgprep/imgprep/pkg/storage"
)

// syncRecorder is a storage double that records, in order, every write,
// truncation and sync of the image and of the journal, and every
// directory sync: what a commit asks of the disk, independent of any
// crash model.
type syncRecorder struct {
	mu     sync.Mutex
	events []string
}

func (r *syncRecorder) add(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprintf(format, args...))
}

// index returns the position of the first event at or after from that
// has the prefix p, or -1.
func (r *syncRecorder) index(from int, p string) int {
	for i := max(from, 0); i < len(r.events); i++ {
		if strings.HasPrefix(r.events[i], p) {
			return i
		}
	}
	return -1
}

// last returns the position of the last event that has the prefix p, or
// -1.
func (r *syncRecorder) last(p string) int {
	for i := len(r.events) - 1; i >= 0; i-- {
		if strings.HasPrefix(r.events[i], p) {
			return i
		}
	}
	return -1
}

func (r *syncRecorder) count(p string) int {
	n := 0
	for _, e := range r.events {
		if strings.HasPrefix(e, p) {
			n++
		}
	}
	return n
}

type recFile struct {
	storage.File
	r    *syncRecorder
	name string
}

func (f *recFile) WriteAt(p []byte, off int64) (int, error) {
	what := "write"
	if f.name == "journal" && off == stateOff && len(p) == 4 {
		switch binary.LittleEndian.Uint32(p) {
		case StatePending:
			what = "seal"
		case StateCommitted:
			what = "committed"
		case StateUndoing:
			what = "undoing"
		}
	}
	f.r.add("%s %s %d+%d", f.name, what, off, len(p))
	return f.File.WriteAt(p, off)
}

func (f *recFile) Truncate(size int64) error {
	f.r.add("%s truncate %d", f.name, size)
	return f.File.Truncate(size)
}

func (f *recFile) Sync() error {
	f.r.add("%s sync", f.name)
	return f.File.Sync()
}

type recDir struct {
	storage.Dir
	r *syncRecorder
}

func (d *recDir) Create(path string) (storage.File, error) {
	f, err := d.Dir.Create(path)
	if err != nil {
		return nil, err
	}
	d.r.add("dir create %s", path)
	return &recFile{File: f, r: d.r, name: "journal"}, nil
}

func (d *recDir) SyncDir(path string) error {
	d.r.add("dir sync")
	return d.Dir.SyncDir(path)
}

func (d *recDir) Remove(path string) error {
	d.r.add("dir remove %s", path)
	return d.Dir.Remove(path)
}

// TestCommitSyncsTheJournalBeforeTouchingTheImage asserts the order of
// durability points directly, on a double that counts syncs rather than
// simulating a crash: every journal write is followed by a journal fsync
// and a directory fsync before the seal; the seal is fsynced before the
// first write or truncation of the image; the image is fsynced before the
// journal is marked committed, and that mark is fsynced before the
// journal is removed.
func TestCommitSyncsTheJournalBeforeTouchingTheImage(t *testing.T) {
	for _, sc := range faultScenarios {
		t.Run(sc.name, func(t *testing.T) {
			rec := &syncRecorder{}
			img := &recFile{File: faultfile.NewMem(pattern(sc.size, 7)), r: rec, name: "image"}
			opts := Options{JournalPath: "disk.img" + JournalSuffix, Dir: &recDir{Dir: faultfile.NewMemDir(), r: rec}, BufferSize: bufSize}
			tx, err := Begin(img, opts)
			if err != nil {
				t.Fatal(err)
			}
			stage(t, tx, sc.steps)
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			ev := rec.events
			defer func() {
				if t.Failed() {
					t.Logf("events:\n%s", strings.Join(ev, "\n"))
				}
			}()
			create := rec.index(0, "dir create")
			lastJW := rec.last("journal write")
			seal := rec.index(0, "journal seal")
			firstImg := min(nonNeg(rec.index(0, "image write")), nonNeg(rec.index(0, "image truncate")))
			lastImg := max(rec.last("image write"), rec.last("image truncate"))
			committed := rec.index(0, "journal committed")
			remove := rec.index(0, "dir remove")
			if create < 0 || lastJW < 0 || seal < 0 || firstImg == nonNeg(-1) || committed < 0 || remove < 0 {
				t.Fatalf("missing steps: create %d, journal write %d, seal %d, image write %d, committed %d, remove %d", create, lastJW, seal, firstImg, committed, remove)
			}
			// Journal content, then its fsync, then the directory's, then the seal.
			jsync := rec.index(lastJW, "journal sync")
			dsync := rec.index(jsync, "dir sync")
			if jsync < 0 || jsync > seal {
				t.Errorf("no fsync of the journal between its last write (%d) and the seal (%d)", lastJW, seal)
			}
			if dsync < 0 || dsync > seal {
				t.Errorf("no fsync of the journal's directory between the journal's fsync (%d) and the seal (%d)", jsync, seal)
			}
			// The seal, fsynced, before the image is touched.
			if s := rec.index(seal, "journal sync"); s < 0 || s > firstImg {
				t.Errorf("the seal (%d) is not fsynced before the first image write (%d)", seal, firstImg)
			}
			if seal > firstImg {
				t.Errorf("the image is written (%d) before the journal is sealed (%d)", firstImg, seal)
			}
			// The image fsynced before the journal says committed.
			if s := rec.index(lastImg, "image sync"); s < 0 || s > committed {
				t.Errorf("the image is not fsynced between its last write (%d) and the committed mark (%d)", lastImg, committed)
			}
			if s := rec.index(committed, "journal sync"); s < 0 || s > remove {
				t.Errorf("the committed mark (%d) is not fsynced before the journal is removed (%d)", committed, remove)
			}
			// Exactly one fsync per durability point: content, seal, committed.
			if n := rec.count("journal sync"); n != 3 {
				t.Errorf("%d fsyncs of the journal, want 3 (content, seal, committed)", n)
			}
			if n := rec.count("image sync"); n != 1 {
				t.Errorf("%d fsyncs of the image, want 1", n)
			}
		})
	}
}

// nonNeg maps "not found" (-1) past every index, for min.
func nonNeg(i int) int {
	if i < 0 {
		return 1 << 30
	}
	return i
}
