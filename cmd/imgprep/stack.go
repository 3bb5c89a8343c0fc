package main

import (
	"errors"

	"github.com/imgprep/imgprep/pkg/guest"
	"github.com/imgprep/imgprep/pkg/image"
	"github.com/imgprep/imgprep/pkg/sysprep"
)

// stackBackend is the real disk stack (pkg/image under pkg/guest).
func stackBackend() sysprep.Backend { return sysprep.Stack{} }

// stackRecover rolls back an interrupted run (image.Recover).
func stackRecover(path string, journal image.JournalOptions) (bool, error) {
	return sysprep.Recover(path, journal)
}

// hintLower gives hints for errors of the disk layers.
func hintLower(err error) string {
	switch {
	case errors.Is(err, guest.ErrUnsupportedFS):
		return "imgprep cannot change that filesystem; nothing was written. Use --operations to skip the operations that touch it, or virt-sysprep for this image"
	case errors.Is(err, image.ErrBackingOutsideTree):
		return "if you trust that backing file, allow its directory tree with --allow-backing DIR (or name the template on the same command line); nothing was written"
	case errors.Is(err, guest.ErrUnresolvedMount):
		return "the guest's fstab mounts a filesystem that is not on this disk; nothing was written"
	}
	return ""
}
