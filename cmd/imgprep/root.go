package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/urfave/cli/v3"

	"github.com/imgprep/imgprep/pkg/ops/catalog"
)

// globalFlags are read by every command, wherever they stand.
func globalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "version", Aliases: []string{"V"}, Usage: "print imgprep's version and exit"},
		&cli.BoolFlag{Name: "trace", Aliases: []string{"x"}, Usage: "trace on standard error each image opened, guest found, operation applied and commit"},
	}
}

func printVersion(c *cli.Command) error {
	fmt.Fprintf(c.Root().Writer, "imgprep %s\n", version)
	return nil
}

// rootAction runs when no command is named: -V, help, or an unknown
// command (a usage error, exit 2).
func rootAction(_ context.Context, c *cli.Command) error {
	if c.Bool("version") {
		return printVersion(c)
	}
	if c.NArg() == 0 {
		return cli.ShowRootCommandHelp(c)
	}
	return unknownCommand(c.Root(), c.Args().First())
}

func unknownCommand(root *cli.Command, name string) error {
	if strings.HasPrefix(name, "-") {
		return usagef("%s: an option must follow a COMMAND", name)
	}
	var names []string
	for _, sub := range root.Commands {
		if !sub.Hidden {
			names = append(names, sub.Name)
		}
	}
	if near, ok := catalog.Closest(name, names); ok {
		return usagef("unknown command %q; did you mean %s?", name, near)
	}
	return usagef("unknown command %q (commands: %s)", name, strings.Join(names, ", "))
}

// helpCommand replaces urfave's, whose unknown topic exits 3.
func helpCommand() *cli.Command {
	return &cli.Command{
		Name:         "help",
		Usage:        "show the help of imgprep or of one COMMAND",
		ArgsUsage:    "[COMMAND]",
		OnUsageError: onUsageError,
		Action: func(ctx context.Context, c *cli.Command) error {
			root := c.Root()
			switch c.NArg() {
			case 0:
				return cli.ShowRootCommandHelp(root)
			case 1:
				name := c.Args().First()
				if sub := root.Command(name); sub != nil && name != "help" {
					return cli.ShowCommandHelp(ctx, root, name)
				}
				return unknownCommand(root, name)
			default:
				return usagef("help takes one COMMAND")
			}
		},
	}
}

// configureCompletion makes urfave's hidden completion command visible
// and refuses an unknown shell as a usage error.
func configureCompletion(c *cli.Command) {
	c.Hidden = false
	c.Usage = "print a shell completion script: completion bash|zsh|fish"
	c.ArgsUsage = "bash|zsh|fish"
	c.Description = "Prints a script that completes imgprep's commands and options in SHELL. bash: add\n" +
		"'source <(imgprep completion bash)' to ~/.bashrc; zsh: 'source <(imgprep completion zsh)' to ~/.zshrc;\n" +
		"fish: imgprep completion fish > ~/.config/fish/completions/imgprep.fish."
	c.OnUsageError = onUsageError
	c.Action = func(_ context.Context, c *cli.Command) error {
		if c.NArg() == 0 {
			return usagef("completion: name a shell: bash, zsh or fish")
		}
		return usagef("completion: unknown shell %q: want bash, zsh or fish", c.Args().First())
	}
	for _, sub := range c.Commands {
		sub.OnUsageError = onUsageError
	}
}

// checkOperands refuses an operand that starts with '-' and is not after
// "--": urfave takes it as an operand when it is not a flag name ("-1.img",
// "-"), and it is most likely a mistyped option. argv is the whole command
// line; c the command that parsed it.
func checkOperands(argv []string, c *cli.Command) error {
	for _, op := range unescapedOperands(argv, c) {
		if strings.HasPrefix(op, "-") {
			return usagef("%s: an operand cannot start with '-' (an unknown option?); for a file of that name write ./%s, or put it after --", op, op)
		}
	}
	return nil
}

// unescapedOperands walks argv as urfave does for c: root options, the
// command's name, then c's options (skipping their values) and operands,
// up to "--".
func unescapedOperands(argv []string, c *cli.Command) []string {
	if len(argv) == 0 {
		return nil
	}
	lineage := c.Lineage() // c, its parent, ..., the root
	depth := len(lineage) - 1
	var out []string
	toks := argv[1:]
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if t == "--" {
			return out
		}
		if depth > 0 && !strings.HasPrefix(t, "-") {
			// a command name on the way down to c
			depth--
			continue
		}
		if len(t) > 1 && t[0] == '-' && (t[1] == '-' || isLetter(t[1])) {
			name, _, hasValue := strings.Cut(strings.TrimLeft(t, "-"), "=")
			if takesValue(lineage, name) && !hasValue {
				i++
			}
			continue
		}
		out = append(out, t)
	}
	return out
}

func isLetter(b byte) bool { return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' }

// takesValue reports whether the flag called name, of c or an ancestor,
// reads the next argument.
func takesValue(lineage []*cli.Command, name string) bool {
	for _, cmd := range lineage {
		for _, f := range cmd.Flags {
			for _, n := range f.Names() {
				if n != name {
					continue
				}
				tv, ok := f.(interface{ TakesValue() bool })
				return ok && tv.TakesValue()
			}
		}
	}
	return false
}
