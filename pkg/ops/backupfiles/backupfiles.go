package backupfiles

import (
	"context"
	"path"

	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/ops"
	"github.com/imgprep/imgprep/pkg/ops/internal/pathop"
)

// Dirs are the trees backup-files searches, and Globs the names it
// removes there.
var (
	Dirs  = []string{"/etc", "/root", "/srv", "/tmp", "/var"}
	Globs = []string{"*.bak", "*~"}
)

// Op is the backup-files operation: regular files named *.bak
// or *~ anywhere below Dirs (dotfiles included; a symlinked top
// directory and symlinks below are not followed; mount points are
// crossed).
type Op struct{}

var _ ops.Operation = Op{}

// Name implements ops.Operation.
func (Op) Name() string { return "backup-files" }

// Description implements ops.Operation.
func (Op) Description() string { return "Remove editor backup files from the guest" }

// Default implements ops.Operation.
func (Op) Default() bool { return true }

// Apply implements ops.Operation.
func (b Op) Apply(ctx context.Context, g ops.Guest) ([]ops.Change, error) {
	s := pathop.NewSession(ctx, g, b.Name())
	if err := s.Err(); err != nil {
		return nil, err
	}
	for _, dir := range Dirs {
		a, ok, err := s.Lstat(dir)
		if err != nil {
			return nil, err
		}
		if !ok || a.Type() != fs.TypeDir {
			continue
		}
		err = s.Walk(dir, func(p string, t fs.FileType) error {
			if t != fs.TypeRegular || !isBackup(path.Base(p)) {
				return nil
			}
			return s.Remove(p, true)
		})
		if err != nil {
			return nil, err
		}
	}
	return s.Result(nil)
}

func isBackup(name string) bool {
	for _, g := range Globs {
		if ok, _ := path.Match(g, name); ok {
			return true
		}
	}
	return false
}
