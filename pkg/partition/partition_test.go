package partition

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"reflect"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
)

// openFixture returns a private copy of a fixture image, opened read-write.
func openFixture(tb testing.TB, name string) (*os.File, int64) {
	tb.Helper()
	return openPath(tb, fixture.Path(tb, name))
}

// openPath opens the disk at path read-write and returns it and its size.
func openPath(tb testing.TB, path string) (*os.File, int64) {
	tb.Helper()
	return fixture.Open(tb, path, os.O_RDWR)
}

func TestStructSizesMatchTheSpecification(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    any
		want int
	}{
		{"MBR is one 512-byte sector (UEFI table 5-1)", MBR{}, MBRSize},
		{"MBR partition record is 16 bytes (UEFI table 5-2)", MBREntry{}, MBREntrySize},
		{"GPT header is 92 bytes (UEFI table 5-5)", GPTHeader{}, GPTHeaderSize},
		{"GPT partition entry is 128 bytes (UEFI table 5-6)", GPTEntry{}, GPTEntrySize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := binary.Size(tc.v); got != tc.want {
				t.Fatalf("binary.Size = %d, want %d", got, tc.want)
			}
		})
	}
}

const (
	linuxFS   = "0fc63daf-8483-4772-8e79-3d69d8477de4"
	esp       = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"
	linuxHome = "933ac7e1-2eb4-4f13-b844-0e14e2aef915"
)

// The layouts below are the ones gen.d/partition.sh asks the real tools
// for (see its header).
var fixtureTables = []struct {
	image string
	want  Table
}{
	{"part-gpt.raw", Table{Kind: KindGPT, SectorSize: 512, DiskUUID: "5452574f-2211-4433-8855-667788990011", Partitions: []Partition{
		{Number: 1, Start: 2048 * 512, Size: 4096 * 512, Type: esp, Name: "EFI System", UUID: "c12a7328-f81f-11d2-ba4b-00a0c93ec001"},
		{Number: 2, Start: 6144 * 512, Size: 16384 * 512, Type: linuxFS, Name: "root", UUID: "0fc63daf-8483-4772-8e79-3d69d8477d02"},
		{Number: 3, Start: 22528 * 512, Size: 10207 * 512, Type: linuxHome, Name: "home", UUID: "933ac7e1-2eb4-4f13-b844-0e14e2aef903"},
	}}},
	{"part-mbr.raw", Table{Kind: KindMBR, SectorSize: 512, DiskUUID: "1234abcd", Partitions: []Partition{
		{Number: 1, Start: 2048 * 512, Size: 8192 * 512, Type: "83", UUID: "1234abcd-01"},
		{Number: 2, Start: 10240 * 512, Size: 4096 * 512, Type: "82", UUID: "1234abcd-02"},
		{Number: 3, Start: 14336 * 512, Size: 18432 * 512, Type: "05", UUID: "1234abcd-03", Extended: true},
		{Number: 5, Start: 16384 * 512, Size: 6144 * 512, Type: "83", UUID: "1234abcd-05"},
		{Number: 6, Start: 24576 * 512, Size: 8192 * 512, Type: "83", UUID: "1234abcd-06"},
	}}},
	{"part-gpt-4k.raw", Table{Kind: KindGPT, SectorSize: 4096, DiskUUID: "5a0e4c43-0d47-4f1b-9e6a-3c2d6e7f8091", Partitions: []Partition{
		{Number: 1, Start: 256 * 4096, Size: 2048 * 4096, Type: linuxFS, Name: "root4k", UUID: "11111111-2222-4333-8444-555555555501"},
		{Number: 2, Start: 2304 * 4096, Size: 5632 * 4096, Type: linuxFS, Name: "data4k", UUID: "11111111-2222-4333-8444-555555555502"},
	}}},
	{"part-none.raw", Table{Kind: KindNone, SectorSize: 512}},
}

func TestReadFixtures(t *testing.T) {
	for _, tc := range fixtureTables {
		t.Run(tc.image, func(t *testing.T) {
			f, size := openFixture(t, tc.image)
			got, err := Read(f, size)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tc.want) {
				t.Fatalf("Read:\n got %+v\nwant %+v", *got, tc.want)
			}
		})
	}
}

// corrupt applies a change to a fixture copy before Read.
type corrupt func(tb testing.TB, f *os.File, size int64) int64

func writeAt(b []byte, off int64) corrupt {
	return func(tb testing.TB, f *os.File, size int64) int64 {
		tb.Helper()
		if _, err := f.WriteAt(b, off); err != nil {
			tb.Fatal(err)
		}
		return size
	}
}

func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

