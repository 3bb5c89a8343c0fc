package qcow2

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/imgprep/imgprep/pkg/storage"
	"github.com/klauspost/compress/zstd"
)

// Options control Open and OpenFile.
type Options struct {
	// ReadOnly opens the image for reading only (OpenFile); Open is
	// always read-only.
	ReadOnly bool
	// Name is the image's name in errors ("golden.qcow2").
	Name string
	// Backing opens the backing file the header names; format is the
	// recorded backing format ("" if none). The host-safety policy
	// (which paths may be opened) lives in the caller. nil while the
	// image has a backing file gives ErrNoBacking.
	Backing func(name, format string) (Backing, error)
}

// Backing is a backing file: a read-only virtual disk. A qcow2 *Image
// satisfies it, as does a raw file wrapped with its size.
type Backing interface {
	io.ReaderAt
	Size() int64
	Close() error
}

// Extent is a run of the virtual disk that either holds data or reads as
// zeros.
type Extent struct {
	Offset, Length int64
	Zero           bool
}

// MaxBackingDepth bounds the chain of qcow2 images below one image.
const MaxBackingDepth = 64

// Image is an open qcow2 image. Its methods are safe for concurrent use.
type Image struct {
	mu       sync.Mutex
	r        io.ReaderAt
	f        storage.File // nil when opened with Open
	name     string
	h        *header
	readOnly bool
	closed   bool

	l1        []uint64 // the committed active L1 table
	l2        *l2Cache
	backing   Backing
	depth     int // qcow2 images below this one
	snapshots []Snapshot
	// snapshotTableBytes is the snapshot table's length on disk.
	snapshotTableBytes int64

	flate     io.ReadCloser
	zstd      *zstd.Decoder
	cbufHost  int64 // host offset of the cluster in cbuf, -1 if none
	cbuf      []byte
	clusterIO []byte // scratch cluster for partial writes

	// Write state; see doc.go for the design.
	rc       *refcounts
	pending  map[int64]l2Entry // guest cluster -> new entry, not yet committed
	writeErr error             // a failed commit poisons later writes
	// noOrderingSync skips the syncs between commit steps (new images
	// only, see CreateOptions.NoOrderingSync).
	noOrderingSync bool
}

// Open opens a qcow2 image read-only from r, which holds size bytes.
func Open(r io.ReaderAt, size int64, opts Options) (*Image, error) {
	img, err := open(r, nil, size, opts, true)
	if err != nil {
		return nil, nameErr(opts.Name, err)
	}
	return img, nil
}

// OpenFile opens the image in f for reading and, unless opts.ReadOnly,
// writing. A writable open refuses images this package cannot keep
// consistent (corrupt or dirty bit, persistent bitmaps) and clears unknown
// autoclear feature bits, as the specification asks of writers.
func OpenFile(f storage.File, opts Options) (*Image, error) {
	size, err := f.Size()
	if err != nil {
		return nil, nameErr(opts.Name, err)
	}
	img, err := open(f, f, size, opts, opts.ReadOnly)
	if err != nil {
		return nil, nameErr(opts.Name, err)
	}
	return img, nil
}

func nameErr(name string, err error) error {
	if name == "" {
		return err
	}
	return fmt.Errorf("%s: %w", name, err)
}

