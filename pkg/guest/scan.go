package guest

import (
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/lvm"
	"github.com/imgprep/imgprep/pkg/partition"
)

// Disk is a virtual disk: an image's contents as image.Image presents them.
type Disk interface {
	io.ReaderAt
	io.WriterAt
	Size() int64
}

// Options say how Scan opens what it finds.
type Options struct {
	// Name names the image in the filesystem engines' messages ("ext4 on
	// partition 2 of vm.qcow2"). Scan's own errors do not name it: the
	// caller does.
	Name string
	// Writable opens the filesystems imgprep can write for writing. A
	// filesystem that refuses (it needs journal recovery, has an unknown
	// feature, ...) is opened read-only instead, with the reason in Why.
	Writable bool
	// Now is the clock the engines stamp changes with; nil means time.Now.
	Now func() time.Time

	// openEngine replaces the filesystem engines in tests.
	openEngine engineOpener
}

// engineOpener opens the engine for a probed filesystem on dev. It returns
// a nil fs.FS for a type it has no engine for.
type engineOpener func(f *Filesystem, dev partition.ReaderWriterAt, size int64, opts Options) (engine fs.FS, writable bool, why string, err error)

// Layout is what Scan found on a disk.
type Layout struct {
	Table       *partition.Table
	Filesystems []*Filesystem

	// opts are the options the layout was scanned with.
	opts Options
	lvm  lvmState

	// disks holds each disk's partition table, in the order the VM sees
	// the disks (Join); Scan's layout has one.
	disks []*partition.Table

	// btrfsViews holds the Filesystems presenting btrfs subvolumes other
	// than the default one (btrfs.go).
	btrfsViews map[btrfsViewKey]*Filesystem

	// fsUUIDs holds the filesystems ChangeFilesystemUUIDs renamed, at
	// most once per layout.
	fsUUIDs map[*Filesystem]FSUUIDChange
}

// Filesystem is one partition (or the whole partitionless disk) and what
// its signature says it holds.
type Filesystem struct {
	// Partition is the partition number as Linux names it (sda5 is 5), or 0
	// for a partitionless disk.
	Partition int
	// Offset and Size locate the partition on the disk, in bytes.
	Offset, Size int64
	// Type, UUID and Label are read from the signature, as blkid names
	// them: "ext4", "xfs", "vfat", "swap", "LVM2_member", "crypto_LUKS",
	// "btrfs", or "" when nothing was recognised.
	Type, UUID, Label string
	// PartUUID and PartLabel come from the partition table.
	PartUUID, PartLabel string
	// VG and LV name the logical volume holding the filesystem (then
	// Partition, Offset, PartUUID and PartLabel are zero: an LV has no
	// single place on a disk), and LVKind its kind: "linear",
	// "striped", or the lvm2 segment type imgprep does not map ("thin",
	// "raid1", "snapshot", ...).
	VG, LV, LVKind string
	// Disk is the index of the disk holding the filesystem in a joined
	// layout (0: the first, sda/vda), and DiskName names it in Desc; a
	// layout of one disk leaves DiskName empty.
	Disk     int
	DiskName string
	// Subvolume is, for btrfs, the id of the subvolume FS presents when
	// an fstab entry's subvol= or subvolid= chose one; 0 for the default
	// subvolume.
	Subvolume uint64
	// FS is the opened engine (an fs.WritableFS when Writable), nil when
	// imgprep has none for Type or it failed to open (see Err).
	FS fs.FS
	// Writable reports whether changes are possible; Why says why not:
	// "imgprep cannot read or write xfs", "image opened read-only", or the
	// engine's refusal ("refusing to write: ... needs journal recovery").
	Writable bool
	Why      string
	// Err is why a supported filesystem could not be opened at all.
	Err error

	pv   *lvm.PV // the PV on this partition, when Type is LVM2_member
	vgID string  // the VG of an LV
	// refused is the engine's refusal to write (an *ext4.RefusalError)
	// when it opened the filesystem read-only instead.
	refused error
}

// Desc names the filesystem for people: "ext4 on partition 2",
// "xfs on the whole disk", "unrecognised data on partition 4".
func (f *Filesystem) Desc() string {
	what := f.Type
	if what == "" {
		what = "unrecognised data"
	}
	if f.LV != "" {
		return what + " on LV " + f.VG + "/" + f.LV
	}
	of := ""
	if f.DiskName != "" {
		of = " of " + f.DiskName
	}
	if f.Partition == 0 {
		if of != "" {
			return what + " on the whole of " + f.DiskName
		}
		return what + " on the whole disk"
	}
	return what + " on partition " + strconv.Itoa(f.Partition) + of
}

