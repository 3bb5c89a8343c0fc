package faultfile

import (
	"errors"
	"io/fs"
	"testing"
)

func TestUnsyncedModelLosesWhatNoSyncCovered(t *testing.T) {
	none := func(int) bool { return false }
	all := func(int) bool { return true }
	odd := func(i int) bool { return i%2 == 1 }
	// ops: 0 WriteAt "AAAA"@0, 1 Sync, 2 WriteAt "BB"@4, 3 Truncate 5, 4 WriteAt "C"@0, 5 Sync
	cases := []struct {
		name    string
		crashAt int
		keep    func(int) bool
		want    string
	}{
		{"a write not yet synced is lost", 1, none, ""},
		{"a synced write persists", 2, none, "AAAA"},
		{"writes after the sync are lost", 5, none, "AAAA"},
		{"a cache that kept everything is the ordered model", 5, all, "CAAAB"},
		{"a cache that kept some: the kept ones persist, in order", 5, odd, "AAAA\x00"}, // pending: 0 BB, 1 trunc5, 2 C: keeps the truncate only
		{"no crash: all persists", -1, none, "CAAAB"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := NewMem(nil)
			d := NewDisk(c.crashAt)
			d.LoseUnsynced(c.keep)
			f := d.Wrap(m)
			_, _ = f.WriteAt([]byte("AAAA"), 0)
			_ = f.Sync()
			_, _ = f.WriteAt([]byte("BB"), 4)
			_ = f.Truncate(5)
			if c.crashAt < 0 || c.crashAt > 4 {
				// Before the crash the program sees its own writes.
				b := make([]byte, 5)
				if _, err := f.ReadAt(b, 0); err != nil || string(b) != "AAAAB" {
					t.Fatalf("program reads %q, %v; want its own unsynced writes", b, err)
				}
			}
			_, _ = f.WriteAt([]byte("C"), 0)
			_ = f.Sync()
			if got := string(m.Bytes()); got != c.want {
				t.Fatalf("persisted %q, want %q\nlog %q", got, c.want, d.Log())
			}
		})
	}
}

func TestUnsyncedModelDirEntriesNeedSyncDir(t *testing.T) {
	cases := []struct {
		name       string
		crashAt    int
		wantExists bool
	}{
		// ops: 0 Create, 1 WriteAt, 2 Sync, 3 SyncDir, 4 Remove, 5 SyncDir
		{"a created file whose directory was not synced vanishes", 3, false},
		{"after SyncDir the file stays", 4, true},
		{"a removal whose directory was not synced is undone", 5, true},
		{"after SyncDir the removal stays", -1, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			md := NewMemDir()
			d := NewDisk(c.crashAt)
			d.LoseUnsynced(nil)
			dir := d.WrapDir(md)
			f, err := dir.Create("d/j")
			if err != nil {
				t.Fatal(err)
			}
			_, _ = f.WriteAt([]byte("x"), 0)
			_ = f.Sync()
			_ = dir.SyncDir("d/j")
			if err := dir.Remove("d/j"); err != nil {
				t.Fatal(err)
			}
			if c.crashAt < 0 || c.crashAt > 4 {
				if _, err := dir.Open("d/j"); !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("Open after Remove = %v; the program must see the removal", err)
				}
			}
			_ = dir.SyncDir("d/j")
			m, ok := md.File("d/j")
			if ok != c.wantExists {
				t.Fatalf("exists = %v, want %v (log %q)", ok, c.wantExists, d.Log())
			}
			if ok && string(m.Bytes()) != "x" {
				t.Fatalf("content %q", m.Bytes())
			}
		})
	}
}
