package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/imgprep/imgprep/pkg/sysprep"
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // some image failed; the others were still processed
	exitUsage  = 2
)

// env is everything a command reaches outside itself, so that tests run
// the CLI in-process with captured output and an in-memory backend.
type env struct {
	stdout, stderr io.Writer
	stdin          io.Reader // for --from -; os.Stdin when nil
	backend        sysprep.Backend
	recover        func(path string) (rolledBack bool, err error)
}

// usageError marks an error in the command line.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

func newApp(e env) *cli.App {
	app := &cli.App{
		Name:      "imgprep",
		Usage:     "prepare VM disk images (qcow2, raw) to be cloned, without booting them",
		UsageText: "imgprep COMMAND [options] IMAGE...",
		Writer:    e.stdout,
		ErrWriter: e.stderr,
		// Exit codes are decided by run, never by os.Exit inside urfave.
		ExitErrHandler:  func(*cli.Context, error) {},
		HideHelpCommand: true,
		Commands: []*cli.Command{
			sysprepCommand(e),
			inspectCommand(e),
			listOperationsCommand(),
			recoverCommand(e),
			cloneCommand(e),
			auditCommand(e),
		},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error { return usageError{err} },
	}
	return app
}

// run runs the CLI and returns the process exit code.
func run(args []string, e env) int {
	err := newApp(e).Run(args)
	if err == nil {
		return exitOK
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		if msg := ec.Error(); msg != "" {
			fmt.Fprintln(e.stderr, "imgprep: "+msg)
		}
		return ec.ExitCode()
	}
	fmt.Fprintln(e.stderr, "imgprep: "+err.Error())
	var ue usageError
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

// onUsageError makes urfave's flag errors usage errors in subcommands.
func onUsageError(_ *cli.Context, err error, _ bool) error { return usageError{err} }
