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
// As tune2fs (ext2fs_flush) does, Sync then gives every backup superblock
// the same UUID, features and seed, and with gdt_csum copies the rewritten
// descriptors over their backups, so that e2fsck -b finds a consistent
// filesystem with the new UUID. The internal journal's superblock keeps
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
	f.uuidBackups = true
	if f.gdtCsum {
		for g := range f.groups {
			f.gdDirty[g] = true
		}
	}
	return old, uuid.UUID(u).String(), nil
}

// writeUUIDBackups gives each backup superblock the primary's UUID,
// incompat features and checksum seed (other fields, such as the free
// counts a backup records, stay as they are), and with gdt_csum copies
// the primary descriptor blocks over their backups, whose checksums cover
// the UUID. A backup that does not carry the superblock magic and its own
// group number is left alone.
func (f *FS) writeUUIDBackups() error {
	raw := make([]byte, superblockSize)
	for g := uint32(1); g < f.groups; g++ {
		if !f.hasSuper(g) {
			continue
		}
		off := int64(f.groupFirstBlock(g)) * f.blockSize
		if _, err := f.r.ReadAt(raw, off); err != nil {
			return fmt.Errorf("ext4: reading the backup superblock of group %d: %w", g, err)
		}
		var b Superblock
		decode(raw, &b)
		if b.Magic != superMagic || uint32(b.BlockGroupNr) != g {
			continue
		}
		b.UUID = f.sb.UUID
		b.FeatureIncompat = b.FeatureIncompat&^incompatCsumSeed | f.sb.FeatureIncompat&incompatCsumSeed
		b.ChecksumSeed = f.sb.ChecksumSeed
		encode(raw, &b)
		if f.metadataCsum {
			le.PutUint32(raw[sbChecksumOffset:], sbChecksum(raw))
		}
		if err := f.writeAt(raw, off); err != nil {
			return err
		}
	}
	if !f.gdtCsum {
		return nil
	}
	blk := make([]byte, f.blockSize)
	for i := range f.descBlocks() {
		if err := f.readBlock(f.gdtBlock(i), blk); err != nil {
			return err
		}
		for _, b := range f.descBackups(i) {
			if err := f.writeBlock(b, blk); err != nil {
				return err
			}
		}
	}
	return nil
}

// descBackups lists the blocks holding backup copies of descriptor block
// i: after each backup superblock, or with meta_bg in the second and last
// group of its meta group (ext2fs_super_and_bgd_loc2).
func (f *FS) descBackups(i uint32) []uint64 {
	var out []uint64
	if f.sb.FeatureIncompat&incompatMetaBG == 0 || i < f.sb.FirstMetaBg {
		for g := uint32(1); g < f.groups; g++ {
			if f.hasSuper(g) {
				out = append(out, f.groupFirstBlock(g)+1+uint64(i))
			}
		}
		return out
	}
	first := uint64(i) * uint64(f.descPerBlock)
	for _, g := range []uint64{first + 1, first + uint64(f.descPerBlock) - 1} {
		if g >= uint64(f.groups) || g == first {
			continue
		}
		b := f.groupFirstBlock(uint32(g))
		if f.hasSuper(uint32(g)) {
			b++
		}
		out = append(out, b)
	}
	return out
}
