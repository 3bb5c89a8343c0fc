package sysprep

import (
	"context"
	"github.com/imgprep/imgprep/pkg/image"

	"github.com/imgprep/imgprep/pkg/ops"
)

// OpenOptions say how a Backend opens an image: image.OpenOptions (the
// one struct for how an image opens: format, write or dry run, backing
// policy, force-share for reads, journal, a freshly made file), applied
// to every disk, and the VM's further disks.
type OpenOptions struct {
	image.OpenOptions
	// Disks are the VM's further disks, after the one at path, in the
	// order the VM sees them: opened alike and joined into one machine
	// (guest.Join), committed together.
	Disks []string
}

// Backend opens images. Stack is the real one.
type Backend interface {
	Open(ctx context.Context, path string, opts OpenOptions) (Image, error)
}

// Image is an opened image with its guests.
type Image interface {
	// Info describes the image, its partitions and filesystems.
	Info() ImageInfo
	// Guests finds every guest root and assembles its mounts.
	Guests() ([]Guest, error)
	// Finish ends a writable session: it flushes the image format, counts
	// the bytes of the image file that the session staged, then commits
	// them (commit true) or discards them. After an error nothing is
	// committed.
	Finish(commit bool) (staged int64, err error)
	Close() error
}

// Guest is one guest root with its mounts, as operations see it.
type Guest interface {
	ops.Guest
	// Root describes the root filesystem: "ext4 on partition 2".
	Root() string
	// Mounts lists the mounted filesystems, root first.
	Mounts() []MountInfo
	// OSRelease is the parsed /etc/os-release.
	OSRelease() map[string]string
	// Warnings says what of the guest could not be assembled: fstab
	// entries whose filesystem is on none of the disks.
	Warnings() []string
	// Sync writes every change to the writable filesystems.
	Sync() error
}

// ImageInfo describes an image.
type ImageInfo struct {
	Format      string           `json:"format"`
	VirtualSize int64            `json:"virtual_size"`
	Chain       []Layer          `json:"chain"`
	Table       string           `json:"partition_table"` // "gpt", "mbr" or "none"
	DiskUUID    string           `json:"disk_uuid,omitempty"`
	Partitions  []PartitionInfo  `json:"partitions"`
	Filesystems []FilesystemInfo `json:"filesystems"`
	// Notes say what a reader should know about how the image was read:
	// another process was writing it.
	Notes []string `json:"notes,omitempty"`
	// Disks describes the VM's further disks (OpenOptions.Disks), each
	// with its own path in Chain[0].
	Disks []ImageInfo `json:"disks,omitempty"`
	// VolumeGroups are the LVM2 volume groups the disks' PVs form (the
	// PVs, as filesystems, carry their own UUIDs).
	VolumeGroups []VolumeGroupInfo `json:"volume_groups,omitempty"`
}

// VolumeGroupInfo describes one LVM2 volume group.
type VolumeGroupInfo struct {
	Name  string `json:"name"`
	UUID  string `json:"uuid"` // as vgs prints it, with lvm2's dashes
	Seqno uint64 `json:"seqno"`
	// Missing lists the UUIDs of PVs on none of the disks given.
	Missing []string `json:"missing_pvs,omitempty"`
}

// Layer is one file of a backing chain, the image first.
type Layer struct {
	Path        string `json:"path"`
	Format      string `json:"format"`
	VirtualSize int64  `json:"virtual_size"`
}

// PartitionInfo describes one partition.
type PartitionInfo struct {
	Number int    `json:"number"`
	Start  int64  `json:"start"`
	Size   int64  `json:"size"`
	Type   string `json:"type"`
	Name   string `json:"name,omitempty"`
	UUID   string `json:"uuid,omitempty"`
}

// FilesystemInfo describes one filesystem found on the disk.
type FilesystemInfo struct {
	Desc      string `json:"desc"` // "ext4 on partition 2"
	Partition int    `json:"partition"`
	Offset    int64  `json:"offset"`
	Size      int64  `json:"size"`
	Type      string `json:"type"`
	UUID      string `json:"uuid,omitempty"`
	Label     string `json:"label,omitempty"`
	Supported bool   `json:"supported"`
	Writable  bool   `json:"writable"`
	Why       string `json:"why,omitempty"`
	// Note says what the engine did to present the filesystem: "journal
	// replayed in memory (2 transactions, 5 blocks)" when its journal
	// needed recovery and the image was only read.
	Note string `json:"note,omitempty"`
}

// MountInfo is one mount of a guest.
type MountInfo struct {
	Point      string `json:"point"`
	Filesystem string `json:"filesystem"` // FilesystemInfo.Desc
	Spec       string `json:"spec,omitempty"`
	// Bind is the guest directory a bind mount shows at Point.
	Bind string `json:"bind,omitempty"`
}
