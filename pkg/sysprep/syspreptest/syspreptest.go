package syspreptest

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/imgprep/imgprep/pkg/fs/memfs"
	"github.com/imgprep/imgprep/pkg/sysprep"
)

// ErrNoImage is returned when the backend has no image at a path.
var ErrNoImage = errors.New("syspreptest: no such image")

// Guest describes one guest of an image.
type Guest struct {
	Root      string
	OSRelease map[string]string
	Mounts    []sysprep.MountInfo
	FS        *memfs.FS
	// Warnings are the guest's Warnings (unresolved fstab entries).
	Warnings []string
}

// Image is one in-memory image. Its guests' trees are the committed state;
// each Open works on clones, which Finish(true) makes the new state.
type Image struct {
	Info   sysprep.ImageInfo
	Guests []Guest
	// OpenErr, GuestsErr, SyncErr and FinishErr inject failures.
	OpenErr, GuestsErr, SyncErr, FinishErr error

	mu       sync.Mutex
	Commits  int
	Discards int
	Opens    []sysprep.OpenOptions
}

// Backend maps paths to images.
type Backend struct {
	Images map[string]*Image
}

// Open implements sysprep.Backend.
func (b *Backend) Open(_ context.Context, path string, opts sysprep.OpenOptions) (sysprep.Image, error) {
	img := b.Images[path]
	if img == nil {
		return nil, fmt.Errorf("%w: %s", ErrNoImage, path)
	}
	img.mu.Lock()
	defer img.mu.Unlock()
	img.Opens = append(img.Opens, opts)
	if img.OpenErr != nil {
		return nil, img.OpenErr
	}
	s := &session{img: img, writable: opts.Write || opts.DryRun}
	for _, g := range img.Guests {
		c := g.FS.Clone()
		c.ReadOnly = !s.writable
		s.guests = append(s.guests, &guest{FS: c, desc: g})
	}
	return s, nil
}

type session struct {
	img      *Image
	writable bool
	guests   []*guest
}

func (s *session) Info() sysprep.ImageInfo { return s.img.Info }

func (s *session) Guests() ([]sysprep.Guest, error) {
	if s.img.GuestsErr != nil {
		return nil, s.img.GuestsErr
	}
	var out []sysprep.Guest
	for _, g := range s.guests {
		out = append(out, g)
	}
	return out, nil
}

// Finish counts 4096 staged bytes per guest whose tree changed.
func (s *session) Finish(commit bool) (int64, error) {
	s.img.mu.Lock()
	defer s.img.mu.Unlock()
	var staged int64
	for i, g := range s.guests {
		if !equalTrees(s.img.Guests[i].FS, g.FS) {
			staged += 4096
		}
	}
	if commit && s.img.FinishErr != nil {
		s.img.Discards++
		return 0, s.img.FinishErr
	}
	if !commit {
		s.img.Discards++
		return staged, nil
	}
	s.img.Commits++
	for i, g := range s.guests {
		c := g.FS.Clone()
		c.ReadOnly = false
		s.img.Guests[i].FS = c
	}
	return staged, nil
}

func (s *session) Close() error { return nil }

type guest struct {
	*memfs.FS
	desc Guest
}

func (g *guest) Root() string                 { return g.desc.Root }
func (g *guest) Mounts() []sysprep.MountInfo  { return g.desc.Mounts }
func (g *guest) OSRelease() map[string]string { return g.desc.OSRelease }
func (g *guest) Sync() error                  { return nil }
func (g *guest) Warnings() []string           { return g.desc.Warnings }

var _ sysprep.Guest = (*guest)(nil)
