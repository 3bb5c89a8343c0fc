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
	// Inject is for fault-injection tests only (image.Injection): test
	// doubles under the image file and its journal. Nil in production.
	Inject *image.Injection
}

// Open implements Backend.
func (s Stack) Open(ctx context.Context, path string, o OpenOptions) (Image, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	h, err := image.Open(path, image.OpenOptions{
		Format: o.Format, Write: o.Write, DryRun: o.DryRun,
		AllowBacking: o.AllowBacking, BackingFormat: o.BackingFormat,
		ForceShare: o.ForceShare && !o.Write && !o.DryRun,
		Inject:     s.Inject,
	})
	if err != nil {
		return nil, err
	}
	writable := o.Write || o.DryRun
	layout, err := guest.Scan(h, guest.Options{Name: filepath.Base(path), Writable: writable, Now: s.Now})
	if err != nil {
		if writable {
			h.Discard()
		}
		h.Close()
		return nil, &image.Error{Image: path, Err: err}
	}
	return &stackImage{h: h, layout: layout, writable: writable}, nil
}

type stackImage struct {
	h        *image.Handle
	layout   *guest.Layout
	writable bool
	done     bool
}

func (s *stackImage) Info() ImageInfo {
	info := ImageInfo{Format: s.h.Format(), VirtualSize: s.h.Size(), Chain: []Layer{}, Partitions: []PartitionInfo{}, Filesystems: []FilesystemInfo{}}
	for _, l := range s.h.Chain() {
		info.Chain = append(info.Chain, Layer{Path: l.Path, Format: l.Format, VirtualSize: l.VirtualSize})
	}
	if t := s.layout.Table; t != nil {
		info.Table, info.DiskUUID = t.Kind, t.DiskUUID
		for _, p := range t.Partitions {
			info.Partitions = append(info.Partitions, PartitionInfo{Number: p.Number, Start: p.Start, Size: p.Size, Type: p.Type, Name: p.Name, UUID: p.UUID})
		}
	}
	for _, f := range s.layout.Filesystems {
		fi := FilesystemInfo{Desc: f.Desc(), Partition: f.Partition, Offset: f.Offset, Size: f.Size, Type: f.Type,
			UUID: f.UUID, Label: f.Label, Supported: f.FS != nil, Writable: f.Writable, Why: f.Why}
		if f.Err != nil {
			fi.Why = f.Err.Error()
		}
		info.Filesystems = append(info.Filesystems, fi)
	}
	if others := s.h.Others(); others.Writing() {
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

func (s *stackImage) Finish(commit bool) (int64, error) {
	if !s.writable || s.done {
		return 0, nil
	}
	s.done = true
	if err := s.h.Flush(); err != nil {
		s.h.Discard()
		return 0, fmt.Errorf("flushing the image: %w", err)
	}
	var staged int64
	for _, r := range s.h.Staged() {
		staged += r.Length
	}
	if !commit {
		s.h.Discard()
		return staged, nil
	}
	if err := s.h.Commit(); err != nil {
		return 0, err
	}
	return staged, nil
}

func (s *stackImage) Close() error {
	if s.writable && !s.done {
		s.done = true
		s.h.Discard()
	}
	return s.h.Close()
}

// stackGuest adapts *guest.Guest to Guest.
type stackGuest struct {
	*guest.Guest
}

func (g stackGuest) Root() string { return g.Guest.Root().Desc() }

// Warnings names each fstab entry whose filesystem is not on the disk.
func (g stackGuest) Warnings() []string {
	var out []string
	for _, u := range g.Guest.Unresolved() {
		out = append(out, "fstab mounts "+u.Point+" from "+u.Spec+", which is missing ("+u.Reason+")")
	}
	return out
}

func (g stackGuest) Mounts() []MountInfo {
	var out []MountInfo
	for _, m := range g.Guest.Mounts() {
		out = append(out, MountInfo{Point: m.Point, Filesystem: m.FS.Desc(), Spec: m.Spec})
	}
	return out
}

// Recover rolls back the journal an interrupted run left in the image at
// path.
func Recover(path string) (rolledBack bool, err error) { return image.Recover(path) }