func open(r io.ReaderAt, f storage.File, size int64, opts Options, readOnly bool) (*Image, error) {
	if size < 4 {
		return nil, ErrNotQcow2
	}
	first := make([]byte, min(size, headerV3Size))
	if err := readAtFull(r, first, 0); err != nil {
		return nil, err
	}
	if !Probe(first) {
		return nil, ErrNotQcow2
	}
	n := size
	if len(first) >= headerV2Size {
		cb := be.Uint32(first[20:])
		if cb >= minClusterBits && cb <= maxClusterBits {
			n = min(size, int64(1)<<cb)
		}
	}
	cluster0 := make([]byte, n)
	if err := readAtFull(r, cluster0, 0); err != nil {
		return nil, err
	}
	h, err := parseHeader(cluster0, size)
	if err != nil {
		return nil, err
	}
	img := &Image{r: r, f: f, name: opts.Name, h: h, readOnly: readOnly, cbufHost: -1}
	if !readOnly {
		if err := h.writable(); err != nil {
			return nil, err
		}
	}
	// The active L1 table.
	l1buf := make([]byte, int64(h.L1Size)*8)
	if err := img.readFull(l1buf, int64(h.L1TableOffset), "L1 table"); err != nil {
		return nil, err
	}
	img.l1 = make([]uint64, h.L1Size)
	for i := range img.l1 {
		img.l1[i] = be.Uint64(l1buf[i*8:])
	}
	img.l2 = newL2Cache(h.clusterSize)
	if h.NbSnapshots > 0 {
		img.snapshots, img.snapshotTableBytes, err = h.parseSnapshots(r)
		if err != nil {
			return nil, err
		}
	}
	if h.backingFile != "" {
		if opts.Backing == nil {
			return nil, fmt.Errorf("%w (backing file %q)", ErrNoBacking, h.backingFile)
		}
		if opts.Name != "" && h.backingFile == opts.Name {
			return nil, fmt.Errorf("%w: %q names itself as its backing file", ErrBackingLoop, h.backingFile)
		}
		b, err := opts.Backing(h.backingFile, h.backingFormat)
		if err != nil {
			return nil, fmt.Errorf("backing file %q: %w", h.backingFile, err)
		}
		if bi, ok := b.(*Image); ok {
			if bi == img || bi.depth+1 > MaxBackingDepth {
				b.Close()
				return nil, fmt.Errorf("%w: more than %d qcow2 images below %q", ErrBackingLoop, MaxBackingDepth, opts.Name)
			}
			img.depth = bi.depth + 1
		}
		img.backing = b
	}
	if !readOnly {
		img.pending = map[int64]l2Entry{}
		if unknown := h.AutoclearFeatures &^ autoclearKnown; unknown != 0 && h.Version >= 3 {
			h.AutoclearFeatures &^= unknown
			var b [8]byte
			be.PutUint64(b[:], h.AutoclearFeatures)
			err := img.writeFile(b[:], offAutoclear)
			if err == nil {
				err = f.Sync()
			}
			if err != nil {
				img.closeBacking()
				return nil, err
			}
		}
	}
	return img, nil
}

// writable reports why an image must not be written, or nil.
func (h *header) writable() error {
	switch {
	case h.IncompatibleFeatures&incompatCorrupt != 0:
		return ErrCorruptBit
	case h.IncompatibleFeatures&incompatDirty != 0:
		return ErrDirty
	case h.AutoclearFeatures&autoclearBitmaps != 0 || h.bitmaps != nil:
		return ErrBitmaps
	}
	return nil
}

// readFull reads metadata: a short read means the structure runs past
// the end of the file.
func (img *Image) readFull(p []byte, off int64, what string) error {
	err := readAtFull(img.r, p, off)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return corrupt(off, what, "%d bytes run past the end of the file (%d bytes)", len(p), img.h.fileSize)
	}
	return err
}

// writeFile writes to the image file and tracks its size.
func (img *Image) writeFile(p []byte, off int64) error {
	if _, err := img.f.WriteAt(p, off); err != nil {
		return err
	}
	if end := off + int64(len(p)); end > img.h.fileSize {
		img.h.fileSize = end
	}
	return nil
}

// Size returns the virtual disk size in bytes.
// Like QEMU, which counts 512-byte sectors, a header size that is not a
// multiple of 512 is rounded down.
func (img *Image) Size() int64 { return img.h.virtualSize() }

// Snapshots lists the internal snapshots.
func (img *Image) Snapshots() []Snapshot { return append([]Snapshot(nil), img.snapshots...) }

// Info describes an image's header.
type Info struct {
	Version         int
	ClusterSize     int
	VirtualSize     int64
	BackingFile     string
	BackingFormat   string
	CompressionType string // "deflate" or "zstd"
	RefcountBits    int
	// Feature names, as the image's feature name table (or the
	// specification) names them, e.g. "lazy refcounts (bit 0)".
	IncompatibleFeatures []string
	CompatibleFeatures   []string
	AutoclearFeatures    []string
	Snapshots            int
	ExtendedL2           bool
	Dirty                bool
	Corrupt              bool
	LazyRefcounts        bool
	Bitmaps              bool
	HeaderLength         int
	L1Size               int
	UnknownExtensions    []uint32
}

