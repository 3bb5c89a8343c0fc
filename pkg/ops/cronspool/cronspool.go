package cronspool

import (
	"context"

	"github.com/imgprep/imgprep/pkg/ops"
	"github.com/imgprep/imgprep/pkg/ops/internal/pathop"
)

// ATSeq is what cron-spool resets at's .SEQ files to.
const ATSeq = "00000\n"

// Op is the cron-spool operation.
type Op struct{}

var _ ops.Operation = Op{}

// Name implements ops.Operation.
func (Op) Name() string { return "cron-spool" }

// Description implements ops.Operation.
func (Op) Description() string { return "Remove user at-jobs and cron-jobs" }

// Default implements ops.Operation.
func (Op) Default() bool { return true }

// Apply implements ops.Operation.
func (c Op) Apply(ctx context.Context, g ops.Guest) ([]ops.Change, error) {
	s := pathop.NewSession(ctx, g, c.Name())
	if err := s.Err(); err != nil {
		return nil, err
	}
	isSeq := func(name string) bool { return name == ".SEQ" }
	steps := []func() error{
		func() error { return s.RemoveFilesBelow("/var/spool/cron", isSeq) },
		func() error { return resetSeq(s, "/var/spool/cron/atjobs/.SEQ") },
		func() error { return s.ApplyRule(pathop.Rule{Glob: "/var/spool/atjobs/*", Kind: pathop.RemoveNonDir}) },
		func() error { return resetSeq(s, "/var/spool/atjobs/.SEQ") },
		func() error { return s.ApplyRule(pathop.Rule{Glob: "/var/spool/atspool/*", Kind: pathop.RemoveNonDir}) },
		func() error { return s.RemoveFilesBelow("/var/spool/at", isSeq) },
		func() error { return resetSeq(s, "/var/spool/at/.SEQ") },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return s.Result(nil)
}

func resetSeq(s *pathop.Session, p string) error {
	return s.Rewrite(p, func([]byte) ([]byte, string) { return []byte(ATSeq), "reset to 00000" })
}
