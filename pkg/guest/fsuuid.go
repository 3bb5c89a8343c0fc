package guest

import (
	"errors"
	"fmt"
	"io"

	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/fs/vfat"
)

// FSUUIDChange is what ChangeFilesystemUUIDs did to one filesystem the
// guest mounts: its UUID went from Old to New (as blkid prints them), or
// it was left alone, and Why says why.
type FSUUIDChange struct {
	Point      string // where the guest mounts it: "/", "/boot/efi"
	Filesystem string // "ext4 on partition 2"
	Old, New   string
	Why        string // set when the UUID was not changed
}

// ChangeFilesystemUUIDs gives every filesystem the guest mounts a new
// random UUID drawn from r (crypto/rand when nil), through the engine's
// fs.UUIDSetter, once per layout: a filesystem two guests share, or a
// second call, keeps the UUID it was given first. A filesystem that
// cannot take one (read-only, an engine without fs.UUIDSetter, a FAT
// without a volume ID) is returned with Why and left alone. The layout's
// record of the filesystem's UUID follows.
func (g *Guest) ChangeFilesystemUUIDs(r io.Reader) ([]FSUUIDChange, error) {
	l := g.layout
	if !l.opts.Writable {
		return nil, ErrReadOnly
	}
	var out []FSUUIDChange
	seen := map[*Filesystem]bool{}
	for _, m := range g.mounts {
		f := m.FS
		if seen[f] {
			continue
		}
		seen[f] = true
		if done, ok := l.fsUUIDs[f]; ok {
			done.Point = m.Point
			out = append(out, done)
			continue
		}
		c := FSUUIDChange{Point: m.Point, Filesystem: f.Desc(), Old: f.UUID}
		setter, ok := f.FS.(fs.UUIDSetter)
		switch {
		case !f.Writable:
			c.Why = "not writable: " + f.Why
		case !ok:
			c.Why = "imgprep cannot change the UUID of " + f.Type
		}
		if c.Why != "" {
			out = append(out, c)
			continue
		}
		old, new, err := setter.SetRandomUUID(r)
		if errors.Is(err, vfat.ErrNoVolumeID) {
			c.Why = "a FAT without a volume ID"
			out = append(out, c)
			continue
		}
		if err != nil {
			return out, fmt.Errorf("%s (%s): new UUID: %w", f.Desc(), m.Point, err)
		}
		c.Old, c.New = old, new
		f.UUID = new
		if l.fsUUIDs == nil {
			l.fsUUIDs = map[*Filesystem]FSUUIDChange{}
		}
		l.fsUUIDs[f] = c
		out = append(out, c)
	}
	return out, nil
}
