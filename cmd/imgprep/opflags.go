package main

import (
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/imgprep/imgprep/pkg/ops"
	"github.com/imgprep/imgprep/pkg/ops/accounts"
	"github.com/imgprep/imgprep/pkg/ops/catalog"
)

// opFlags are the options of the catalogue's operations beyond
// machine-id and netdata.
func opFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "remove-user-accounts", Usage: "user-account: remove only these users (comma list, repeatable)"},
		&cli.StringSliceFlag{Name: "keep-user-accounts", Usage: "user-account: never remove these users (comma list, repeatable)"},
		&cli.BoolFlag{Name: "cloud-init-network", Usage: "cloud-init: also remove the network configuration cloud-init generated"},
	}
}

// applyOpFlags fills cfg from opFlags.
func applyOpFlags(c *cli.Context, cfg *catalog.Config) error {
	split := func(name string) []string {
		var out []string
		for _, v := range c.StringSlice(name) {
			out = append(out, strings.Split(v, ",")...)
		}
		return out
	}
	cfg.UserAccount = accounts.Options{Remove: split("remove-user-accounts"), Keep: split("keep-user-accounts")}
	if err := cfg.UserAccount.Validate(); err != nil {
		return usagef("--remove-user-accounts/--keep-user-accounts: %v", err)
	}
	cfg.CloudInit.Network = c.Bool("cloud-init-network")
	return nil
}

// checkOpFlags refuses an operation's options when the operation is not
// selected, as virt-sysprep does.
func checkOpFlags(c *cli.Context, selected []ops.Operation) error {
	on := map[string]bool{}
	for _, op := range selected {
		on[op.Name()] = true
	}
	for _, f := range []struct{ flag, op string }{
		{"remove-user-accounts", "user-account"}, {"keep-user-accounts", "user-account"}, {"cloud-init-network", "cloud-init"},
	} {
		if c.IsSet(f.flag) && !on[f.op] {
			return usagef("--%s was given, but the %q operation is not selected", f.flag, f.op)
		}
	}
	return nil
}
