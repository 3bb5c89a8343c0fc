package qcow2

import (
	"fmt"

	"github.com/imgprep/imgprep/pkg/storage"
)

// CreateOptions describe a new image.
type CreateOptions struct {
	Size          int64 // virtual size, a multiple of 512
	ClusterSize   int   // default 65536; a power of two from 512 to 2 MiB
	BackingFile   string
	BackingFormat string
	Version       int // 3 (default) or 2
	LazyRefcounts bool
	// NoOrderingSync makes commits of the returned Image skip the syncs
	// that order their steps; Flush and Close still sync once at the
	// end. For new images whose intermediate states nobody relies on,
	// such as a copy destination: a crash may leave them inconsistent.
	NoOrderingSync bool
	// Backing opens the backing file for the returned Image, as
	// Options.Backing does; with a BackingFile and no Backing, Create
	// writes the image and then fails with ErrNoBacking.
	Backing func(name, format string) (Backing, error)
}

// createFeatures is the feature name table qemu-img writes.
var createFeatures = []struct {
	kind, bit uint8
	name      string
}{
	{0, 0, "dirty bit"}, {0, 1, "corrupt bit"}, {0, 2, "external data file"},
	{0, 3, "compression type"}, {0, 4, "extended L2 entries"},
	{1, 0, "lazy refcounts"},
	{2, 0, "bitmaps"}, {2, 1, "raw external data"},
}

// Create writes a new, empty image to f (replacing its contents) and
// opens it for writing. The layout is qemu-img's: the header cluster, the
// refcount table, refcount blocks, then the L1 table.
func Create(f storage.File, opts CreateOptions) (*Image, error) {
	buf, layout, err := buildImage(opts)
	if err != nil {
		return nil, err
	}
	if err := f.Truncate(0); err != nil {
		return nil, err
	}
	if err := f.Truncate(layout.fileSize); err != nil {
		return nil, err
	}
	// Everything but the header first, then the header, so a torn create
	// is never a valid image.
	cs := layout.clusterSize
	if _, err := f.WriteAt(buf[cs:layout.metaEnd], cs); err != nil {
		return nil, err
	}
	if !opts.NoOrderingSync {
		if err := f.Sync(); err != nil {
			return nil, err
		}
	}
	if _, err := f.WriteAt(buf[:cs], 0); err != nil {
		return nil, err
	}
	if !opts.NoOrderingSync {
		if err := f.Sync(); err != nil {
			return nil, err
		}
	}
	img, err := OpenFile(f, Options{Backing: opts.Backing})
	if err != nil {
		return nil, err
	}
	img.noOrderingSync = opts.NoOrderingSync
	return img, nil
}

type createLayout struct {
	clusterSize int64
	metaEnd     int64 // end of the nonzero metadata
	fileSize    int64
}

