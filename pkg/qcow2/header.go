package qcow2

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
)

// header is the parsed, validated header with its extensions.
type header struct {
	diskHeader
	clusterBits  uint32
	clusterSize  int64
	refcountBits uint32 // 1 << refcount_order
	fileSize     int64  // current length of the image file: bounds every offset
	extendedL2   bool
	l2Entries    int64 // entries per L2 table
	l2EntryBytes int64 // 8, or 16 with extended L2

	backingFile   string
	backingFormat string
	dataFile      string // external data file name (extension 0x44415441)
	hasDataFile   bool
	bitmaps       *bitmapsExtension
	encryption    *encryptionExtension
	featureNames  map[featureKey]string
	unknownExts   []uint32
}

type featureKey struct {
	kind uint8 // 0 incompatible, 1 compatible, 2 autoclear
	bit  uint8
}

// Probe reports whether header begins with the qcow2 magic "QFI\xfb".
func Probe(header []byte) bool {
	return len(header) >= 4 && be.Uint32(header) == magic
}

// parseHeader decodes and validates the header in buf, which holds the
// image's first cluster (or the whole file when it is shorter). fileSize
// bounds every offset the header gives.
func parseHeader(buf []byte, fileSize int64) (*header, error) {
	if !Probe(buf) {
		return nil, ErrNotQcow2
	}
	if len(buf) < headerV2Size {
		return nil, corrupt(0, "header", "image is %d bytes, shorter than a version 2 header (%d)", len(buf), headerV2Size)
	}
	h := &header{fileSize: fileSize}
	version := be.Uint32(buf[4:])
	switch version {
	case 2:
		decodeV2(buf, &h.diskHeader)
		h.RefcountOrder = 4
		h.HeaderLength = headerV2Size
	case 3:
		if len(buf) < headerV3MinSize {
			return nil, corrupt(0, "header", "version 3 header needs %d bytes, image has %d", headerV3MinSize, len(buf))
		}
		decodeV2(buf, &h.diskHeader)
		h.IncompatibleFeatures = be.Uint64(buf[72:])
		h.CompatibleFeatures = be.Uint64(buf[80:])
		h.AutoclearFeatures = be.Uint64(buf[88:])
		h.RefcountOrder = be.Uint32(buf[96:])
		h.HeaderLength = be.Uint32(buf[100:])
		if h.HeaderLength < headerV3MinSize {
			return nil, corrupt(100, "header", "header_length %d is less than %d", h.HeaderLength, headerV3MinSize)
		}
		if h.HeaderLength%8 != 0 && h.HeaderLength > headerV3MinSize {
			return nil, corrupt(100, "header", "header_length %d is not a multiple of 8", h.HeaderLength)
		}
		if int64(h.HeaderLength) > int64(len(buf)) {
			return nil, corrupt(100, "header", "header_length %d runs past the first cluster or the file end", h.HeaderLength)
		}
		if h.HeaderLength > headerV3MinSize {
			h.CompressionType = buf[offCompressionType]
		}
	default:
		return nil, corrupt(4, "header", "unsupported version %d (only 2 and 3 exist)", version)
	}
	h.Magic = magic
	h.Version = version

	if h.ClusterBits < minClusterBits || h.ClusterBits > maxClusterBits {
		return nil, corrupt(20, "header", "cluster_bits %d is outside %d..%d", h.ClusterBits, minClusterBits, maxClusterBits)
	}
	h.clusterBits = h.ClusterBits
	h.clusterSize = 1 << h.clusterBits
	if h.RefcountOrder > maxRefcountOrder {
		return nil, corrupt(96, "header", "refcount_order %d is above %d", h.RefcountOrder, maxRefcountOrder)
	}
	h.refcountBits = 1 << h.RefcountOrder
	if h.CryptMethod != 0 {
		return nil, fmt.Errorf("%w (crypt_method %d)", ErrEncrypted, h.CryptMethod)
	}
	if unknown := h.IncompatibleFeatures &^ incompatKnown; unknown != 0 {
		// The feature table, if any, names the bits; parse it first.
		_ = h.parseExtensions(buf)
		return nil, fmt.Errorf("%w: %s", ErrUnknownFeature, strings.Join(h.featureList(0, unknown), ", "))
	}
	if h.IncompatibleFeatures&incompatCompression != 0 {
		if h.CompressionType != compressionDeflate && h.CompressionType != compressionZstd {
			return nil, corrupt(offCompressionType, "header", "unknown compression_type %d", h.CompressionType)
		}
	} else if h.CompressionType != compressionDeflate {
		return nil, corrupt(offCompressionType, "header", "compression_type %d without the compression type feature bit", h.CompressionType)
	}
	h.extendedL2 = h.IncompatibleFeatures&incompatExtendedL2 != 0
	h.l2EntryBytes = 8
	if h.extendedL2 {
		h.l2EntryBytes = 16
		if h.clusterBits < 14 {
			return nil, corrupt(20, "header", "extended L2 entries need clusters of at least 16 KiB, cluster_bits is %d", h.clusterBits)
		}
	}
	h.l2Entries = h.clusterSize / h.l2EntryBytes

	if h.Size > maxVirtualSize {
		return nil, fmt.Errorf("%w: virtual size %d is above %d", ErrTooLarge, h.Size, uint64(maxVirtualSize))
	}
	need := h.l1EntriesFor(int64(h.Size))
	if int64(h.L1Size) < need {
		return nil, corrupt(36, "header", "l1_size %d cannot map the virtual size %d (needs %d entries)", h.L1Size, h.Size, need)
	}
	if int64(h.L1Size)*8 > maxL1Bytes {
		return nil, fmt.Errorf("%w: L1 table of %d entries is above %d bytes", ErrTooLarge, h.L1Size, maxL1Bytes)
	}
	if err := h.checkTable("L1 table", 40, h.L1TableOffset, int64(h.L1Size)*8); err != nil {
		return nil, err
	}
	if int64(h.RefcountTableClusters)*h.clusterSize > maxReftableBytes || h.RefcountTableClusters == 0 {
		if h.RefcountTableClusters == 0 {
			return nil, corrupt(56, "header", "refcount_table_clusters is 0")
		}
		return nil, fmt.Errorf("%w: refcount table of %d clusters is above %d bytes", ErrTooLarge, h.RefcountTableClusters, maxReftableBytes)
	}
	if err := h.checkTable("refcount table", 48, h.RefcountTableOffset, int64(h.RefcountTableClusters)*h.clusterSize); err != nil {
		return nil, err
	}
	if h.NbSnapshots > maxSnapshots {
		return nil, fmt.Errorf("%w: %d snapshots is above %d", ErrTooLarge, h.NbSnapshots, maxSnapshots)
	}
	if h.NbSnapshots > 0 {
		if err := h.checkTable("snapshot table", 64, h.SnapshotsOffset, int64(h.NbSnapshots)*40); err != nil {
			return nil, err
		}
	}
	// The metadata tables must not overlap each other or the header.
	l1 := span{int64(h.L1TableOffset), int64(h.L1Size) * 8}
	rt := span{int64(h.RefcountTableOffset), int64(h.RefcountTableClusters) * h.clusterSize}
	if l1.n > 0 && l1.overlaps(rt) {
		return nil, corrupt(int64(h.RefcountTableOffset), "refcount table", "overlaps the L1 table at %#x", h.L1TableOffset)
	}

	// As QEMU: backing_file_offset 0 means no backing file, whatever the
	// size says.
	if h.BackingFileOffset != 0 {
		if h.BackingFileSize > maxBackingNameSize || h.BackingFileSize == 0 {
			return nil, corrupt(16, "header", "backing_file_size %d is not within 1..%d", h.BackingFileSize, maxBackingNameSize)
		}
		end := h.BackingFileOffset + uint64(h.BackingFileSize)
		if h.BackingFileOffset < uint64(h.HeaderLength) || end > uint64(h.clusterSize) || end > uint64(len(buf)) {
			return nil, corrupt(8, "header", "backing file name at %d+%d is outside the first cluster", h.BackingFileOffset, h.BackingFileSize)
		}
		h.backingFile = string(buf[h.BackingFileOffset:end])
	}
	if err := h.parseExtensions(buf); err != nil {
		return nil, err
	}
	if h.encryption != nil {
		return nil, fmt.Errorf("%w (full disk encryption header extension)", ErrEncrypted)
	}
	if h.IncompatibleFeatures&incompatDataFile != 0 || h.hasDataFile {
		name := h.dataFile
		if name == "" {
			name = "unnamed"
		}
		return nil, fmt.Errorf("%w (%q)", ErrExternalData, name)
	}
	return h, nil
}