// rewriteGPTHeader changes the primary 512-byte-sector GPT header with
// edit and fixes its CRC32, so that only the edited field is wrong.
func rewriteGPTHeader(edit func(h *GPTHeader)) corrupt {
	return func(tb testing.TB, f *os.File, size int64) int64 {
		tb.Helper()
		b := make([]byte, GPTHeaderSize)
		if _, err := f.ReadAt(b, 512); err != nil {
			tb.Fatal(err)
		}
		var h GPTHeader
		if _, err := binary.Decode(b, binary.LittleEndian, &h); err != nil {
			tb.Fatal(err)
		}
		edit(&h)
		h.HeaderCRC32 = 0
		out, _ := binary.Append(nil, binary.LittleEndian, &h)
		h.HeaderCRC32 = crc32.ChecksumIEEE(out)
		out, _ = binary.Append(nil, binary.LittleEndian, &h)
		if _, err := f.WriteAt(out, 512); err != nil {
			tb.Fatal(err)
		}
		return size
	}
}

// rewriteGPTEntry changes entry n (1-based) of the primary GPT's array and
// fixes the array's and the header's CRC32.
func rewriteGPTEntry(n int, edit func(e *GPTEntry)) corrupt {
	return func(tb testing.TB, f *os.File, size int64) int64 {
		tb.Helper()
		array := make([]byte, 128*GPTEntrySize)
		if _, err := f.ReadAt(array, 2*512); err != nil {
			tb.Fatal(err)
		}
		var e GPTEntry
		slot := array[(n-1)*GPTEntrySize : n*GPTEntrySize]
		if _, err := binary.Decode(slot, binary.LittleEndian, &e); err != nil {
			tb.Fatal(err)
		}
		edit(&e)
		if _, err := binary.Encode(slot, binary.LittleEndian, &e); err != nil {
			tb.Fatal(err)
		}
		if _, err := f.WriteAt(array, 2*512); err != nil {
			tb.Fatal(err)
		}
		return rewriteGPTHeader(func(h *GPTHeader) { h.PartitionEntryArrayCRC32 = crc32.ChecksumIEEE(array) })(tb, f, size)
	}
}

func both(cs ...corrupt) corrupt {
	return func(tb testing.TB, f *os.File, size int64) int64 {
		for _, c := range cs {
			size = c(tb, f, size)
		}
		return size
	}
}