// buildImage lays out a new image in memory: every cluster up to and
// including the refcount blocks (the L1 table is all zeros and only
// occupies file space).
func buildImage(opts CreateOptions) ([]byte, createLayout, error) {
	bad := func(format string, args ...any) ([]byte, createLayout, error) {
		return nil, createLayout{}, fmt.Errorf("%w: %s", ErrInvalidOptions, fmt.Sprintf(format, args...))
	}
	if opts.Size < 0 || opts.Size%512 != 0 {
		return bad("size %d is not a non-negative multiple of 512", opts.Size)
	}
	if opts.Size > maxVirtualSize {
		return nil, createLayout{}, fmt.Errorf("%w: size %d is above %d", ErrTooLarge, opts.Size, int64(maxVirtualSize))
	}
	csize := opts.ClusterSize
	if csize == 0 {
		csize = 65536
	}
	bits := uint32(0)
	for int(1)<<bits < csize {
		bits++
	}
	if 1<<bits != csize || bits < minClusterBits || bits > maxClusterBits {
		return bad("cluster size %d is not a power of two from 512 to 2 MiB", csize)
	}
	version := opts.Version
	if version == 0 {
		version = 3
	}
	if version != 2 && version != 3 {
		return bad("version %d (only 2 and 3)", version)
	}
	if opts.LazyRefcounts && version < 3 {
		return bad("lazy refcounts need version 3")
	}
	if len(opts.BackingFile) > maxBackingNameSize {
		return bad("backing file name of %d bytes (at most %d)", len(opts.BackingFile), maxBackingNameSize)
	}
	if opts.BackingFormat != "" && opts.BackingFile == "" {
		return bad("backing format without a backing file")
	}
	h := &header{clusterBits: bits, clusterSize: int64(csize), l2EntryBytes: 8, l2Entries: int64(csize) / 8}
	cs := h.clusterSize
	l1Entries := h.l1EntriesFor(opts.Size)
	if l1Entries*8 > maxL1Bytes {
		return nil, createLayout{}, fmt.Errorf("%w: size %d needs an L1 table of %d entries", ErrTooLarge, opts.Size, l1Entries)
	}
	l1Clusters := ceilDiv(l1Entries*8, cs)
	// Refcounts: 16 bits. Solve for the number of blocks and table
	// clusters covering header + table + blocks + L1.
	perBlock := cs * 8 / 16
	blocks, tableClusters := int64(1), int64(1)
	for {
		total := 1 + tableClusters + blocks + l1Clusters
		nb := ceilDiv(total, perBlock)
		nt := ceilDiv(nb*8, cs)
		if nb == blocks && nt == tableClusters {
			break
		}
		blocks, tableClusters = max(nb, blocks), max(nt, tableClusters)
	}
	if tableClusters*cs > maxReftableBytes {
		return nil, createLayout{}, fmt.Errorf("%w: refcount table of %d clusters", ErrTooLarge, tableClusters)
	}
	tableAt := cs
	blocksAt := tableAt + tableClusters*cs
	l1At := blocksAt + blocks*cs
	total := 1 + tableClusters + blocks + l1Clusters
	metaEnd := l1At
	buf := make([]byte, metaEnd)

	// Header.
	hdrLen := int64(headerV3Size)
	if version == 2 {
		hdrLen = headerV2Size
	}
	be.PutUint32(buf[0:], magic)
	be.PutUint32(buf[4:], uint32(version))
	be.PutUint32(buf[20:], bits)
	be.PutUint64(buf[24:], uint64(opts.Size))
	be.PutUint32(buf[36:], uint32(l1Entries))
	be.PutUint64(buf[40:], uint64(l1At))
	be.PutUint64(buf[48:], uint64(tableAt))
	be.PutUint32(buf[56:], uint32(tableClusters))
	if version == 3 {
		if opts.LazyRefcounts {
			be.PutUint64(buf[80:], compatLazyRefcounts)
		}
		be.PutUint32(buf[96:], 4)
		be.PutUint32(buf[100:], uint32(hdrLen))
	}
	// Extensions: backing format, feature name table (v3), end.
	pos := hdrLen
	putExt := func(typ uint32, data []byte) {
		be.PutUint32(buf[pos:], typ)
		be.PutUint32(buf[pos+4:], uint32(len(data)))
		copy(buf[pos+8:], data)
		pos += 8 + (int64(len(data))+7)&^7
	}
	need := hdrLen + 8 + int64(len(opts.BackingFile))
	if opts.BackingFormat != "" {
		need += 8 + int64(len(opts.BackingFormat)+7)&^7
	}
	// The feature name table is optional; it is left out when it does
	// not fit a small cluster.
	features := version == 3 && need+8+int64(len(createFeatures))*featureEntrySize <= cs
	if features {
		need += 8 + int64(len(createFeatures))*featureEntrySize
	}
	if need > cs {
		return bad("header, extensions and backing file name (%d bytes) do not fit a %d-byte cluster", need, cs)
	}
	if opts.BackingFormat != "" {
		putExt(extBackingFormat, []byte(opts.BackingFormat))
	}
	if features {
		ft := make([]byte, len(createFeatures)*featureEntrySize)
		for i, f := range createFeatures {
			e := ft[i*featureEntrySize:]
			e[0], e[1] = f.kind, f.bit
			copy(e[2:2+featureNameLength], f.name)
		}
		putExt(extFeatureTable, ft)
	}
	putExt(extEnd, nil)
	if opts.BackingFile != "" {
		be.PutUint64(buf[8:], uint64(pos))
		be.PutUint32(buf[16:], uint32(len(opts.BackingFile)))
		copy(buf[pos:], opts.BackingFile)
	}
	// Refcount table and blocks: every metadata cluster has refcount 1.
	for b := int64(0); b < blocks; b++ {
		be.PutUint64(buf[tableAt+b*8:], uint64(blocksAt+b*cs))
	}
	for c := int64(0); c < total; c++ {
		be.PutUint16(buf[blocksAt+c*2:], 1)
	}
	return buf, createLayout{clusterSize: cs, metaEnd: metaEnd, fileSize: l1At + l1Clusters*cs}, nil
}
