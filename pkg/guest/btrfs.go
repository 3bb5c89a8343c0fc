package guest

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/imgprep/imgprep/pkg/fs/btrfs"
)

// btrfs subvolumes as the guest mounts them. A btrfs Filesystem's FS is
// the view of its default subvolume (what mount without options shows);
// an fstab entry with subvol= or subvolid= gets a Filesystem of its own
// that shares the partition and presents that subvolume, one per
// (filesystem, subvolume) so that every mount of it is the same value.

// subvolOptions returns the btrfs subvolume options of an fstab entry;
// ok is false when it has none (the default subvolume).
func subvolOptions(e FstabEntry) (btrfs.Options, bool, error) {
	var o btrfs.Options
	ok := false
	for _, opt := range e.Options() {
		k, v, _ := strings.Cut(opt, "=")
		switch k {
		case "subvol":
			o.Subvol, ok = v, true
		case "subvolid":
			id, err := strconv.ParseUint(v, 0, 64)
			if err != nil {
				return o, false, fmt.Errorf("bad subvolid=%q", v)
			}
			o.SubvolID, ok = id, true
		}
	}
	return o, ok, nil
}

// btrfsSubvol returns the filesystem mount shows for entry e on the btrfs
// filesystem f, or why there is none.
func (l *Layout) btrfsSubvol(f *Filesystem, e FstabEntry) (*Filesystem, string) {
	bf, isBtrfs := f.FS.(*btrfs.FS)
	if !isBtrfs {
		return f, ""
	}
	o, ok, err := subvolOptions(e)
	if err != nil {
		return nil, err.Error()
	}
	if !ok {
		return f, ""
	}
	o.Name = f.Desc()
	view, err := bf.Volume().View(o)
	if err != nil {
		return nil, err.Error()
	}
	return l.btrfsFilesystem(f, view), ""
}

// btrfsFilesystem returns the Filesystem presenting view, a subvolume of
// f: f itself for its default subvolume.
func (l *Layout) btrfsFilesystem(f *Filesystem, view *btrfs.FS) *Filesystem {
	if bf, ok := f.FS.(*btrfs.FS); ok && bf.SubvolumeID() == view.SubvolumeID() {
		return f
	}
	if l.btrfsViews == nil {
		l.btrfsViews = map[btrfsViewKey]*Filesystem{}
	}
	k := btrfsViewKey{f, view.SubvolumeID()}
	if v, ok := l.btrfsViews[k]; ok {
		return v
	}
	c := *f
	c.FS = view
	c.Subvolume = view.SubvolumeID()
	l.btrfsViews[k] = &c
	return &c
}

type btrfsViewKey struct {
	f  *Filesystem
	id uint64
}

// rootCandidates returns the filesystems of f that may hold a guest root:
// f itself, and for btrfs whose default subvolume has no /etc/fstab every
// subvolume that has one (Fedora keeps its root in subvolume "root" below
// the top level).
func (l *Layout) rootCandidates(f *Filesystem) []*Filesystem {
	bf, ok := f.FS.(*btrfs.FS)
	if !ok {
		return []*Filesystem{f}
	}
	if _, err := bf.Lstat("/etc/fstab"); err == nil {
		return []*Filesystem{f}
	}
	subs, err := bf.Volume().Subvolumes()
	if err != nil {
		return []*Filesystem{f}
	}
	out := []*Filesystem{}
	for _, s := range subs {
		if s.ID == bf.SubvolumeID() {
			continue
		}
		view, err := bf.Volume().View(btrfs.Options{SubvolID: s.ID, Name: f.Desc()})
		if err != nil {
			continue
		}
		if _, err := view.Lstat("/etc/fstab"); err == nil {
			out = append(out, l.btrfsFilesystem(f, view))
		}
	}
	if len(out) == 0 {
		return []*Filesystem{f}
	}
	return out
}

// rootSubvolMatches reports whether the fstab entry for "/" mounts the
// subvolume that root presents: a snapshot carrying a copy of the root's
// fstab is not the guest's root.
func (l *Layout) rootSubvolMatches(root *Filesystem, e FstabEntry) bool {
	if _, ok := root.FS.(*btrfs.FS); !ok {
		return true
	}
	base := root
	for k, v := range l.btrfsViews {
		if v == root {
			base = k.f
		}
	}
	got, why := l.btrfsSubvol(base, e)
	return why == "" && got == root
}