func TestReadDamagedTables(t *testing.T) {
	const lastLBA = 32767 // part-gpt.raw is 16 MiB
	zeroSector := make([]byte, 512)
	for _, tc := range []struct {
		name    string
		image   string
		damage  corrupt
		wantErr error  // nil: Read succeeds
		kind    string // with wantErr nil
		backup  bool
	}{
		{"GPT header with a bad signature falls back to the backup GPT header in the last LBA",
			"part-gpt.raw", writeAt([]byte("EFI FAKE"), 512), nil, KindGPT, true},
		{"GPT header CRC32 mismatch falls back to the backup",
			"part-gpt.raw", writeAt([]byte{0xff}, 512+16), nil, KindGPT, true},
		{"partition entry array CRC32 mismatch falls back to the backup",
			"part-gpt.raw", writeAt([]byte{0xff}, 2*512+56), nil, KindGPT, true},
		{"4096-byte-sector GPT with a damaged primary header falls back to its backup",
			"part-gpt-4k.raw", writeAt([]byte("EFI FAKE"), 4096), nil, KindGPT, true},
		{"primary and backup GPT both damaged is an error",
			"part-gpt.raw", both(writeAt(zeroSector, 512), writeAt(zeroSector, lastLBA*512)), ErrInvalidGPT, "", false},
		{"SizeOfPartitionEntry other than 128 is refused, not trusted",
			"part-gpt.raw", both(rewriteGPTHeader(func(h *GPTHeader) { h.SizeOfPartitionEntry = 0 }), writeAt(zeroSector, lastLBA*512)), ErrInvalidGPT, "", false},
		{"NumberOfPartitionEntries beyond the bound is refused before allocating",
			"part-gpt.raw", both(rewriteGPTHeader(func(h *GPTHeader) { h.NumberOfPartitionEntries = 0xffffffff }), writeAt(zeroSector, lastLBA*512)), ErrInvalidGPT, "", false},
		{"PartitionEntryLBA past the end of the disk is refused",
			"part-gpt.raw", both(rewriteGPTHeader(func(h *GPTHeader) { h.PartitionEntryLBA = 1 << 62 }), writeAt(zeroSector, lastLBA*512)), ErrInvalidGPT, "", false},
		{"MyLBA must be the LBA holding the header",
			"part-gpt.raw", both(rewriteGPTHeader(func(h *GPTHeader) { h.MyLBA = 7 }), writeAt(zeroSector, lastLBA*512)), ErrInvalidGPT, "", false},
		{"a GPT header whose LastUsableLBA lies past the end of a shortened disk is refused",
			"part-gpt.raw", func(tb testing.TB, f *os.File, size int64) int64 { return 20000 * 512 }, ErrInvalidGPT, "", false},
		{"a GPT partition whose EndingLBA lies past the end of the disk",
			"part-gpt.raw", both(rewriteGPTEntry(2, func(e *GPTEntry) { e.EndingLBA = 1 << 40 }), writeAt(zeroSector, lastLBA*512)), ErrOutsideDisk, "", false},
		{"a GPT partition whose StartingLBA is after its EndingLBA",
			"part-gpt.raw", both(rewriteGPTEntry(1, func(e *GPTEntry) { e.StartingLBA = e.EndingLBA + 1 }), writeAt(zeroSector, lastLBA*512)), ErrOutsideDisk, "", false},
		{"protective MBR without any GPT header is an error, not MBR",
			"part-gpt.raw", both(writeAt(zeroSector, 512), writeAt(zeroSector, lastLBA*512)), ErrInvalidGPT, "", false},
		{"boot indicator other than 0x00 or 0x80 means no partition table",
			"part-mbr.raw", writeAt([]byte{0x12}, 446), nil, KindNone, false},
		{"no 0x55AA signature means no partition table",
			"part-mbr.raw", writeAt([]byte{0, 0}, 510), nil, KindNone, false},
		{"MBR partition past the end of the disk",
			"part-mbr.raw", writeAt(le32(1<<31), 446+12), ErrOutsideDisk, "", false},
		{"EBR link pointing back to the first EBR is a loop",
			// The second EBR (sector 22528) links to itself: start 8192 relative to the extended partition.
			"part-mbr.raw", writeAt([]byte{0, 0, 0, 0, 0x05, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0}, 22528*512+446+16), ErrEBRLoop, "", false},
		{"EBR link pointing to itself is a loop",
			"part-mbr.raw", writeAt([]byte{0, 0, 0, 0, 0x05, 0, 0, 0, 0, 0x20, 0, 0, 1, 0, 0, 0}, 22528*512+446+16), ErrEBRLoop, "", false},
		{"EBR link outside the extended partition",
			"part-mbr.raw", writeAt(le32(100000), 14336*512+446+16+8), ErrInvalidEBR, "", false},
		{"EBR without its 0x55AA signature",
			"part-mbr.raw", writeAt([]byte{0, 0}, 22528*512+510), ErrInvalidEBR, "", false},
		{"logical partition reaching past the extended partition",
			"part-mbr.raw", writeAt(le32(30000), 22528*512+446+12), ErrOutsideDisk, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, size := openFixture(t, tc.image)
			size = tc.damage(t, f, size)
			got, err := Read(f, size)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Read error = %v, want %v", err, tc.wantErr)
				}
				var fe *FormatError
				if !errors.As(err, &fe) {
					t.Fatalf("Read error %v is not a *FormatError", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Kind != tc.kind || got.FromBackup != tc.backup {
				t.Fatalf("Read = kind %q, from backup %v; want %q, %v", got.Kind, got.FromBackup, tc.kind, tc.backup)
			}
			if tc.backup {
				want := fixtureTable(t, tc.image)
				want.FromBackup = true
				if !reflect.DeepEqual(*got, want) {
					t.Fatalf("Read from backup:\n got %+v\nwant %+v", *got, want)
				}
			}
		})
	}
}

func fixtureTable(tb testing.TB, image string) Table {
	tb.Helper()
	for _, ft := range fixtureTables {
		if ft.image == image {
			return ft.want
		}
	}
	tb.Fatalf("no expected table for %s", image)
	return Table{}
}

func TestReadTinyDisks(t *testing.T) {
	for _, size := range []int64{0, 1, 511} {
		got, err := Read(bytesReaderAt(make([]byte, size)), size)
		if err != nil || got.Kind != KindNone {
			t.Fatalf("Read of a %d-byte disk = %+v, %v; want kind none", size, got, err)
		}
	}
	if _, err := Read(bytesReaderAt(nil), -1); !errors.Is(err, ErrNegativeSize) {
		t.Fatalf("Read with size -1: %v", err)
	}
}

func TestReadFATBootSectorIsNoPartitionTable(t *testing.T) {
	// A FAT volume boot record: x86 jump, 512 bytes per sector, 0x55AA,
	// and no partition entries.
	b := make([]byte, 4096)
	b[0], b[1], b[2] = 0xEB, 0x3C, 0x90
	binary.LittleEndian.PutUint16(b[11:], 512)
	b[510], b[511] = 0x55, 0xAA
	got, err := Read(bytesReaderAt(b), int64(len(b)))
	if err != nil || got.Kind != KindNone {
		t.Fatalf("Read = %+v, %v; want kind none", got, err)
	}
	// The same sector without the jump is an empty MBR.
	b[0] = 0
	got, err = Read(bytesReaderAt(b), int64(len(b)))
	if err != nil || got.Kind != KindMBR || len(got.Partitions) != 0 {
		t.Fatalf("Read = %+v, %v; want an empty MBR", got, err)
	}
}

// bytesReaderAt is a disk held in memory.
type bytesReaderAt []byte

func (b bytesReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off > int64(len(b)) {
		return 0, errors.New("bytesReaderAt: offset out of range")
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
