package txn

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/faultfile"
	"github.com/imgprep/imgprep/pkg/storage"
)

// buildJournal returns the journal Commit would write for steps over
// before, without touching anything else.
func buildJournal(tb testing.TB, before []byte, steps []step) []byte {
	tb.Helper()
	opts, _ := memOpts()
	tx, err := Begin(faultfile.NewMem(before), opts)
	if err != nil {
		tb.Fatal(err)
	}
	stage(tb, tx, steps)
	tx.opts.BufferSize = 1 << 20
	jf := faultfile.NewMem(nil)
	recs, err := tx.originals()
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := tx.fillJournal(jf, recs); err != nil {
		tb.Fatal(err)
	}
	b := jf.Bytes()
	binary.LittleEndian.PutUint32(b[stateOff:], StatePending) // sealed
	return b
}

var journalSteps = []step{write(2, "xyz"), write(40, "0123456789"), trunc(60), write(90, "tail")}

func TestParseJournalAcceptsWhatCommitWrites(t *testing.T) {
	before := pattern(100, 21)
	jb := buildJournal(t, before, journalSteps)
	j, err := ParseJournal(bytes.NewReader(jb), int64(len(jb)))
	if err != nil {
		t.Fatal(err)
	}
	// Originals: [2,5), [40,50) and the cut [60,100): three records.
	if j.State != StatePending || j.OrigSize != 100 || j.FinalSize != 94 || j.CutSize != 60 || j.Records != 3 || j.DataBytes != 3+10+40 {
		t.Fatalf("parsed %+v", j)
	}
	// The state field is outside the checksum: flipping it to committed
	// keeps the journal valid.
	binary.LittleEndian.PutUint32(jb[stateOff:], StateCommitted)
	if j, err := ParseJournal(bytes.NewReader(jb), int64(len(jb))); err != nil || j.State != StateCommitted {
		t.Fatalf("committed journal: %v %+v", err, j)
	}
}

func TestParseJournalRejectsDamage(t *testing.T) {
	before := pattern(100, 22)
	good := buildJournal(t, before, journalSteps)
	end := len(good) - trailerSize
	put32 := func(off int, v uint32) func([]byte) []byte {
		return func(b []byte) []byte { binary.LittleEndian.PutUint32(b[off:], v); return b }
	}
	put64 := func(off int, v uint64) func([]byte) []byte {
		return func(b []byte) []byte { binary.LittleEndian.PutUint64(b[off:], v); return b }
	}
	cases := []struct {
		name    string
		mutate  func([]byte) []byte
		want    error
		wantOff int64
	}{
		{"empty file (crash right after create) is truncated", func(b []byte) []byte { return nil }, ErrJournalTruncated, 0},
		{"header only is truncated", func(b []byte) []byte { return b[:headerSize+trailerSize-1] }, ErrJournalTruncated, 0},
		{"bad magic", func(b []byte) []byte { b[0] = 'X'; return b }, ErrJournalMagic, 0},
		{"newer version is unsupported", put32(8, journalVersion+1), ErrJournalVersion, 8},
		{"version 1 (no identity, no seal) is unsupported", put32(8, 1), ErrJournalVersion, 8},
		{"image kind unknown with an identity is corrupt", put64(64, 7), ErrJournalCorrupt, 96},
		{"unit size other than 512 is corrupt", put32(100, 4096), ErrJournalCorrupt, 100},
		{"reserved bytes set are corrupt", put32(120, 1), ErrJournalCorrupt, 104},
		{"version zero is corrupt", put32(8, 0), ErrJournalCorrupt, 8},
		{"file shorter than journal size is truncated", func(b []byte) []byte { return b[:len(b)-1] }, ErrJournalTruncated, 40},
		{"file longer than journal size is corrupt", func(b []byte) []byte { return append(b, 0) }, ErrJournalCorrupt, 40},
		{"never-sealed state is not parsed", put32(stateOff, 0), ErrJournalCorrupt, stateOff},
		{"unknown state is corrupt", put32(stateOff, 0x12345678), ErrJournalCorrupt, stateOff},
		{"record count beyond what the file can hold", put32(20, 0xFFFFFFFF), ErrJournalCorrupt, 20},
		{"original size beyond int64", put64(24, 1<<63), ErrJournalCorrupt, 24},
		{"cut size above the original size", put64(56, 101), ErrJournalCorrupt, 56},
		{"record past the original size", put64(headerSize, 99), ErrJournalCorrupt, headerSize},
		{"record of length zero", put64(headerSize+8, 0), ErrJournalCorrupt, headerSize + 8},
		{"record longer than the journal", put64(headerSize+8, 1<<40), ErrJournalCorrupt, headerSize + 8},
		{"data bytes disagree with the records", put64(48, 52), ErrJournalCorrupt, 48},
		{"trailer magic damaged", func(b []byte) []byte { b[end] = 0; return b }, ErrJournalCorrupt, int64(end)},
		{"checksum damaged", func(b []byte) []byte { b[end+8] ^= 1; return b }, ErrJournalChecksum, int64(end + 8)},
		{"original data damaged (torn write)", func(b []byte) []byte { b[headerSize+recordSize] ^= 0x80; return b }, ErrJournalChecksum, int64(end + 8)},
		{"a digest damaged", func(b []byte) []byte { b[headerSize+recordSize+3] ^= 1; return b }, ErrJournalChecksum, int64(end + 8)},
		{"run ID damaged", func(b []byte) []byte { b[85] ^= 1; return b }, ErrJournalChecksum, int64(end + 8)},
		{"image identity damaged", func(b []byte) []byte { b[64] ^= 1; return b }, ErrJournalCorrupt, 96},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := c.mutate(append([]byte(nil), good...))
			_, err := ParseJournal(bytes.NewReader(b), int64(len(b)))
			if !errors.Is(err, c.want) {
				t.Fatalf("ParseJournal = %v, want %v", err, c.want)
			}
			var je *JournalError
			if !errors.As(err, &je) || je.Off != c.wantOff {
				t.Fatalf("error %v: want a *JournalError at byte %d", err, c.wantOff)
			}
		})
	}
}

