package guest

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/fs/vfat"
)

// Each struct mirrors its specification's layout byte for byte.
func TestOnDiskHeaderSizesMatchTheSpecs(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want int
	}{
		{"ext4 superblock through s_algorithm_usage_bitmap and the journal fields (0x100)", extSuperblockHead{}, 0x100},
		{"xfs_dsb through sb_fname (120)", xfsSuperblockHead{}, 120},
		{"btrfs_super_block through generation (0x50)", btrfsSuperblockHead{}, 0x50},
		{"FAT boot sector and BPB through BPB_TotSec32 (36)", vfat.BootSector{}, 36},
		{"FAT32 BPB from BPB_FATSz32 to BS_DrvNum (28)", vfat.BPB32{}, 28},
		{"FAT extended BPB from BS_DrvNum through BS_FilSysType (26)", vfat.ExtBPB{}, 26},
		{"swap_header info through volume_name (44)", swapHeaderInfo{}, 44},
		{"LVM label_header (32)", lvmLabelHeader{}, 32},
		{"LUKS magic and version (8)", luksPHDR{}, 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := binary.Size(tt.v); got != tt.want {
				t.Fatalf("size %d, want %d", got, tt.want)
			}
		})
	}
}

// put writes v at off in b with byte order bo.
func put(tb testing.TB, b []byte, off int, bo binary.ByteOrder, v any) {
	tb.Helper()
	var w bytes.Buffer
	if err := binary.Write(&w, bo, v); err != nil {
		tb.Fatal(err)
	}
	copy(b[off:], w.Bytes())
}

var testUUID = [16]byte{0x0a, 0x1b, 0x2c, 0x3d, 0, 0, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 0x01}

const testUUIDString = "0a1b2c3d-0000-4000-8000-000000000001"

