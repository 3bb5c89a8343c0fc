package jbd2

import (
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

// fuzzMaxJournal bounds the journal a fuzz input may describe: the input
// is its first bytes, the rest reads as zeros.
const fuzzMaxJournal = 4 << 20

// padded reads data, then zeros up to size.
type padded struct {
	data []byte
	size int64
}

func (p padded) ReadAt(b []byte, off int64) (int, error) {
	if off < 0 || off >= p.size {
		return 0, io.EOF
	}
	n := len(b)
	if rest := p.size - off; int64(n) > rest {
		n = int(rest)
	}
	clear(b[:n])
	if off < int64(len(p.data)) {
		copy(b[:n], p.data[off:])
	}
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}

// FuzzJournal: the journal superblock, descriptor, revoke and commit
// blocks and their tags and checksums, read by Open and replayed by
// Recover's three passes. The input is the journal's first bytes (the
// rest reads as zeros, up to s_maxlen blocks and fuzzMaxJournal bytes).
// Nothing panics or runs without end; every error is one of the
// package's; a replay's blocks read back at the block size; and the
// superblock ResetSuperblock returns parses again with an empty log.
// Seeds: testdata/fuzz/FuzzJournal, the journals of the jbd2 fixtures
// (fuzzseed_test.go).
func FuzzJournal(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		size := int64(len(data))
		if len(data) >= SuperblockSize {
			want := int64(binary.BigEndian.Uint32(data[0x0C:])) * int64(binary.BigEndian.Uint32(data[0x10:]))
			if want > size && want <= fuzzMaxJournal {
				size = want
			}
		}
		r := padded{data, size}
		j, err := Open(r, size)
		if err != nil {
			if !errors.Is(err, ErrNotJournal) && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, io.EOF) {
				t.Fatalf("Open: an error of no kind: %v", err)
			}
			return
		}
		_ = j.Features()
		rp, err := j.Recover()
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("Recover: an error of no kind: %v", err)
			}
			return
		}
		buf := make([]byte, j.BlockSize())
		for _, b := range rp.Blocks() {
			if ok, err := rp.ReadBlock(b, buf); !ok || err != nil {
				t.Fatalf("block %d of the replay: %v %v", b, ok, err)
			}
		}
		if rp.Transactions() < 0 {
			t.Fatalf("%d transactions", rp.Transactions())
		}
		sb, err := ParseSuperblock(j.ResetSuperblock(rp.NextSequence), size)
		if err != nil || sb.Start != 0 || sb.Sequence != rp.NextSequence {
			t.Fatalf("the reset superblock: %+v %v", sb.Start, err)
		}
	})
}