func TestRecoverCases(t *testing.T) {
	before := pattern(100, 23)
	after := model(before, journalSteps)
	good := buildJournal(t, before, journalSteps)
	with := func(off int, v uint32) []byte {
		b := append([]byte(nil), good...)
		binary.LittleEndian.PutUint32(b[off:], v)
		return b
	}
	committed := with(stateOff, StateCommitted)
	undoing := with(stateOff, StateUndoing)
	newer := with(8, journalVersion+1)
	unsealed := with(stateOff, StateOpen)
	unsealed[len(unsealed)-5] ^= 1 // and its checksum bad: a torn, unsealed journal
	damaged := append([]byte(nil), good...)
	damaged[len(damaged)-5] ^= 1 // one flipped bit in a sealed journal
	stateFlip := with(stateOff, StatePending^1<<9)
	mix := append(append([]byte(nil), after[:50]...), before[50:]...) // half applied
	// Another image of the same size: the journal's run never saw it.
	foreign := pattern(100, 99)
	// The image as the run left it, then written by someone else in a
	// region the journal covers (a later sysprep through another name).
	newer2 := append([]byte(nil), after...)
	copy(newer2[40:50], "ZZZZZZZZZZ")
	cases := []struct {
		name        string
		image       []byte
		journal     []byte // nil: none
		wantImage   []byte
		wantRolled  bool
		wantErr     error
		wantJournal bool
	}{
		{"no journal: nothing to do", after, nil, after, false, nil, false},
		{"empty journal: crash before it was written; removed, image untouched", before, []byte{}, before, false, nil, false},
		{"half-written journal: never sealed; removed, image untouched", before, unsealed[:len(good)/2], before, false, nil, false},
		{"bad checksum, never sealed: removed, image untouched", before, unsealed, before, false, nil, false},
		{"bad checksum, sealed (finding 3): kept, image untouched", mix, damaged, mix, false, ErrJournalDamaged, true},
		{"sealed, state field damaged: kept, image untouched", mix, stateFlip, mix, false, ErrJournalDamaged, true},
		{"sealed, cut short: kept, image untouched", mix, good[:len(good)-1], mix, false, ErrJournalDamaged, true},
		{"committed journal: removed, image kept as after", after, committed, after, false, nil, false},
		{"pending journal over a half-applied image: rolled back", mix, good, before, true, nil, false},
		{"pending journal over a fully applied image: rolled back", after, good, before, true, nil, false},
		{"pending journal over an untouched image: rewritten identical", before, good, before, true, nil, false},
		{"undoing journal over any mix: rollback finished", newer2, undoing, before, true, nil, false},
		{"journal of a newer version: left alone, image untouched", mix, newer, mix, false, ErrJournalVersion, true},
		{"journal beside a replaced, larger image: left alone, image untouched", pattern(150, 9), good, pattern(150, 9), false, ErrJournalMismatch, true},
		{"journal beside a replaced, smaller image: left alone, image untouched", pattern(50, 9), good, pattern(50, 9), false, ErrJournalMismatch, true},
		{"journal beside another image of the same size (finding 1): left alone", foreign, good, foreign, false, ErrJournalMismatch, true},
		{"journal beside an image changed since (finding 2): left alone", newer2, good, newer2, false, ErrJournalMismatch, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			img := faultfile.NewMem(c.image)
			opts, md := memOpts()
			if c.journal != nil {
				md.Put(opts.JournalPath, faultfile.NewMem(c.journal))
			}
			rolled, err := Recover(img, opts)
			if !errors.Is(err, c.wantErr) || (c.wantErr == nil && err != nil) {
				t.Fatalf("Recover = %v, want %v", err, c.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), opts.JournalPath) {
				t.Fatalf("error %q does not name the journal", err)
			}
			if rolled != c.wantRolled {
				t.Fatalf("rolledBack = %v, want %v", rolled, c.wantRolled)
			}
			if !bytes.Equal(img.Bytes(), c.wantImage) {
				t.Fatalf("image is %s", which(img.Bytes(), before, after))
			}
			if _, ok := md.File(opts.JournalPath); ok != c.wantJournal {
				t.Fatalf("journal present = %v, want %v", ok, c.wantJournal)
			}
		})
	}
}