// Info returns the image's header facts.
func (img *Image) Info() Info {
	img.mu.Lock()
	defer img.mu.Unlock()
	h := img.h
	ct := "deflate"
	if h.CompressionType == compressionZstd {
		ct = "zstd"
	}
	return Info{
		Version:              int(h.Version),
		ClusterSize:          int(h.clusterSize),
		VirtualSize:          h.virtualSize(),
		BackingFile:          h.backingFile,
		BackingFormat:        h.backingFormat,
		CompressionType:      ct,
		RefcountBits:         int(h.refcountBits),
		IncompatibleFeatures: h.featureList(0, h.IncompatibleFeatures),
		CompatibleFeatures:   h.featureList(1, h.CompatibleFeatures),
		AutoclearFeatures:    h.featureList(2, h.AutoclearFeatures),
		Snapshots:            len(img.snapshots),
		ExtendedL2:           h.extendedL2,
		Dirty:                h.IncompatibleFeatures&incompatDirty != 0,
		Corrupt:              h.IncompatibleFeatures&incompatCorrupt != 0,
		LazyRefcounts:        h.CompatibleFeatures&compatLazyRefcounts != 0,
		Bitmaps:              h.AutoclearFeatures&autoclearBitmaps != 0 || h.bitmaps != nil,
		HeaderLength:         int(h.HeaderLength),
		L1Size:               int(h.L1Size),
		UnknownExtensions:    append([]uint32(nil), h.unknownExts...),
	}
}

// Close commits pending writes (as Flush), then closes the backing chain.
// It does not close the storage.File given to OpenFile or Create: its
// owner does.
func (img *Image) Close() error {
	img.mu.Lock()
	defer img.mu.Unlock()
	if img.closed {
		return nil
	}
	var err error
	if img.f != nil && !img.readOnly {
		if img.writeErr == nil {
			err = img.flushLocked()
		} else if len(img.pending) > 0 {
			err = fmt.Errorf("qcow2: uncommitted writes discarded after an earlier error: %w", img.writeErr)
		}
	}
	img.closed = true
	if cerr := img.closeBacking(); err == nil {
		err = cerr
	}
	if img.zstd != nil {
		img.zstd.Close()
	}
	return err
}

func (img *Image) closeBacking() error {
	if img.backing == nil {
		return nil
	}
	err := img.backing.Close()
	img.backing = nil
	return err
}

// decompress inflates the compressed cluster m into img.cbuf.
func (img *Image) decompress(m mapping) ([]byte, error) {
	if img.cbufHost == m.host && img.cbuf != nil {
		return img.cbuf, nil
	}
	cs := img.h.clusterSize
	src := make([]byte, min(m.csize, cs+cs/2+1024))
	n, err := img.r.ReadAt(src, m.host)
	if n < len(src) && err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	src = src[:n] // compressed data may end at the end of the file
	if img.cbuf == nil {
		img.cbuf = make([]byte, cs)
	}
	img.cbufHost = -1
	bad := func(err error) error {
		return corrupt(m.host, "compressed cluster", "%v", err)
	}
	switch img.h.CompressionType {
	case compressionZstd:
		if img.zstd == nil {
			d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
				zstd.WithDecoderMaxMemory(uint64(4*cs+(1<<20))), zstd.WithDecoderMaxWindow(uint64(max(cs, 1<<20))))
			if err != nil {
				return nil, err
			}
			img.zstd = d
		}
		if err := img.zstd.Reset(byteReader(src)); err != nil {
			return nil, bad(err)
		}
		if _, err := io.ReadFull(img.zstd, img.cbuf); err != nil {
			return nil, bad(err)
		}
	default:
		if img.flate == nil {
			img.flate = flate.NewReader(byteReader(src))
		} else if err := img.flate.(flate.Resetter).Reset(byteReader(src), nil); err != nil {
			return nil, bad(err)
		}
		if _, err := io.ReadFull(img.flate, img.cbuf); err != nil {
			return nil, bad(err)
		}
	}
	img.cbufHost = m.host
	return img.cbuf, nil
}

func byteReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
