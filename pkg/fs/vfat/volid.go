package vfat

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/imgprep/imgprep/pkg/fs"
)

var _ fs.UUIDSetter = (*FS)(nil)

// Errors of SetRandomUUID.
var (
	// ErrNoVolumeID: the boot sector has no extended BPB (signature 0x29),
	// so no volume ID to change.
	ErrNoVolumeID = errors.New("vfat: no volume ID (no extended boot signature)")
	// ErrSameVolumeID: the ID drawn is zero or the current one.
	ErrSameVolumeID = errors.New("vfat: the new volume ID is zero or the current one")
)

// volumeID formats BS_VolID as blkid prints it: "1A2B-3C4D".
func volumeID(v uint32) string { return fmt.Sprintf("%04X-%04X", v>>16, v&0xFFFF) }

// SetRandomUUID implements fs.UUIDSetter: a new random volume ID (BS_VolID)
// from r, crypto/rand when nil, as mlabel -n or mkfs.vfat draw one. On
// FAT32 the backup boot sector gets the same ID, so that it still matches
// the boot sector (fsck.fat compares them). The write is immediate (FAT
// has nothing to Sync).
func (f *FS) SetRandomUUID(r io.Reader) (old, new string, err error) {
	if f.w == nil {
		return "", "", ErrReadOnly
	}
	if f.volIDOffset == 0 {
		return "", "", ErrNoVolumeID
	}
	if r == nil {
		r = rand.Reader
	}
	var b [4]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", "", fmt.Errorf("vfat: drawing a volume ID: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	id := binary.LittleEndian.Uint32(b[:])
	if id == 0 || volumeID(id) == f.uuid {
		return "", "", ErrSameVolumeID
	}
	offs := []int64{f.volIDOffset}
	if f.backupOffset != 0 {
		offs = append(offs, f.backupOffset+f.volIDOffset)
	}
	for _, off := range offs {
		if err := f.writeAt(b[:], off); err != nil {
			return "", "", fmt.Errorf("vfat: writing the volume ID: %w", err)
		}
	}
	old, f.uuid = f.uuid, volumeID(id)
	return old, f.uuid, nil
}
