package guest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/imgprep/imgprep/pkg/fs/vfat"
)

// Filesystem types Scan reports, as blkid names them.
const (
	TypeExt2  = "ext2"
	TypeExt3  = "ext3"
	TypeExt4  = "ext4"
	TypeXFS   = "xfs"
	TypeBtrfs = "btrfs"
	TypeVFAT  = "vfat"
	TypeSwap  = "swap"
	TypeLVM   = "LVM2_member"
	TypeLUKS  = "crypto_LUKS"
)

// Probed is what a signature says about a filesystem.
type Probed struct {
	Type  string // one of the Type constants, "" when nothing is recognised
	UUID  string // as blkid prints it; "" when the format has none or it is zero
	Label string
}

// Probe identifies the filesystem (or other volume: swap, LVM, LUKS) on r,
// a device of size bytes, by its signature. An unrecognised device gives
// a zero Probed and no error; only a failed read is an error.
func Probe(r io.ReaderAt, size int64) (Probed, error) {
	p := prober{r: r, size: size}
	for _, f := range []func() (Probed, bool){p.luks, p.xfs, p.ext, p.btrfs, p.swap, p.lvm, p.vfat} {
		res, ok := f()
		if p.err != nil {
			return Probed{}, p.err
		}
		if ok {
			return res, nil
		}
	}
	return Probed{}, nil
}

// prober reads headers from a device; the first read error sticks.
type prober struct {
	r    io.ReaderAt
	size int64
	err  error
}

// read returns n bytes at off, or nil when they lie past the device end or
// the read fails (then p.err is set).
func (p *prober) read(off int64, n int, what string) []byte {
	if p.err != nil || off < 0 || off+int64(n) > p.size {
		return nil
	}
	b := make([]byte, n)
	if got, err := p.r.ReadAt(b, off); err != nil && !(errors.Is(err, io.EOF) && got == n) {
		p.err = &ProbeError{Offset: off, What: what, Err: err}
		return nil
	}
	return b
}

// decode reads the struct v (a pointer) at off with byte order bo.
func (p *prober) decode(off int64, v any, bo binary.ByteOrder, what string) bool {
	b := p.read(off, binary.Size(v), what)
	if b == nil {
		return false
	}
	return binary.Read(bytes.NewReader(b), bo, v) == nil
}

func (p *prober) ext() (Probed, bool) {
	var sb extSuperblockHead
	if !p.decode(extSuperblockOffset, &sb, binary.LittleEndian, "ext superblock") || sb.Magic != extMagic {
		return Probed{}, false
	}
	if sb.FeatureIncompat&extIncompatJournalDev != 0 {
		return Probed{Type: "jbd", UUID: formatUUID(sb.UUID), Label: cString(sb.VolumeName[:])}, true
	}
	t := TypeExt2
	switch {
	case sb.FeatureIncompat&^ext3IncompatSupp != 0 || sb.FeatureROCompat&^ext3ROCompatSupp != 0:
		t = TypeExt4
	case sb.FeatureCompat&extCompatHasJournal != 0:
		t = TypeExt3
	}
	return Probed{Type: t, UUID: formatUUID(sb.UUID), Label: cString(sb.VolumeName[:])}, true
}

func (p *prober) xfs() (Probed, bool) {
	var sb xfsSuperblockHead
	if !p.decode(0, &sb, binary.BigEndian, "xfs superblock") || string(sb.MagicNum[:]) != "XFSB" {
		return Probed{}, false
	}
	return Probed{Type: TypeXFS, UUID: formatUUID(sb.UUID), Label: cString(sb.FName[:])}, true
}

func (p *prober) btrfs() (Probed, bool) {
	var sb btrfsSuperblockHead
	if !p.decode(btrfsSuperblockOffset, &sb, binary.LittleEndian, "btrfs superblock") || string(sb.Magic[:]) != "_BHRfS_M" {
		return Probed{}, false
	}
	label := p.read(btrfsSuperblockOffset+btrfsLabelOffset, btrfsLabelSize, "btrfs label")
	return Probed{Type: TypeBtrfs, UUID: formatUUID(sb.FSID), Label: cString(label)}, true
}

func (p *prober) swap() (Probed, bool) {
	for _, page := range []int64{4096, 8192, 16384, 65536} {
		m := p.read(page-10, 10, "swap signature")
		if m == nil || (string(m) != "SWAPSPACE2" && string(m) != "SWAP-SPACE") {
			continue
		}
		var h swapHeaderInfo
		if string(m) == "SWAP-SPACE" || !p.decode(swapInfoOffset, &h, binary.LittleEndian, "swap header") {
			return Probed{Type: TypeSwap}, true
		}
		return Probed{Type: TypeSwap, UUID: formatUUID(h.UUID), Label: cString(h.VolumeName[:])}, true
	}
	return Probed{}, false
}

