package flagreconf

import (
	"context"

	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/ops"
	"github.com/imgprep/imgprep/pkg/ops/internal/pathop"
)

// Op is the flag-reconfiguration operation (off by
// default): it creates /.unconfigured, which makes the first boot ask for
// the root password, timezone and the like. A tree without /etc is no
// guest root and gets nothing.
type Op struct{}

var _ ops.Operation = Op{}

// Unconfigured is the flag file.
const Unconfigured = "/.unconfigured"

// Name implements ops.Operation.
func (Op) Name() string { return "flag-reconfiguration" }

// Description implements ops.Operation.
func (Op) Description() string { return "Flag the system for reconfiguration" }

// Default implements ops.Operation.
func (Op) Default() bool { return false }

// Apply implements ops.Operation.
func (f Op) Apply(ctx context.Context, g ops.Guest) ([]ops.Change, error) {
	s := pathop.NewSession(ctx, g, f.Name())
	if err := s.Err(); err != nil {
		return nil, err
	}
	if a, err := g.Stat("/etc"); err != nil || a.Type() != fs.TypeDir {
		return nil, nil
	}
	if _, ok, err := s.Lstat(Unconfigured); err != nil || ok {
		return nil, err
	}
	if err := g.WriteFile(Unconfigured, nil, fs.WriteOptions{Perm: 0o644}); err != nil {
		return nil, s.Errorf("creating %s: %w", Unconfigured, err)
	}
	return s.Result(s.Record(Unconfigured, ops.Created, ""))
}
