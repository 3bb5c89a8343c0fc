package ext4

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"

	"github.com/google/uuid"

	"github.com/imgprep/imgprep/pkg/fs"
)

var _ fs.UUIDSetter = (*FS)(nil)

// ErrSameUUID: the UUID drawn is the filesystem's own, or all zeros (a
// broken random source).
var ErrSameUUID = errors.New("ext4: the new UUID is zero or the current one")

// SetRandomUUID implements fs.UUIDSetter: a random (version 4) UUID from
// r, crypto/rand when nil, as tune2fs -U random draws it.
func (f *FS) SetRandomUUID(r io.Reader) (old, new string, err error) {
	if r == nil {
		r = rand.Reader
	}
	var u [16]byte
	if _, err := io.ReadFull(r, u[:]); err != nil {
		return "", "", fmt.Errorf("ext4: drawing a UUID: %w", err)
	}
	u[6] = u[6]&0x0F | 0x40 // version 4
	u[8] = u[8]&0x3F | 0x80 // RFC 4122 variant
	return f.SetUUID(u)
}

// SetUUID gives the filesystem the UUID u as tune2fs -U does, touching as
// little as it can:
//   - with metadata_csum, every checksum is seeded from the UUID unless
//     the metadata_csum_seed feature stores the seed. When it is missing
//     it is set, with the seed of the old UUID in s_checksum_seed (what
//     tune2fs -O metadata_csum_seed does), so no checksum changes and only
//     the superblock is written;
//   - with gdt_csum (uninit_bg) the group descriptor checksums cover the
//     UUID: every descriptor is rewritten, as tune2fs does;
//   - otherwise only the superblock changes.
//
// The backup superblocks and descriptors are left as they are: each
// stays consistent with itself (the old UUID, the checksums it seeds), as
// after the kernel's own writes. The internal journal's superblock keeps
// the UUID mkfs gave it, as tune2fs leaves it: jbd2 seeds its checksums
// from it. It returns the old and new UUIDs in blkid's form.
func (f *FS) SetUUID(u [16]byte) (old, new string, err error) {
	if f.w == nil {
		return "", "", f.roError()
	}
	if u == [16]byte{} || u == f.sb.UUID {
		return "", "", ErrSameUUID
	}
	old = uuid.UUID(f.sb.UUID).String()
	if f.metadataCsum && f.sb.FeatureIncompat&incompatCsumSeed == 0 {
		f.sb.FeatureIncompat |= incompatCsumSeed
		f.sb.ChecksumSeed = f.csumSeed
	}
	f.sb.UUID = u
	f.sbDirty = true
	if f.gdtCsum {
		for g := range f.groups {
			f.gdDirty[g] = true
		}
	}
	return old, uuid.UUID(u).String(), nil
}
