package guest

import (
	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/fs/btrfs"
	"github.com/imgprep/imgprep/pkg/fs/ext4"
	"github.com/imgprep/imgprep/pkg/fs/vfat"
	"github.com/imgprep/imgprep/pkg/fs/xfs"
	"github.com/imgprep/imgprep/pkg/partition"
)

// openBuiltinEngine opens ext2/3/4 with pkg/fs/ext4, for writing when
// asked and the engine agrees, read-only otherwise; vfat with pkg/fs/vfat
// (whose writing covers removal, truncation and rewriting existing
// files); xfs with pkg/fs/xfs, read-only, its Why saying why it cannot be
// written (a dirty log, a feature, or no xfs writer yet); btrfs read-only
// with pkg/fs/btrfs. Every other type gets no engine.
func openBuiltinEngine(f *Filesystem, dev partition.ReaderWriterAt, size int64, opts Options) (fs.FS, bool, string, error) {
	switch f.Type {
	case TypeExt2, TypeExt3, TypeExt4:
	case TypeBtrfs:
		// Read only: the default subvolume; fstab's subvol= options get
		// views of their own (btrfs.go).
		b, err := btrfs.OpenOptions(dev, size, btrfs.Options{Name: fsName(f, opts)})
		if err != nil {
			return nil, false, err.Error(), err
		}
		return b, false, withNote(unsupportedWhy(TypeBtrfs), b), nil
	case TypeVFAT:
		if opts.Writable {
			v, err := vfat.OpenWritable(dev, size, vfat.Options{Now: opts.Now})
			if err != nil {
				return nil, false, err.Error(), err
			}
			return v, true, "", nil
		}
		v, err := vfat.Open(dev, size)
		if err != nil {
			return nil, false, err.Error(), err
		}
		return v, false, "image opened read-only", nil
	case TypeXFS:
		x, err := xfs.Open(dev, size, xfs.Options{Name: fsName(f, opts)})
		if err != nil {
			return nil, false, err.Error(), err
		}
		if opts.Writable {
			w, err := xfs.OpenWritable(dev, size, xfs.Options{Name: fsName(f, opts), Now: opts.Now})
			if err == nil {
				return w, true, "", nil
			}
			return x, false, withNote(err.Error(), x), nil
		}
		return x, false, withNote("image opened read-only", x), nil
	default:
		return nil, false, unsupportedWhy(f.Type), nil
	}
	name := fsName(f, opts)
	if opts.Writable {
		w, err := ext4.OpenWritable(dev, size, ext4.Options{Name: name, Now: opts.Now})
		if err == nil {
			return w, true, "", nil
		}
		r, rerr := ext4.Open(dev, size)
		if rerr != nil {
			return nil, false, rerr.Error(), rerr
		}
		f.refused = err
		return r, false, withNote(err.Error(), r), nil
	}
	r, err := ext4.Open(dev, size)
	if err != nil {
		return nil, false, err.Error(), err
	}
	return r, false, withNote("image opened read-only", r), nil
}

// fsName names filesystem f in an engine's errors: "ext4 on partition 2
// of disk.img".
func fsName(f *Filesystem, opts Options) string {
	name := f.Desc()
	if opts.Name != "" {
		name += " of " + opts.Name
	}
	return name
}

// withNote adds what the engine did to present the filesystem (a journal
// replayed in memory) to why it is read-only.
func withNote(why string, f fs.FS) string {
	if n := f.Info().Note; n != "" {
		return why + "; " + n
	}
	return why
}

// writableType reports whether imgprep has a write engine for type t.
func writableType(t string) bool {
	return t == TypeExt2 || t == TypeExt3 || t == TypeExt4 || t == TypeVFAT
}