// TestProbeSignaturesAtTheirSpecifiedOffsets builds each signature by
// hand from its specification and checks what Probe reports.
func TestProbeSignaturesAtTheirSpecifiedOffsets(t *testing.T) {
	label := func(s string, n int) []byte { b := make([]byte, n); copy(b, s); return b }
	tests := []struct {
		name  string
		build func(b []byte)
		want  Probed
	}{
		{"ext4: magic 0xEF53 at 1024+56, extents make it ext4", func(b []byte) {
			sb := extSuperblockHead{Magic: extMagic, FeatureCompat: extCompatHasJournal, FeatureIncompat: 0x40 | 0x2, UUID: testUUID}
			copy(sb.VolumeName[:], "root")
			put(t, b, 1024, binary.LittleEndian, sb)
		}, Probed{Type: TypeExt4, UUID: testUUIDString, Label: "root"}},
		{"ext3: a journal and only ext3 features", func(b []byte) {
			put(t, b, 1024, binary.LittleEndian, extSuperblockHead{Magic: extMagic, FeatureCompat: extCompatHasJournal, FeatureIncompat: 0x2, FeatureROCompat: 0x3, UUID: testUUID})
		}, Probed{Type: TypeExt3, UUID: testUUIDString}},
		{"ext2: no journal", func(b []byte) {
			put(t, b, 1024, binary.LittleEndian, extSuperblockHead{Magic: extMagic, FeatureIncompat: 0x2})
		}, Probed{Type: TypeExt2}},
		{"xfs: XFSB at 0, big-endian, sb_fname at 108", func(b []byte) {
			sb := xfsSuperblockHead{UUID: testUUID}
			copy(sb.MagicNum[:], "XFSB")
			copy(sb.FName[:], "data")
			put(t, b, 0, binary.BigEndian, sb)
		}, Probed{Type: TypeXFS, UUID: testUUIDString, Label: "data"}},
		{"btrfs: _BHRfS_M at 64 KiB+64, label at 64 KiB+0x12B", func(b []byte) {
			sb := btrfsSuperblockHead{FSID: testUUID}
			copy(sb.Magic[:], "_BHRfS_M")
			put(t, b, 64<<10, binary.LittleEndian, sb)
			copy(b[64<<10+0x12B:], "pool")
		}, Probed{Type: TypeBtrfs, UUID: testUUIDString, Label: "pool"}},
		{"swap: SWAPSPACE2 at the end of a 4 KiB page", func(b []byte) {
			put(t, b, 1024, binary.LittleEndian, swapHeaderInfo{Version: 1, LastPage: 100, UUID: testUUID, VolumeName: [16]byte{'s', 'w'}})
			copy(b[4096-10:], "SWAPSPACE2")
		}, Probed{Type: TypeSwap, UUID: testUUIDString, Label: "sw"}},
		{"swap: SWAPSPACE2 at the end of a 64 KiB page", func(b []byte) {
			copy(b[65536-10:], "SWAPSPACE2")
		}, Probed{Type: TypeSwap}},
		{"LVM2: LABELONE in sector 1, PV id at the pv_header", func(b []byte) {
			h := lvmLabelHeader{SectorXL: 1, OffsetXL: 32}
			copy(h.ID[:], "LABELONE")
			copy(h.Type[:], "LVM2 001")
			put(t, b, 512, binary.LittleEndian, h)
			copy(b[512+32:], "abcdef0123456789ABCDEFghijklmnop")
		}, Probed{Type: TypeLVM, UUID: "abcdef-0123-4567-89AB-CDEF-ghij-klmnop"}},
		{"LUKS2: magic, uuid at 168, label at 24", func(b []byte) {
			put(t, b, 0, binary.BigEndian, luksPHDR{Magic: [6]byte{'L', 'U', 'K', 'S', 0xba, 0xbe}, Version: 2})
			copy(b[24:], label("secret", 48))
			copy(b[168:], testUUIDString)
		}, Probed{Type: TypeLUKS, UUID: testUUIDString, Label: "secret"}},
		{"vfat: FAT16 boot sector, volume id printed XXXX-XXXX", func(b []byte) {
			put(t, b, 0, binary.LittleEndian, vfat.BootSector{JmpBoot: [3]byte{0xEB, 0x3C, 0x90}, BytsPerSec: 512, SecPerClus: 4, RsvdSecCnt: 4, NumFATs: 2, RootEntCnt: 512, Media: 0xF8, FATSz16: 32})
			e := vfat.ExtBPB{BootSig: 0x29, VolID: 0x7A3B1C2D}
			copy(e.VolLab[:], "ESP        ")
			copy(e.FilSysType[:], "FAT16   ")
			put(t, b, 36, binary.LittleEndian, e)
			b[510], b[511] = 0x55, 0xAA
		}, Probed{Type: TypeVFAT, UUID: "7A3B-1C2D", Label: "ESP"}},
		{"vfat: FAT32 keeps the extended BPB at 64; NO NAME is no label", func(b []byte) {
			put(t, b, 0, binary.LittleEndian, vfat.BootSector{JmpBoot: [3]byte{0xEB, 0x58, 0x90}, BytsPerSec: 512, SecPerClus: 8, RsvdSecCnt: 32, NumFATs: 2, Media: 0xF8})
			put(t, b, 36, binary.LittleEndian, vfat.BPB32{FATSz32: 100, RootClus: 2})
			e := vfat.ExtBPB{BootSig: 0x29, VolID: 0x12345678}
			copy(e.VolLab[:], "NO NAME    ")
			put(t, b, 64, binary.LittleEndian, e)
			b[510], b[511] = 0x55, 0xAA
		}, Probed{Type: TypeVFAT, UUID: "1234-5678"}},
		{"an MBR-like sector without a jump is not FAT", func(b []byte) {
			b[510], b[511] = 0x55, 0xAA
		}, Probed{}},
		{"zeros are nothing", func(b []byte) {}, Probed{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := make([]byte, 128<<10)
			tt.build(b)
			got, err := Probe(bytes.NewReader(b), int64(len(b)))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("Probe = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestProbeShortDeviceIsNothing(t *testing.T) {
	for _, n := range []int{0, 1, 511, 1100} {
		got, err := Probe(bytes.NewReader(make([]byte, n)), int64(n))
		if err != nil || got != (Probed{}) {
			t.Fatalf("%d bytes: %+v, %v", n, got, err)
		}
	}
}

// TestProbeAgreesWithMkswap checks the swap header against util-linux.
func TestProbeAgreesWithMkswap(t *testing.T) {
	mkswap := oracle.Require(t, "mkswap")
	p := filepath.Join(t.TempDir(), "swap")
	if err := os.WriteFile(p, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := oracle.Run(t, mkswap, "-U", testUUIDString, "-L", "swaplabel", p); code != 0 {
		t.Fatalf("mkswap: %s", errOut)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Probe(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Probed{Type: TypeSwap, UUID: testUUIDString, Label: "swaplabel"}); got != want {
		t.Fatalf("Probe = %+v, want %+v", got, want)
	}
}

func FuzzProbe(f *testing.F) {
	b := make([]byte, 4096)
	copy(b[4086:], "SWAPSPACE2")
	f.Add(b)
	c := make([]byte, 2048)
	c[1024+56], c[1024+57] = 0x53, 0xEF
	f.Add(c)
	d := make([]byte, 1024)
	copy(d, "LABELONE")
	copy(d[24:], "LVM2 001")
	d[20] = 0xFF
	f.Add(d)
	f.Add([]byte("XFSB"))
	f.Add([]byte("LUKS\xba\xbe\x00\x02"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := Probe(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatalf("error on an in-memory device: %v", err)
		}
		if !printable(got.UUID) || !printable(got.Label) {
			t.Fatalf("unprintable identity %+v", got)
		}
	})
}
