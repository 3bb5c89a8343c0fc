package pacct

import (
	"context"

	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/ops"
	"github.com/imgprep/imgprep/pkg/ops/internal/pathop"
)

// Dirs are where process accounting writes pacct: Red Hat's and
// Debian's.
var Dirs = []string{"/var/account", "/var/log/account"}

// Op is the pacct-log operation: in each of Dirs that exists, the
// rotated pacct.* files go and pacct is left empty. Where virt-sysprep
// removes pacct and creates a new one, Op truncates it in place, so
// its mode, owner and SELinux label stay; it creates an empty pacct
// (0600, root) only when the directory has none.
type Op struct{}

var _ ops.Operation = Op{}

// Name implements ops.Operation.
func (Op) Name() string { return "pacct-log" }

// Description implements ops.Operation.
func (Op) Description() string {
	return "Remove the process accounting log files (pacct is left empty)"
}

// Default implements ops.Operation.
func (Op) Default() bool { return true }

// Apply implements ops.Operation.
func (p Op) Apply(ctx context.Context, g ops.Guest) ([]ops.Change, error) {
	s := pathop.NewSession(ctx, g, p.Name())
	if err := s.Err(); err != nil {
		return nil, err
	}
	return s.Result(p.apply(s))
}

func (Op) apply(s *pathop.Session) error {
	g := s.Guest()
	for _, dir := range Dirs {
		a, err := g.Lstat(dir)
		if err != nil {
			if pathop.Absent(err) {
				continue
			}
			return s.Errorf("%s: %w", dir, err)
		}
		if a.Type() != fs.TypeDir {
			continue
		}
		if err := s.ApplyRule(pathop.Rule{Glob: dir + "/pacct*", Kind: pathop.RemoveNonDir, Except: []string{dir + "/pacct"}}); err != nil {
			return err
		}
		file := dir + "/pacct"
		if _, ok, err := s.Lstat(file); err != nil {
			return err
		} else if ok {
			if err := s.Truncate(file); err != nil {
				return err
			}
			continue
		}
		if err := g.WriteFile(file, nil, fs.WriteOptions{Perm: 0o600}); err != nil {
			return s.Errorf("creating %s: %w", file, err)
		}
		if err := s.Record(file, ops.Created, "empty"); err != nil {
			return err
		}
	}
	return nil
}
