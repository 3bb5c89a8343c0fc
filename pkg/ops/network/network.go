package network

import (
	"bytes"
	"context"
	"strings"

	"github.com/imgprep/imgprep/pkg/ops"
	"github.com/imgprep/imgprep/pkg/ops/internal/pathop"
)

// IfcfgGlob matches Red Hat's interface configuration files.
const IfcfgGlob = "/etc/sysconfig/network-scripts/ifcfg-*"

// IfcfgEdit is an operation dropping KEY= lines from every ifcfg file.
type IfcfgEdit struct {
	name, desc string
	keys       []string
}

var _ ops.Operation = (*IfcfgEdit)(nil)

// Hostname returns the net-hostname operation.
func Hostname() *IfcfgEdit {
	return &IfcfgEdit{"net-hostname", "Remove HOSTNAME and DHCP_HOSTNAME in network interface configuration", []string{"HOSTNAME", "DHCP_HOSTNAME"}}
}

// HWAddr returns the net-hwaddr operation.
func HWAddr() *IfcfgEdit {
	return &IfcfgEdit{"net-hwaddr", "Remove HWADDR (hard-coded MAC address) configuration", []string{"HWADDR"}}
}

// Name implements ops.Operation.
func (o *IfcfgEdit) Name() string { return o.name }

// Description implements ops.Operation.
func (o *IfcfgEdit) Description() string { return o.desc }

// Default implements ops.Operation.
func (o *IfcfgEdit) Default() bool { return true }

// Apply implements ops.Operation. Symlinked ifcfg files are left alone.
func (o *IfcfgEdit) Apply(ctx context.Context, g ops.Guest) ([]ops.Change, error) {
	s := pathop.NewSession(ctx, g, o.name)
	if err := s.Err(); err != nil {
		return nil, err
	}
	files, err := s.Glob(IfcfgGlob)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		if err := s.Rewrite(f, func(old []byte) ([]byte, string) { return DropKeys(old, o.keys...) }); err != nil {
			return nil, err
		}
	}
	return s.Result(nil)
}

// DropKeys removes the lines of data that start with KEY= for one of keys
// and keeps every other byte; detail names what went ("HWADDR= line
// removed").
func DropKeys(data []byte, keys ...string) (out []byte, detail string) {
	var dropped []string
	out = make([]byte, 0, len(data))
	for rest := data; len(rest) > 0; {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line = rest[:i+1]
		}
		rest = rest[len(line):]
		drop := false
		for _, k := range keys {
			if bytes.HasPrefix(line, []byte(k+"=")) {
				drop = true
				dropped = append(dropped, k+"=")
				break
			}
		}
		if !drop {
			out = append(out, line...)
		}
	}
	if len(dropped) == 0 {
		return data, ""
	}
	word := " line removed"
	if len(dropped) > 1 {
		word = " lines removed"
	}
	return out, strings.Join(dropped, ", ") + word
}