// decodeV2 decodes the first 72 bytes, common to both versions.
func decodeV2(buf []byte, d *diskHeader) {
	d.Version = be.Uint32(buf[4:])
	d.BackingFileOffset = be.Uint64(buf[8:])
	d.BackingFileSize = be.Uint32(buf[16:])
	d.ClusterBits = be.Uint32(buf[20:])
	d.Size = be.Uint64(buf[24:])
	d.CryptMethod = be.Uint32(buf[32:])
	d.L1Size = be.Uint32(buf[36:])
	d.L1TableOffset = be.Uint64(buf[40:])
	d.RefcountTableOffset = be.Uint64(buf[48:])
	d.RefcountTableClusters = be.Uint32(buf[56:])
	d.NbSnapshots = be.Uint32(buf[60:])
	d.SnapshotsOffset = be.Uint64(buf[64:])
}

type span struct{ off, n int64 }

func (a span) overlaps(b span) bool {
	return a.n > 0 && b.n > 0 && a.off < b.off+b.n && b.off < a.off+a.n
}

// checkTable validates a metadata table's placement: cluster aligned, not
// in the header cluster, within the file.
func (h *header) checkTable(name string, field int64, off uint64, length int64) error {
	fileSize := h.fileSize
	if length == 0 && off == 0 {
		return nil
	}
	if off%uint64(h.clusterSize) != 0 {
		return corrupt(field, "header", "%s offset %#x is not cluster aligned", name, off)
	}
	if off < uint64(h.clusterSize) {
		return corrupt(field, "header", "%s offset %#x points into the header cluster", name, off)
	}
	if off > uint64(fileSize) || uint64(length) > uint64(fileSize)-off {
		return corrupt(field, "header", "%s at %#x+%d runs past the end of the file (%d bytes)", name, off, length, fileSize)
	}
	return nil
}

