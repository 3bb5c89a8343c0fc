package main

import (
	"errors"
	"fmt"
	"io"
	iofs "io/fs"

	"github.com/imgprep/imgprep/pkg/storage"
	"github.com/imgprep/imgprep/pkg/sysprep"
)

// printError writes err, which names its image, and what to do about it.
func printError(w io.Writer, err error) {
	fmt.Fprintf(w, "imgprep: %s\n", escape(userMessage(err.Error())))
	if h := hint(err); h != "" {
		fmt.Fprintf(w, "  hint: %s\n", h)
	}
}

// hint says what to do about an error, when we know.
func hint(err error) string {
	switch {
	case errors.Is(err, sysprep.ErrNoOS):
		return "no filesystem holds /etc/fstab and an os-release; check it is a VM disk with imgprep inspect IMAGE"
	case errors.Is(err, storage.ErrInUse):
		return "a running VM or tool holds the image; shut it down (or detach the disk) and retry"
	case errors.Is(err, storage.ErrReadOnly), errors.Is(err, iofs.ErrPermission):
		return "the image file is not writable by this user; check its permissions, or use --dry-run"
	case errors.Is(err, iofs.ErrNotExist):
		return "check the image path"
	}
	return hintLower(err)
}
