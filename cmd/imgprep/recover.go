package main

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v3"
)

func recoverCommand(e env) *cli.Command {
	return &cli.Command{
		Name:         "recover",
		Usage:        "roll back the journal an interrupted imgprep run left in IMAGE",
		ArgsUsage:    "IMAGE",
		OnUsageError: onUsageError,
		Flags:        journalFlags(),
		Action: action(e, func(_ context.Context, c *cli.Command) error {
			if c.NArg() != 1 {
				return usagef("recover takes exactly one IMAGE")
			}
			if e.recover == nil {
				return runError{errNoBackend}
			}
			img := c.Args().First()
			rolledBack, err := e.recover(img, journalOptions(c))
			if err != nil {
				printError(e.stderr, fmt.Errorf("%s: %w", img, err))
				return cli.Exit("", exitFailed)
			}
			if rolledBack {
				fmt.Fprintf(e.stdout, "%s: rolled back an interrupted run; the image is as it was before it\n", escape(img))
			} else {
				fmt.Fprintf(e.stdout, "%s: nothing to recover\n", escape(img))
			}
			return nil
		}),
	}
}
