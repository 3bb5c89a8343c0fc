package sysprep

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/imgprep/imgprep/pkg/guest"
	"github.com/imgprep/imgprep/pkg/image"
)

// Stack is the real Backend: pkg/image opens the file (QEMU locks, a
// pkg/txn transaction for writes), pkg/guest scans the disk and assembles
// the guests.
type Stack struct {
	// Now is the clock the filesystem engines stamp changes with;
	// time.Now when nil.
	Now func() time.Time
	// OpenImage opens each disk; image.Open when nil. A caller with its
	// own storage (a test's fault-injecting doubles) opens the file
	// itself and hands it to image.OpenFile.
	OpenImage func(path string, opts image.OpenOptions) (*image.Handle, error)
}

// Open implements Backend. With o.Disks it opens every disk and joins
// them into one machine (guest.Join).
func (s Stack) Open(ctx context.Context, path string, o OpenOptions) (Image, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	writable := o.Write || o.DryRun
	img := &stackImage{writable: writable}
	paths := append([]string{path}, o.Disks...)
	var layouts []*guest.Layout
	open := s.OpenImage
	if open == nil {
		open = image.Open
	}
	io := o.OpenOptions
	io.ForceShare = o.ForceShare && !o.Write && !o.DryRun
	io.Fresh = o.Fresh && o.Write
	for _, p := range paths {
		h, err := open(p, io)
		if err != nil {
			img.Close()
			return nil, err
		}
		img.hs = append(img.hs, h)
		layout, err := guest.Scan(h, guest.Options{Name: filepath.Base(p), Writable: writable, Now: s.Now})
		if err != nil {
			img.Close()
			return nil, &image.Error{Image: p, Err: err}
		}
		layouts = append(layouts, layout)
	}
	joined, err := guest.Join(diskNames(paths), layouts...)
	if err != nil {
		img.Close()
		return nil, err
	}
	img.layout = joined
	return img, nil
}

// diskNames names each disk in descriptions by its base name, or by the
// path as given when two disks share a base name.
func diskNames(paths []string) []string {
	names := make([]string, len(paths))
	count := map[string]int{}
	for _, p := range paths {
		count[filepath.Base(p)]++
	}
	for i, p := range paths {
		names[i] = filepath.Base(p)
		if count[names[i]] > 1 {
			names[i] = p
		}
	}
	return names
}

// stackImage is the images of one machine: one, or several disks joined.
type stackImage struct {
	hs       []*image.Handle
	layout   *guest.Layout
	writable bool
	done     bool
}

func (s *stackImage) Info() ImageInfo {
	info := s.diskInfo(0)
	for i := 1; i < len(s.hs); i++ {
		info.Disks = append(info.Disks, s.diskInfo(i))
	}
	for _, vg := range s.layout.VolumeGroups() {
		info.VolumeGroups = append(info.VolumeGroups, VolumeGroupInfo{Name: vg.Name, UUID: vg.UUID(), Seqno: vg.Seqno, Missing: vg.Missing})
	}
	return info
}

// diskInfo describes disk i and the filesystems found on it.
func (s *stackImage) diskInfo(i int) ImageInfo {
	h := s.hs[i]
	info := ImageInfo{Format: h.Format(), VirtualSize: h.Size(), Chain: []Layer{}, Partitions: []PartitionInfo{}, Filesystems: []FilesystemInfo{}}
	for _, l := range h.Chain() {
		info.Chain = append(info.Chain, Layer{Path: l.Path, Format: l.Format, VirtualSize: l.VirtualSize})
	}
	if t := s.layout.DiskTable(i); t != nil {
		info.Table, info.DiskUUID = t.Kind, t.DiskUUID
		for _, p := range t.Partitions {
			info.Partitions = append(info.Partitions, PartitionInfo{Number: p.Number, Start: p.Start, Size: p.Size, Type: p.Type, Name: p.Name, UUID: p.UUID})
		}
	}
	for _, f := range s.layout.Filesystems {
		if f.Disk != i {
			continue
		}
		fi := FilesystemInfo{Desc: f.Desc(), Partition: f.Partition, Offset: f.Offset, Size: f.Size, Type: f.Type,
			UUID: f.UUID, Label: f.Label, Supported: f.FS != nil, Writable: f.Writable, Why: f.Why}
		if f.Err != nil {
			fi.Why = f.Err.Error()
		}
		if f.FS != nil {
			fi.Note = f.FS.Info().Note
		}
		info.Filesystems = append(info.Filesystems, fi)
	}
	if others := h.Others(); others.Writing() {
		info.Notes = append(info.Notes, "another process is writing it (QEMU "+others.String()+
			"): read anyway, as qemu-img -U does, so what it is changing may read inconsistently")
	}
	return info
}