// virtualSize is the disk size in whole 512-byte sectors, as QEMU sees it.
func (h *header) virtualSize() int64 { return int64(h.Size) &^ 511 }

// l1EntriesFor returns the number of L1 entries a virtual size needs.
func (h *header) l1EntriesFor(size int64) int64 {
	clusters := ceilDiv(size, h.clusterSize)
	return ceilDiv(clusters, h.l2Entries)
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

// parseExtensions walks the header extensions that follow the header,
// keeping the known ones and skipping unknown ones.
func (h *header) parseExtensions(buf []byte) error {
	off := int64(h.HeaderLength)
	if h.Version == 2 {
		off = headerV2Size
	}
	end := int64(len(buf))
	if h.BackingFileOffset != 0 && int64(h.BackingFileOffset) < end && int64(h.BackingFileOffset) >= off {
		end = int64(h.BackingFileOffset)
	}
	for off+extHeaderSize <= end {
		typ := be.Uint32(buf[off:])
		length := int64(be.Uint32(buf[off+4:]))
		if typ == extEnd {
			return nil
		}
		dataOff := off + extHeaderSize
		if length > end-dataOff {
			return corrupt(off, "header extension", "type %#x of %d bytes runs past the end of the extension area", typ, length)
		}
		data := buf[dataOff : dataOff+length]
		switch typ {
		case extBackingFormat:
			h.backingFormat = string(bytes.TrimRight(data, "\x00"))
		case extFeatureTable:
			if length%featureEntrySize != 0 {
				return corrupt(off, "feature name table", "length %d is not a multiple of %d", length, featureEntrySize)
			}
			if h.featureNames == nil {
				h.featureNames = map[featureKey]string{}
			}
			for i := int64(0); i < length; i += featureEntrySize {
				e := data[i : i+featureEntrySize]
				name := string(bytes.TrimRight(e[2:2+featureNameLength], "\x00"))
				h.featureNames[featureKey{e[0], e[1]}] = name
			}
		case extBitmaps:
			if length < 24 {
				return corrupt(off, "bitmaps extension", "length %d is less than 24", length)
			}
			b := &bitmapsExtension{
				NbBitmaps:             be.Uint32(data),
				Reserved:              be.Uint32(data[4:]),
				BitmapDirectorySize:   be.Uint64(data[8:]),
				BitmapDirectoryOffset: be.Uint64(data[16:]),
			}
			h.bitmaps = b
		case extEncryption:
			if length < 16 {
				return corrupt(off, "encryption extension", "length %d is less than 16", length)
			}
			h.encryption = &encryptionExtension{Offset: be.Uint64(data), Length: be.Uint64(data[8:])}
		case extExternalData:
			h.hasDataFile = true
			h.dataFile = string(bytes.TrimRight(data, "\x00"))
		default:
			h.unknownExts = append(h.unknownExts, typ)
		}
		off = dataOff + (length+7)&^7
	}
	return nil
}

// knownFeatureNames are used when the image carries no feature name table.
var knownFeatureNames = [3][64]string{
	{0: "dirty bit", 1: "corrupt bit", 2: "external data file", 3: "compression type", 4: "extended L2 entries"},
	{0: "lazy refcounts"},
	{0: "bitmaps", 1: "raw external data"},
}

// featureList names the bits of mask of the given kind (0 incompatible,
// 1 compatible, 2 autoclear).
func (h *header) featureList(kind uint8, mask uint64) []string {
	var out []string
	for bit := uint8(0); bit < 64; bit++ {
		if mask&(1<<bit) == 0 {
			continue
		}
		name := h.featureNames[featureKey{kind, bit}]
		if name == "" {
			name = knownFeatureNames[kind][bit]
		}
		if name == "" {
			name = fmt.Sprintf("unknown bit %d", bit)
		} else {
			name = fmt.Sprintf("%s (bit %d)", name, bit)
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}
