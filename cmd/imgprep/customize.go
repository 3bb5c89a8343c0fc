package main

import (
	"context"
	"fmt"
	"io"

	"github.com/urfave/cli/v3"

	"github.com/imgprep/imgprep/pkg/customize"
	"github.com/imgprep/imgprep/pkg/ops"
)

// customizations records the customization options of one command line
// in the order they were given (urfave/cli keeps each option's values in
// order, but not the order between options, which virt-customize
// honours).
type customizations struct {
	steps []customize.Step
	// --selinux-relabel, --no-selinux-relabel
	relabel, noRelabel bool
	// err is the first option that did not parse. Set keeps it here
	// rather than returning it: urfave/cli quotes a rejected value in its
	// message, and a --write or --password value is content that must
	// never be echoed (customize.Parse's error names only the path and
	// the byte count).
	err error
}

// stepValue is the flag.Value of one customization option.
type stepValue struct {
	kind string
	rec  *customizations
}

func (v *stepValue) Set(arg string) error {
	s, err := customize.Parse(v.kind, arg)
	if err != nil {
		if v.rec.err == nil {
			v.rec.err = usageError{err: err}
		}
		return nil
	}
	v.rec.steps = append(v.rec.steps, s)
	return nil
}

func (v *stepValue) String() string { return "" }

// Get returns nothing: the values are the recorded steps.
func (v *stepValue) Get() any { return nil }

var customizeUsage = map[string]struct{ arg, usage string }{
	customize.Hostname:          {"NAME", "set /etc/hostname and the 127.0.1.1 line of /etc/hosts"},
	customize.Write:             {"PATH:CONTENT", "write CONTENT to PATH"},
	customize.Upload:            {"HOSTFILE:PATH", "copy a host file into the guest"},
	customize.Delete:            {"PATH", "remove PATH (globs allowed), directories with their contents"},
	customize.Truncate:          {"PATH", "empty an existing file"},
	customize.TruncateRecursive: {"PATH", "empty every file below PATH"},
	customize.Mkdir:             {"PATH", "create a directory and its parents"},
	customize.Chmod:             {"MODE:PATH", "set an octal mode (0755)"},
	customize.Link:              {"TARGET:LINK[:LINK..]", "create symlinks to TARGET (ln -sf)"},
	customize.Touch:             {"PATH", "create an empty file or update its times"},
	customize.AppendLine:        {"PATH:LINE", "append LINE (after a newline if the file lacks one)"},
	customize.Timezone:          {"ZONE", "point /etc/localtime at /usr/share/zoneinfo/ZONE"},
	customize.RootPassword:      {"SELECTOR", "set root's password in /etc/shadow (SHA-512 crypt): password:PASS, file:FILENAME, random or disabled"},
	customize.Password:          {"USER:SELECTOR", "set USER's password, SELECTOR as for --root-password"},
	customize.SSHInject:         {"USER[:file:PATH|:string:KEY]", "add keys to ~USER/.ssh/authorized_keys (default: your ~/.ssh/*.pub)"},
	customize.Firstboot:         {"SCRIPT", "run the host file SCRIPT once at the guest's next boot (systemd)"},
	customize.FirstbootCommand:  {"CMD", "run the shell command CMD once at the guest's next boot (systemd)"},
}

// flags returns the customization options, all recording into c.
func (c *customizations) flags() []cli.Flag {
	var out []cli.Flag
	for _, kind := range customize.Kinds {
		u := customizeUsage[kind]
		out = append(out, &cli.GenericFlag{
			Name:     kind,
			Usage:    "customize, after the operations, in command-line order: " + u.usage + " (repeatable)",
			Category: "customizations",
			Value:    &stepValue{kind: kind, rec: c},
		})
	}
	for _, nb := range needsBoot {
		var f cli.Flag = &cli.StringSliceFlag{Name: nb.name, Category: "customizations", Usage: nb.usage + ": refused, see --firstboot-command"}
		if nb.arg == "" {
			f = &cli.BoolFlag{Name: nb.name, Category: "customizations", Usage: nb.usage + ": refused, see --firstboot-command"}
		}
		out = append(out, f)
	}
	return append(out,
		&cli.BoolFlag{Name: customize.SELinuxRelabel, Category: "customizations", Destination: &c.relabel,
			Usage: "touch /.autorelabel, for the guest to relabel its files at the next boot (by default only a guest with SELinux on, when there are customizations)"},
		&cli.BoolFlag{Name: "no-selinux-relabel", Category: "customizations", Destination: &c.noRelabel,
			Usage: "do not touch /.autorelabel after customizations"},
	)
}

// operations returns the recorded customizations as operations, the
// --selinux-relabel step last.
func (c *customizations) operations() ([]ops.Operation, error) {
	mode := customize.RelabelAuto
	switch {
	case c.relabel && c.noRelabel:
		return nil, usagef("--selinux-relabel and --no-selinux-relabel contradict each other")
	case c.relabel:
		mode = customize.RelabelAlways
	case c.noRelabel:
		mode = customize.RelabelNever
	}
	steps := customize.WithRelabel(c.steps, mode)
	out := make([]ops.Operation, 0, len(steps))
	for _, s := range steps {
		out = append(out, s)
	}
	return out, nil
}

// announce shows each random password once, on w (stderr, so that --json
// stays clean), as virt-customize prints them: in no report.
func (c *customizations) announce(w io.Writer) {
	for _, s := range c.steps {
		if user, pw, ok := s.RandomPassword(); ok {
			fmt.Fprintf(w, "imgprep: random password of %s: %s\n", user, pw)
		}
	}
}

// addTo adds the operations' and the customization options to the sysprep
// command.
func (c *customizations) addTo(cmd *cli.Command) *cli.Command {
	cmd.Flags = append(cmd.Flags, opFlags()...)
	cmd.Flags = append(cmd.Flags, c.flags()...)
	before := cmd.Before
	cmd.Before = func(ctx context.Context, cc *cli.Command) (context.Context, error) {
		if c.err != nil {
			return ctx, c.err
		}
		if before != nil {
			return before(ctx, cc)
		}
		return ctx, nil
	}
	return cmd
}

// needsBoot are virt-customize's options that run programs in the guest,
// which needs it running: imgprep never starts it, so they are refused
// with a pointer to --firstboot-command, which runs them at its first
// boot instead.
var needsBoot = []struct{ name, arg, usage string }{
	{"run-command", "CMD", "virt-customize runs CMD in the guest"},
	{"run", "SCRIPT", "virt-customize runs SCRIPT in the guest"},
	{"install", "PKG,PKG..", "virt-customize installs packages with the guest's package manager"},
	{"uninstall", "PKG,PKG..", "virt-customize removes packages with the guest's package manager"},
	{"update", "", "virt-customize updates the guest's packages"},
}

// checkNeedsBoot refuses the needsBoot options, before anything is
// opened.
func checkNeedsBoot(c *cli.Command) error {
	for _, nb := range needsBoot {
		if c.IsSet(nb.name) {
			return usagef("--%s needs a running guest, which imgprep never starts; use --firstboot-command CMD (or --firstboot SCRIPT) to run it once at the guest's first boot", nb.name)
		}
	}
	return nil
}
