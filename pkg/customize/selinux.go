package customize

import (
	"fmt"
	"strings"

	"github.com/imgprep/imgprep/pkg/fs"
)

// Guest paths of --selinux-relabel.
const (
	SELinuxConfigPath = "/etc/selinux/config"
	AutorelabelPath   = "/.autorelabel"
)

// RelabelMode says when WithRelabel adds the --selinux-relabel step.
type RelabelMode int

// Relabel modes, after virt-customize's --selinux-relabel and
// --no-selinux-relabel.
const (
	// RelabelAuto relabels guests that use SELinux (SELINUX= in
	// /etc/selinux/config other than disabled) when any customization
	// is given: what virt-customize does by default, since the files a
	// customization creates carry no SELinux label.
	RelabelAuto RelabelMode = iota
	// RelabelAlways touches /.autorelabel in every guest
	// (--selinux-relabel).
	RelabelAlways
	// RelabelNever adds no step (--no-selinux-relabel).
	RelabelNever
)

// Relabel returns the step of --selinux-relabel: touch /.autorelabel, so
// that the guest relabels its filesystems at the next boot; when auto,
// only in a guest whose /etc/selinux/config leaves SELinux on.
func Relabel(auto bool) Step {
	s := Step{Kind: SELinuxRelabel, auto: auto}
	if auto {
		s.Shown = "(automatic: when the guest uses SELinux)"
	}
	return s
}

// WithRelabel returns steps with the --selinux-relabel step mode asks
// for appended: it runs last, after every other customization.
func WithRelabel(steps []Step, mode RelabelMode) []Step {
	out := append([]Step(nil), steps...)
	switch {
	case mode == RelabelAlways:
		return append(out, Relabel(false))
	case mode == RelabelAuto && len(steps) > 0:
		return append(out, Relabel(true))
	}
	return out
}

func (r *run) relabel() error {
	if r.step.auto {
		a, err := r.g.Stat(SELinuxConfigPath)
		if fs.IsAbsent(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", SELinuxConfigPath, err)
		}
		if a.Type() != fs.TypeRegular || a.Size > MaxEdit {
			return fmt.Errorf("%s: not a regular file of at most %d bytes: %w", SELinuxConfigPath, MaxEdit, fs.ErrInvalid)
		}
		cfg, err := r.g.ReadFile(SELinuxConfigPath)
		if err != nil {
			return fmt.Errorf("reading %s: %w", SELinuxConfigPath, err)
		}
		if !selinuxEnabled(cfg) {
			return nil
		}
	}
	return r.write(AutorelabelPath, nil, 0o644)
}

// selinuxEnabled reports whether an /etc/selinux/config leaves SELinux
// on: its last SELINUX= assignment is not "disabled".
func selinuxEnabled(config []byte) bool {
	on := true
	for _, l := range strings.Split(string(config), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(l), "=")
		if !ok || strings.TrimSpace(k) != "SELINUX" {
			continue
		}
		v = strings.Trim(strings.TrimSpace(v), `"'`)
		on = !strings.EqualFold(v, "disabled")
	}
	return on
}