func (p *prober) lvm() (Probed, bool) {
	for sector := int64(0); sector < 4; sector++ {
		var h lvmLabelHeader
		if !p.decode(sector*512, &h, binary.LittleEndian, "LVM label") || string(h.ID[:]) != "LABELONE" {
			continue
		}
		if string(h.Type[:]) != "LVM2 001" || h.OffsetXL >= 512-32 {
			return Probed{Type: TypeLVM}, true
		}
		id := p.read(sector*512+int64(h.OffsetXL), 32, "LVM PV header")
		return Probed{Type: TypeLVM, UUID: formatLVMID(id)}, true
	}
	return Probed{}, false
}

func (p *prober) luks() (Probed, bool) {
	var h luksPHDR
	if !p.decode(0, &h, binary.BigEndian, "LUKS header") || string(h.Magic[:]) != "LUKS\xba\xbe" {
		return Probed{}, false
	}
	res := Probed{Type: TypeLUKS, UUID: cString(p.read(luksUUIDOffset, luksUUIDSize, "LUKS uuid"))}
	if h.Version == 2 {
		res.Label = cString(p.read(luks2LabelOffset, luks2LabelSize, "LUKS2 label"))
	}
	if !printable(res.UUID) {
		res.UUID = ""
	}
	if !printable(res.Label) {
		res.Label = ""
	}
	return res, true
}

// vfat recognises a FAT boot sector as blkid does: the 0x55AA signature,
// a power-of-two sector size, a valid cluster size and FAT count, and the
// media byte.
func (p *prober) vfat() (Probed, bool) {
	var bs vfat.BootSector
	if !p.decode(0, &bs, binary.LittleEndian, "FAT boot sector") {
		return Probed{}, false
	}
	sig := p.read(510, 2, "boot sector signature")
	if sig == nil || sig[0] != 0x55 || sig[1] != 0xAA {
		return Probed{}, false
	}
	if bs.JmpBoot[0] != 0xEB && bs.JmpBoot[0] != 0xE9 {
		return Probed{}, false
	}
	powerOf2 := func(v uint32) bool { return v != 0 && v&(v-1) == 0 }
	if bs.BytsPerSec < 512 || bs.BytsPerSec > 4096 || !powerOf2(uint32(bs.BytsPerSec)) ||
		!powerOf2(uint32(bs.SecPerClus)) || bs.NumFATs == 0 || bs.NumFATs > 4 || bs.RsvdSecCnt == 0 ||
		(bs.Media != 0xF0 && bs.Media < 0xF8) {
		return Probed{}, false
	}
	off := int64(fatExtBPBOffset16)
	if bs.FATSz16 == 0 {
		off = fatExtBPBOffset32
	}
	var ext vfat.ExtBPB
	if !p.decode(off, &ext, binary.LittleEndian, "FAT extended BPB") || ext.BootSig != 0x29 {
		return Probed{Type: TypeVFAT}, true
	}
	res := Probed{Type: TypeVFAT, UUID: fmt.Sprintf("%04X-%04X", ext.VolID>>16, ext.VolID&0xFFFF)}
	if l := strings.TrimRight(string(ext.VolLab[:]), " \x00"); l != "NO NAME" && printable(l) {
		res.Label = l
	}
	return res, true
}

// formatUUID prints a 16-byte UUID in the canonical lower-case form, or ""
// when it is all zeros.
func formatUUID(u [16]byte) string {
	if u == ([16]byte{}) {
		return ""
	}
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// formatLVMID prints a 32-character PV id as lvm and blkid do:
// 6-4-4-4-4-4-6 groups.
func formatLVMID(id []byte) string {
	if len(id) != 32 || !printable(string(id)) {
		return ""
	}
	s := string(id)
	return s[0:6] + "-" + s[6:10] + "-" + s[10:14] + "-" + s[14:18] + "-" + s[18:22] + "-" + s[22:26] + "-" + s[26:32]
}

// cString returns b up to its first NUL, with trailing spaces removed, or
// "" when the result is not printable UTF-8.
func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	s := strings.TrimRight(string(b), " ")
	if !printable(s) {
		return ""
	}
	return s
}

func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7F || r == 0xFFFD {
			return false
		}
	}
	return true
}
