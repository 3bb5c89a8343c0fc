package cloudinit

import (
	"context"

	"github.com/imgprep/imgprep/pkg/ops"
	"github.com/imgprep/imgprep/pkg/ops/internal/pathop"
)

// Paths.
const (
	CloudDir = "/var/lib/cloud"
	SeedDir  = "/var/lib/cloud/seed"
)

// LogGlobs are cloud-init's logs and their rotations.
var LogGlobs = []string{"/var/log/cloud-init.log*", "/var/log/cloud-init-output.log*"}

// NetworkGlobs are the network configuration files cloud-init renders.
var NetworkGlobs = []string{
	"/etc/netplan/50-cloud-init.yaml",
	"/etc/network/interfaces.d/50-cloud-init",
	"/etc/network/interfaces.d/50-cloud-init.cfg",
	"/etc/NetworkManager/conf.d/99-cloud-init.conf",
	"/etc/NetworkManager/conf.d/30-cloud-init-ip6-addr-gen-mode.conf",
	"/etc/NetworkManager/system-connections/cloud-init-*.nmconnection",
	"/etc/systemd/network/10-cloud-init-*.network",
}

// Options configure the operation.
type Options struct {
	// Network also removes the network configuration cloud-init
	// generated (--cloud-init-network).
	Network bool
}

// Op is the cloud-init operation.
type Op struct{ opts Options }

// New returns the operation.
func New(opts Options) *Op { return &Op{opts: opts} }

var _ ops.Operation = (*Op)(nil)

// Name implements ops.Operation.
func (*Op) Name() string { return "cloud-init" }

// Description implements ops.Operation.
func (*Op) Description() string {
	return "Remove cloud-init's state (all of /var/lib/cloud but seed) and logs, as cloud-init clean --logs"
}

// Default implements ops.Operation.
func (*Op) Default() bool { return true }

// Rules returns the rules the operation applies.
func (o *Op) Rules() []pathop.Rule {
	rules := []pathop.Rule{
		{Glob: CloudDir + "/*", Kind: pathop.RemoveAll, Except: []string{SeedDir}},
		{Glob: CloudDir + "/.*", Kind: pathop.RemoveAll},
	}
	rules = append(rules, pathop.Globs(pathop.RemoveNonDir, LogGlobs...)...)
	if o.opts.Network {
		rules = append(rules, pathop.Globs(pathop.RemoveNonDir, NetworkGlobs...)...)
	}
	return rules
}

// Apply implements ops.Operation.
func (o *Op) Apply(ctx context.Context, g ops.Guest) ([]ops.Change, error) {
	s := pathop.NewSession(ctx, g, o.Name())
	if err := s.Err(); err != nil {
		return nil, err
	}
	return s.Result(s.ApplyRules(o.Rules()))
}