// boundedSink is a WriterAt that checks every write lies inside
// [0, limit) and keeps nothing.
type boundedSink struct {
	limit int64
	bad   bool
}

func (s *boundedSink) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off > s.limit || int64(len(p)) > s.limit-off {
		s.bad = true
	}
	return len(p), nil
}

func FuzzJournal(f *testing.F) {
	before := pattern(100, 24)
	good := buildJournal(f, before, journalSteps)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(buildJournal(f, before, []step{write(0, "a")}))
	f.Add(holeJournal(f))
	f.Fuzz(func(t *testing.T, data []byte) {
		j, err := ParseJournal(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			var je *JournalError
			if !errors.As(err, &je) || je.Off < 0 || je.Off > int64(len(data)) {
				t.Fatalf("error %v is not a *JournalError inside the journal", err)
			}
			return
		}
		if j.DataBytes > int64(len(data)) || j.Records > len(data)/recordSize {
			t.Fatalf("accepted a journal claiming more than it holds: %+v", j)
		}
		sink := &boundedSink{limit: j.OrigSize}
		if err := j.restore(sink); err != nil && err != io.EOF {
			t.Fatalf("restore of an accepted journal: %v", err)
		}
		if sink.bad {
			t.Fatal("restore wrote outside the original size")
		}
	})
}

func TestRecoverRefusesAJournalOfAnotherFile(t *testing.T) {
	before := pattern(3000, 31)
	steps := []step{write(10, "machine-id"), write(2000, strings.Repeat("k", 600))}
	after := model(before, steps)
	img := faultfile.NewMem(before)
	opts, md := memOpts()
	opts.Identity = storage.Identity{Dev: 2049, Ino: 77}
	opts.ImageName = "golden.raw"
	tx, err := Begin(img, opts)
	if err != nil {
		t.Fatal(err)
	}
	stage(t, tx, steps)
	tx.opts.BufferSize = 1 << 20
	jf := faultfile.NewMem(nil)
	recs, err := tx.originals()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.fillJournal(jf, recs); err != nil {
		t.Fatal(err)
	}
	jb := jf.Bytes()
	binary.LittleEndian.PutUint32(jb[stateOff:], StatePending)
	for _, c := range []struct {
		name string
		id   storage.Identity
		want error
	}{
		{"same device and inode: rolled back", storage.Identity{Dev: 2049, Ino: 77}, nil},
		{"another inode (a new file under the name): refused", storage.Identity{Dev: 2049, Ino: 78}, ErrJournalMismatch},
		{"a block device: refused", storage.Identity{Block: true, Dev: 2049, Ino: 77}, ErrJournalMismatch},
	} {
		t.Run(c.name, func(t *testing.T) {
			img := faultfile.NewMem(after)
			md.Put(opts.JournalPath, faultfile.NewMem(jb))
			o := opts
			o.Identity = c.id
			_, err := Recover(img, o)
			if !errors.Is(err, c.want) || (c.want == nil && err != nil) {
				t.Fatalf("Recover = %v, want %v", err, c.want)
			}
			if c.want == nil {
				if !bytes.Equal(img.Bytes(), before) {
					t.Fatal("not rolled back")
				}
				return
			}
			if !bytes.Equal(img.Bytes(), after) {
				t.Fatal("image touched")
			}
			for _, s := range []string{"golden.raw", opts.JournalPath, "inode 77", "inode 78"} {
				if c.id.Block && s == "inode 78" {
					continue
				}
				if !strings.Contains(err.Error(), s) {
					t.Fatalf("error %q does not say %q", err, s)
				}
			}
		})
	}
}
