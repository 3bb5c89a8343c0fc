package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/urfave/cli/v3"

	"github.com/imgprep/imgprep/pkg/ops/catalog"
)

type opInfo struct {
	Name        string `json:"name"`
	Default     bool   `json:"default"`
	Description string `json:"description"`
}

func listOperationsCommand(e env) *cli.Command {
	return &cli.Command{
		Name:         "list-operations",
		Usage:        "list the operations; '*' marks those run by default",
		OnUsageError: onUsageError,
		Flags:        []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "a JSON array"}},
		Action: action(e, func(_ context.Context, c *cli.Command) error {
			if c.NArg() > 0 {
				return usagef("list-operations takes no arguments")
			}
			return listOperations(c)
		}),
	}
}

// listOperations prints the catalogue (--json: as a JSON array): the
// list-operations command, and sysprep --list-operations as virt-sysprep
// spells it.
func listOperations(c *cli.Command) error {
	var list []opInfo
	for _, op := range catalog.All(catalog.Config{}) {
		list = append(list, opInfo{op.Name(), op.Default(), op.Description()})
	}
	w := c.Root().Writer
	if c.Bool("json") {
		b, err := json.Marshal(list)
		if err != nil {
			return runError{err}
		}
		fmt.Fprintf(w, "%s\n", b)
		return nil
	}
	for _, o := range list {
		mark := " "
		if o.Default {
			mark = "*"
		}
		fmt.Fprintf(w, "%s %s %s\n", o.Name, mark, o.Description)
	}
	return nil
}
