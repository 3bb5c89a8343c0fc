package pathop

import (
	"context"
	"path"

	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/ops"
)

// Kind says what a Rule does to each path its glob matches.
type Kind int

// Kinds.
const (
	// RemoveAll removes each match, a directory with its contents
	// (g#rm_rf).
	RemoveAll Kind = iota
	// RemoveNonDir removes each match that is not a directory (g#rm,
	// g#rm_f: a directory makes them fail, and virt-sysprep ignores that).
	RemoveNonDir
	// RemoveFilesBelow removes the regular files below each match and
	// keeps the directories (rm_rf_only_files).
	RemoveFilesBelow
)

// Rule is one glob of an operation and what happens to its matches.
type Rule struct {
	Glob string
	Kind Kind
	// Except lists matches that are kept.
	Except []string
	// Keep, for RemoveFilesBelow, keeps the files whose base name it
	// accepts.
	Keep func(name string) bool
	// NotSymlinks leaves matches that are symlinks alone.
	NotSymlinks bool
}

// Spec describes a table-driven operation.
type Spec struct {
	Name        string
	Description string
	Default     bool
	Rules       []Rule
}

// Op is an operation that applies its Spec's rules in order, expanding
// each glob only when its turn comes (so a path already removed by an
// earlier rule is not reported twice).
type Op struct{ spec Spec }

// New returns the operation described by spec.
func New(spec Spec) *Op { return &Op{spec: spec} }

var _ ops.Operation = (*Op)(nil)

// Name implements ops.Operation.
func (o *Op) Name() string { return o.spec.Name }

// Description implements ops.Operation.
func (o *Op) Description() string { return o.spec.Description }

// Default implements ops.Operation.
func (o *Op) Default() bool { return o.spec.Default }

// Rules returns the operation's rules.
func (o *Op) Rules() []Rule { return append([]Rule(nil), o.spec.Rules...) }

// Apply implements ops.Operation.
func (o *Op) Apply(ctx context.Context, g ops.Guest) ([]ops.Change, error) {
	s := NewSession(ctx, g, o.spec.Name)
	if err := s.Err(); err != nil {
		return nil, err
	}
	return s.Result(s.ApplyRules(o.spec.Rules))
}

// ApplyRules applies rules in order.
func (s *Session) ApplyRules(rules []Rule) error {
	for _, r := range rules {
		if err := s.ApplyRule(r); err != nil {
			return err
		}
	}
	return nil
}

// ApplyRule applies one rule.
func (s *Session) ApplyRule(r Rule) error {
	matches, err := s.Glob(r.Glob)
	if err != nil {
		return err
	}
	for _, m := range matches {
		if except(m, r.Except) {
			continue
		}
		if r.NotSymlinks {
			a, ok, err := s.Lstat(m)
			if err != nil {
				return err
			}
			if !ok || a.Type() == fs.TypeSymlink {
				continue
			}
		}
		switch r.Kind {
		case RemoveAll:
			err = s.Remove(m, false)
		case RemoveNonDir:
			err = s.Remove(m, true)
		case RemoveFilesBelow:
			err = s.RemoveFilesBelow(m, r.Keep)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func except(p string, list []string) bool {
	for _, e := range list {
		if path.Clean(e) == p {
			return true
		}
	}
	return false
}

// Globs returns rules of one kind for each glob.
func Globs(kind Kind, globs ...string) []Rule {
	out := make([]Rule, 0, len(globs))
	for _, g := range globs {
		out = append(out, Rule{Glob: g, Kind: kind})
	}
	return out
}
