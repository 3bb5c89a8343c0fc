package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v3"

	"github.com/imgprep/imgprep/pkg/image"
	"github.com/imgprep/imgprep/pkg/sysprep"
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // some image failed; the others were still processed
	exitUsage  = 2
	// exitInterrupted: SIGINT or SIGTERM stopped the run, after it
	// cleaned up (as a shell reports a process killed by SIGINT).
	exitInterrupted = 130
)

// env is everything a command reaches outside itself, so that tests run
// the CLI in-process with captured output and an in-memory backend.
type env struct {
	stdout, stderr io.Writer
	stdin          io.Reader // for --from -; os.Stdin when nil
	backend        sysprep.Backend
	recover        func(path string, journal image.JournalOptions) (rolledBack bool, err error)
	// lookupEnv reads the environment (--shard auto); os.LookupEnv in
	// the program, none when nil.
	lookupEnv func(key string) (string, bool)
	// argv is the command line as typed (set by run): it tells the
	// operands escaped by "--" from the others, which urfave does not.
	argv []string
	// signals makes SIGINT (Ctrl-C) and SIGTERM cancel the run's context,
	// so that work in progress is undone and temporary files removed
	// (a clone under construction); a second signal kills at once. The
	// program sets it; tests that call run leave the process's signals
	// alone.
	signals bool
}

// usageError marks an error in the command line. own says its text is
// the CLI's (usagef), not a lower layer's.
type usageError struct {
	err error
	own bool
}

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usagef makes a usage error; an error among args is shown without its
// package prefixes (userMessage).
func usagef(format string, args ...any) error {
	for i, a := range args {
		if err, ok := a.(error); ok {
			args[i] = userMessage(err.Error())
		}
	}
	return usageError{err: fmt.Errorf(format, args...), own: true}
}

// newApp builds the command tree. urfave/cli v3 reads options anywhere on
// the line, before or after the operands, and "--" ends them.
func newApp(e env) *cli.Command {
	return &cli.Command{
		Name:      "imgprep",
		Usage:     "prepare VM disk images (qcow2, raw) to be cloned, without booting them",
		UsageText: "imgprep COMMAND [options] IMAGE...",
		Description: "imgprep prepares VM disk images (qcow2 and raw) to be cloned, as virt-sysprep does, without booting them " +
			"and without libguestfs: it opens the image files itself, finds their partitions, LVM volumes and filesystems, " +
			"and removes the identity a template would otherwise hand to every clone (machine-id, SSH host keys, Netdata's " +
			"GUID, DHCP leases and the rest of virt-sysprep's Linux set). Every change to an image is committed at once, or " +
			"not at all: a failure leaves the image byte-identical.\n\n" +
			"Options may be given before or after the operands; -- ends them. An operand that starts with '-' must follow --.",
		Writer:    e.stdout,
		ErrWriter: e.stderr,
		// Exit codes are decided by run, never by os.Exit inside urfave.
		ExitErrHandler: func(context.Context, *cli.Command, error) {},
		// -V/--version is ours (urfave's -v would clash with --verbose).
		HideVersion: true,
		// A path given to a repeatable option (--allow-backing) may hold
		// a comma; the lists that are comma lists split themselves.
		DisableSliceFlagSeparator:       true,
		EnableShellCompletion:           true,
		ConfigureShellCompletionCommand: configureCompletion,
		Flags:                           globalFlags(),
		Commands: []*cli.Command{
			sysprepCommand(e),
			inspectCommand(e),
			listOperationsCommand(e),
			recoverCommand(e),
			cloneCommand(e),
			auditCommand(e),
			reportCommand(e),
			helpCommand(),
			manCommand(),
		},
		OnUsageError: onUsageError,
		Action:       rootAction,
	}
}

// run runs the CLI and returns the process exit code.
func run(args []string, e env) int {
	e.argv = args
	ctx := context.Background()
	if e.signals {
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
		go func() {
			<-ctx.Done()
			stop() // the next signal has its default effect
		}()
	}
	app := newApp(e)
	err := app.Run(ctx, args)
	if err == nil {
		return exitOK
	}
	if e.signals && ctx.Err() != nil {
		fmt.Fprintln(e.stderr, "imgprep: interrupted: "+err.Error())
		return exitInterrupted
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) && !errors.As(err, new(usageError)) {
		if msg := ec.Error(); msg != "" {
			fmt.Fprintln(e.stderr, "imgprep: "+msg)
		}
		return ec.ExitCode()
	}
	var ue usageError
	msg := err.Error()
	if !errors.As(err, &ue) || !ue.own {
		msg = userMessage(msg)
	}
	if errors.As(err, &ue) && !ue.own {
		// urfave's "flag provided but not defined: -bogus" says less
		// than the command line itself
		if u, ok := unknownOption(app, args); ok {
			msg = u
		}
	}
	fmt.Fprintln(e.stderr, "imgprep: "+escape(msg))
	if errors.As(err, &ue) || !isRunError(err) {
		fmt.Fprintln(e.stderr, "Run 'imgprep --help' or 'imgprep COMMAND --help' for usage.")
		return exitUsage
	}
	return exitFailed
}

// runError marks a failure of the work itself, not of the command line.
type runError struct{ err error }

func (e runError) Error() string { return e.err.Error() }
func (e runError) Unwrap() error { return e.err }

func isRunError(err error) bool {
	var re runError
	return errors.As(err, &re)
}

// onUsageError makes urfave's flag errors usage errors.
func onUsageError(_ context.Context, _ *cli.Command, err error, _ bool) error {
	return usageError{err: err}
}

// action wraps a command's work with what every command does first:
// -V prints the version, and an operand that looks like an option is
// refused before anything is opened.
func action(e env, fn cli.ActionFunc) cli.ActionFunc {
	return func(ctx context.Context, c *cli.Command) error {
		if c.Bool("version") {
			return printVersion(c)
		}
		if err := checkOperands(e.argv, c); err != nil {
			return err
		}
		if err := checkNeedsBoot(c); err != nil {
			return err
		}
		return fn(ctx, c)
	}
}
