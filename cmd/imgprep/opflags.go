package main

import (
	"strings"

	"github.com/urfave/cli/v3"

	"github.com/imgprep/imgprep/pkg/ops"
	"github.com/imgprep/imgprep/pkg/ops/accounts"
	"github.com/imgprep/imgprep/pkg/ops/catalog"
	"github.com/imgprep/imgprep/pkg/ops/machineid"
	"github.com/imgprep/imgprep/pkg/ops/netdata"
)

// flagGroups joins groups of options in order.
func flagGroups(groups ...[]cli.Flag) []cli.Flag {
	var out []cli.Flag
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

// identityFlagText words the machine-id and netdata options for one
// command.
type identityFlagText struct {
	modeNote    string // appended to --machine-id-mode's usage
	claimTarget string // where claim.conf is written, after "write claim.conf"
}

// identityOpFlags are the options of the machine-id and netdata
// operations, shared by sysprep and clone.
func identityOpFlags(text identityFlagText) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "machine-id-mode", Value: "empty", Usage: "machine-id: 'empty' or 'uninitialized' (first boot)" + text.modeNote},
		&cli.StringFlag{Name: "netdata-claim-token", Sources: cli.EnvVars("IMGPREP_NETDATA_CLAIM_TOKEN"),
			Usage: "netdata: write claim.conf" + text.claimTarget + " with this claim token (the environment keeps it out of ps)"},
		&cli.StringFlag{Name: "netdata-claim-rooms", Usage: "netdata: comma list of room IDs for claim.conf"},
		&cli.StringFlag{Name: "netdata-claim-url", Value: netdata.DefaultURL, Usage: "netdata: claim URL"},
		&cli.StringFlag{Name: "netdata-claim-proxy", Usage: "netdata: proxy for claiming"},
		&cli.BoolFlag{Name: "netdata-claim-insecure", Usage: "netdata: skip TLS verification when claiming"},
	}
}

// selectOperations reads the operations' options (identityOpFlags,
// opFlags), selects from the catalogue with --operations and --enable,
// refuses options of operations not selected, and appends the
// customizations in command-line order: what sysprep runs on an image
// and clone on each clone.
func selectOperations(c *cli.Command, custom *customizations) ([]ops.Operation, error) {
	mode, err := machineid.ParseMode(c.String("machine-id-mode"))
	if err != nil {
		return nil, usagef("--machine-id-mode: %v", err)
	}
	cfg := catalog.Config{MachineID: machineid.Options{Mode: mode}}
	if tok := c.String("netdata-claim-token"); tok != "" {
		cl := &netdata.Claim{Token: tok, Rooms: c.String("netdata-claim-rooms"), URL: c.String("netdata-claim-url"),
			Proxy: c.String("netdata-claim-proxy"), Insecure: c.Bool("netdata-claim-insecure")}
		if err := cl.Validate(); err != nil {
			return nil, usagef("--netdata-claim-*: %v", err)
		}
		cfg.Netdata.Claim = cl
	} else {
		for _, f := range []string{"netdata-claim-rooms", "netdata-claim-proxy", "netdata-claim-insecure"} {
			if c.IsSet(f) {
				return nil, usagef("--%s needs --netdata-claim-token", f)
			}
		}
	}
	if err := applyOpFlags(c, &cfg); err != nil {
		return nil, err
	}
	selected, err := catalog.Select(catalog.All(cfg), c.StringSlice("operations"), c.String("enable"))
	if err != nil {
		return nil, usageError{err: err}
	}
	if err := checkOpFlags(c, selected); err != nil {
		return nil, err
	}
	steps, err := custom.operations()
	if err != nil {
		return nil, err
	}
	custom.announce(c.Root().ErrWriter)
	return append(selected, steps...), nil
}

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
func applyOpFlags(c *cli.Command, cfg *catalog.Config) error {
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
func checkOpFlags(c *cli.Command, selected []ops.Operation) error {
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