func (s *stackImage) Guests() ([]Guest, error) {
	gs, err := s.layout.Guests()
	if errors.Is(err, guest.ErrNoGuest) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]Guest, 0, len(gs))
	for _, g := range gs {
		out = append(out, stackGuest{g})
	}
	return out, nil
}

// Finish flushes every disk, then commits them: one disk with its own
// transaction, several in two phases (every disk prepared, then every one
// committed; when one fails to prepare, those prepared are rolled back and
// the others discarded, so no disk changes).
func (s *stackImage) Finish(commit bool) (int64, error) {
	if !s.writable || s.done {
		return 0, nil
	}
	s.done = true
	var staged int64
	for _, h := range s.hs {
		if err := h.Flush(); err != nil {
			s.discard()
			return 0, &image.Error{Image: h.Path(), Err: fmt.Errorf("flushing the image: %w", err)}
		}
		for _, r := range h.Staged() {
			staged += r.Length
		}
	}
	if !commit {
		s.discard()
		return staged, nil
	}
	if len(s.hs) == 1 {
		if err := s.hs[0].Commit(); err != nil {
			return 0, err
		}
		return staged, nil
	}
	for i, h := range s.hs {
		if err := h.Prepare(); err != nil {
			for _, p := range s.hs[:i] {
				if rerr := p.Rollback(); rerr != nil {
					err = fmt.Errorf("%w; and rolling back %s: %w", err, p.Path(), rerr)
				}
			}
			for _, d := range s.hs[i+1:] {
				d.Discard()
			}
			return 0, fmt.Errorf("%w (no disk was changed)", err)
		}
	}
	for i, h := range s.hs {
		if err := h.Commit(); err != nil {
			if i == 0 {
				for _, p := range s.hs[1:] {
					p.Rollback()
				}
				return 0, fmt.Errorf("%w (no disk was changed)", err)
			}
			return 0, fmt.Errorf("%w; the disks before it were committed", err)
		}
	}
	return staged, nil
}

func (s *stackImage) discard() {
	for _, h := range s.hs {
		h.Discard()
	}
}

func (s *stackImage) Close() error {
	if s.writable && !s.done {
		s.done = true
		s.discard()
	}
	var first error
	for _, h := range s.hs {
		if err := h.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// stackGuest adapts *guest.Guest to Guest.
type stackGuest struct {
	*guest.Guest
}

func (g stackGuest) Root() string { return g.Guest.Root().Desc() }

// Warnings names each fstab entry whose filesystem is not on the disk,
// and each the guest does not mount at boot (noauto), whose files are
// left as they are.
func (g stackGuest) Warnings() []string {
	var out []string
	for _, u := range g.Guest.Unresolved() {
		out = append(out, "fstab mounts "+u.Point+" from "+u.Spec+", which is missing: "+u.Reason)
	}
	for _, u := range g.Guest.Unmounted() {
		out = append(out, "fstab names "+u.Point+" ("+u.Spec+") but the guest does not mount it at boot ("+u.Reason+"): not prepared")
	}
	return out
}

func (g stackGuest) Mounts() []MountInfo {
	var out []MountInfo
	for _, m := range g.Guest.Mounts() {
		out = append(out, MountInfo{Point: m.Point, Filesystem: m.FS.Desc(), Spec: m.Spec, Bind: m.Bind})
	}
	return out
}

// Recover rolls back the journal an interrupted run left in the image at
// path; journal says where the journal is (a --journal-dir).
func Recover(path string, journal image.JournalOptions) (rolledBack bool, err error) {
	return image.Recover(path, image.RecoverOptions{Journal: journal})
}
