package txn

import (
	"encoding/binary"
	"testing"
)

func TestOnDiskStructSizesMatchTheFormat(t *testing.T) {
	cases := []struct {
		name string
		v    any
		want int
	}{
		{"journal header is 128 bytes", journalHeader{}, headerSize},
		{"unit digest is 16 bytes (pre, post)", unitDigest{}, digestSize},
		{"record header is 16 bytes (offset, length)", recordHeader{}, recordSize},
		{"trailer is 16 bytes (magic, crc32c, reserved)", journalTrailer{}, trailerSize},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := binary.Size(c.v); got != c.want {
				t.Fatalf("binary.Size = %d, want %d", got, c.want)
			}
		})
	}
}

func TestHeaderMarshalMatchesBinaryLittleEndian(t *testing.T) {
	h := journalHeader{Version: 2, HeaderSize: 128, State: StatePending, RecordCount: 3,
		OrigSize: 1 << 40, FinalSize: 12345, JournalSize: 999, DataBytes: 77, CutSize: 5,
		ImageDev: 0x803, ImageIno: 4242, RunID: [16]byte{1, 2, 3}, ImageKind: kindFile, UnitSize: unitSize}
	copy(h.Magic[:], journalMagic)
	var a [headerSize]byte
	h.marshal(a[:])
	b, err := binary.Append(nil, binary.LittleEndian, h)
	if err != nil {
		t.Fatal(err)
	}
	if string(a[:]) != string(b) {
		t.Fatalf("marshal disagrees with encoding/binary:\n%x\n%x", a, b)
	}
	var back journalHeader
	back.unmarshal(a[:])
	if back != h {
		t.Fatalf("round trip: %+v != %+v", back, h)
	}
}