// Scan reads d's partition table and probes every partition (the whole
// disk when there is none) for a filesystem, opening those imgprep has an
// engine for. Only an unreadable disk or a damaged partition table is an
// error; a filesystem that fails to open is reported in its Err.
func Scan(d Disk, opts Options) (*Layout, error) {
	size := d.Size()
	table, err := partition.Read(d, size)
	if err != nil {
		return nil, fmt.Errorf("reading the partition table: %w", err)
	}
	parts := make([]partition.Partition, 0, len(table.Partitions))
	for _, p := range table.Partitions {
		if !p.Extended {
			parts = append(parts, p)
		}
	}
	if table.Kind == partition.KindNone {
		parts = append(parts, partition.Partition{Number: 0, Start: 0, Size: size})
	}
	open := opts.openEngine
	if open == nil {
		open = openBuiltinEngine
	}
	overlap := overlaps(parts)
	meta := tableAreas(table, size)
	l := &Layout{Table: table, disks: []*partition.Table{table}, opts: opts}
	for i, p := range parts {
		sec := partition.Section(d, p)
		pr, err := Probe(sec, sec.Size())
		if err != nil {
			return nil, fmt.Errorf("probing partition %d: %w", p.Number, err)
		}
		f := &Filesystem{
			Partition: p.Number, Offset: p.Start, Size: sec.Size(),
			Type: pr.Type, UUID: pr.UUID, Label: pr.Label,
			PartUUID: p.UUID, PartLabel: p.Name,
		}
		if f.Type != "" {
			o, refuse := opts, ""
			if overlap[i] != 0 {
				// A write to one would change the other: read only.
				refuse = fmt.Sprintf("partition %d overlaps partition %d: refusing to write either", p.Number, overlap[i])
			}
			for _, a := range meta {
				if p.Start < a.end && a.start < p.Start+p.Size {
					refuse = fmt.Sprintf("partition %d covers the %s: refusing to write it", p.Number, a.what)
				}
			}
			if refuse != "" {
				o.Writable = false
			}
			engine, writable, why, err := open(f, sec, sec.Size(), o)
			f.FS, f.Writable, f.Why, f.Err = engine, writable, why, err
			if refuse != "" && opts.Writable {
				f.Why = refuse
			}
			if f.Type == TypeLVM {
				l.readPV(f, sec, sec.Size(), refuse)
			}
		}
		l.Filesystems = append(l.Filesystems, f)
	}
	l.addLVs(opts, nil, false)
	return l, nil
}

// unsupportedWhy says why imgprep cannot use a volume of type t.
func unsupportedWhy(t string) string {
	switch t {
	case TypeSwap:
		return "swap space holds no files"
	case TypeLVM:
		return "imgprep cannot read LVM2 physical volumes"
	case TypeLUKS:
		return "imgprep cannot open LUKS encrypted volumes"
	case TypeXFS:
		return "imgprep cannot write xfs yet"
	case TypeBtrfs:
		return "imgprep cannot write btrfs yet"
	}
	return "imgprep cannot read or write " + t
}

// overlaps returns, for each partition index that shares bytes with
// another partition, that other partition's number (0: none). Extended
// MBR containers are not in parts.
func overlaps(parts []partition.Partition) map[int]int {
	m := map[int]int{}
	for i := range parts {
		for j := i + 1; j < len(parts); j++ {
			a, b := parts[i], parts[j]
			if a.Size > 0 && b.Size > 0 && a.Start < b.Start+b.Size && b.Start < a.Start+a.Size {
				m[i], m[j] = b.Number, a.Number
			}
		}
	}
	return m
}

// area is a byte range of the disk that the partition table itself uses.
type area struct {
	start, end int64
	what       string
}

// tableAreas returns where the partition table lies: the MBR in LBA 0;
// for GPT also the primary header and the smallest entry array the UEFI
// specification allows (16 KiB) after it, and the same at the disk's end
// for the backup. A filesystem reaching into them is not written.
func tableAreas(t *partition.Table, size int64) []area {
	ss := int64(t.SectorSize)
	if ss <= 0 {
		ss = 512
	}
	switch t.Kind {
	case partition.KindMBR:
		return []area{{0, ss, "master boot record"}}
	case partition.KindGPT:
		gpt := 2*ss + 16384
		return []area{{0, gpt, "primary GPT"}, {size - ss - 16384, size, "backup GPT"}}
	}
	return nil
}
