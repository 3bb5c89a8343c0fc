// Package ops defines imgprep's Operation interface: one named, pluggable
// change to a guest (emptying /etc/machine-id, removing Netdata's identity,
// …). The operations that only remove or truncate paths are rows of one
// table (pkg/ops/pathops); each that is code of its own lives in its own
// package below pkg/ops; pkg/ops/catalog lists them all. There is no init()
// registration.
package ops

import (
	"context"

	"github.com/imgprep/imgprep/pkg/fs"
)

// Guest is what an operation sees: the guest's whole file tree, addressed by
// guest paths ("/var/lib/netdata/…") with mount points crossed and symlinks
// resolved inside the guest, as pkg/guest assembles it.
type Guest interface {
	fs.WriteTree
	// Where names the filesystem that holds path, for reports:
	// "ext4 on partition 3 (/var)". It does not follow a final symlink.
	Where(path string) (string, error)
}

// Action says what an operation did to a path.
type Action string

// Actions.
const (
	Removed   Action = "removed"
	Truncated Action = "truncated"
	Written   Action = "written"
	Created   Action = "created"
	Edited    Action = "edited"
	// NewUUID: the filesystem mounted at Path got a new UUID; Detail
	// says which. No file changed.
	NewUUID Action = "new-uuid"
)

// Change is one path an operation changed.
type Change struct {
	Path       string `json:"path"`
	Action     Action `json:"action"`
	Filesystem string `json:"filesystem"`
	// Detail is an optional human note ("12 files", "2 lines removed").
	// It never holds a secret from the guest.
	Detail string `json:"detail,omitempty"`
}

// Operation is one pluggable change to a guest.
type Operation interface {
	// Name is the operation's name, virt-sysprep's where it has one.
	Name() string
	// Description is one line for list-operations.
	Description() string
	// Default reports whether the operation runs when none are named.
	Default() bool
	// Apply changes the guest and returns every path it changed. A path
	// the operation targets but the guest lacks is not an error.
	Apply(ctx context.Context, g Guest) ([]Change, error)
}
