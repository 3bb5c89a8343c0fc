package catalog

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/imgprep/imgprep/pkg/ops"
	"github.com/imgprep/imgprep/pkg/ops/accounts"
	"github.com/imgprep/imgprep/pkg/ops/backupfiles"
	"github.com/imgprep/imgprep/pkg/ops/cloudinit"
	"github.com/imgprep/imgprep/pkg/ops/cronspool"
	"github.com/imgprep/imgprep/pkg/ops/flagreconf"
	"github.com/imgprep/imgprep/pkg/ops/fsuuids"
	"github.com/imgprep/imgprep/pkg/ops/lvmuuids"
	"github.com/imgprep/imgprep/pkg/ops/machineid"
	"github.com/imgprep/imgprep/pkg/ops/netdata"
	"github.com/imgprep/imgprep/pkg/ops/network"
	"github.com/imgprep/imgprep/pkg/ops/pacct"
	"github.com/imgprep/imgprep/pkg/ops/pathops"
)

// Errors of Select; all are usage errors.
var (
	ErrUnknownOperation = errors.New("catalog: unknown operation")
	ErrEmptyName        = errors.New("catalog: empty operation name")
	ErrBothSelections   = errors.New("catalog: --enable and --operations cannot be used together")
)

// Config aggregates the options of every operation family.
type Config struct {
	MachineID machineid.Options
	Netdata   netdata.Options
	// UserAccount narrows user-account (--remove-user-accounts,
	// --keep-user-accounts).
	UserAccount accounts.Options
	// CloudInit: --cloud-init-network.
	CloudInit cloudinit.Options
}

// All returns every operation, sorted by name: the path-only operations
// of pkg/ops/pathops' table and those that are code of their own.
func All(cfg Config) []ops.Operation {
	all := append(pathops.All(),
		accounts.NewUserAccount(cfg.UserAccount),
		backupfiles.Op{},
		cloudinit.New(cfg.CloudInit),
		cronspool.Op{},
		flagreconf.Op{},
		fsuuids.New(nil),
		lvmuuids.New(nil),
		machineid.New(cfg.MachineID),
		netdata.New(cfg.Netdata),
		network.Hostname(),
		network.HWAddr(),
		pacct.Op{},
	)
	slices.SortFunc(all, func(a, b ops.Operation) int { return strings.Compare(a.Name(), b.Name()) })
	return all
}

// Defaults returns the operations of all that run when none are named.
func Defaults(all []ops.Operation) []ops.Operation {
	var out []ops.Operation
	for _, op := range all {
		if op.Default() {
			out = append(out, op)
		}
	}
	return out
}

// Select applies --operations (each element one occurrence of the option)
// or --enable to all, and returns the chosen operations in all's order.
func Select(all []ops.Operation, operations []string, enable string) ([]ops.Operation, error) {
	if len(operations) > 0 && enable != "" {
		return nil, ErrBothSelections
	}
	byName := map[string]ops.Operation{}
	for _, op := range all {
		byName[op.Name()] = op
	}
	chosen := map[string]bool{}
	lookup := func(opt, name string) error {
		if name == "" {
			return fmt.Errorf("%s: %w", opt, ErrEmptyName)
		}
		if byName[name] == nil {
			names := make([]string, 0, len(all))
			for _, op := range all {
				names = append(names, op.Name())
			}
			if near, ok := Closest(name, names); ok {
				return fmt.Errorf("%s: %w %q; did you mean %s?", opt, ErrUnknownOperation, name, near)
			}
			return fmt.Errorf("%s: %w %q (see imgprep list-operations)", opt, ErrUnknownOperation, name)
		}
		return nil
	}
	switch {
	case enable != "":
		for _, name := range strings.Split(enable, ",") {
			name = strings.TrimSpace(name)
			if err := lookup("--enable", name); err != nil {
				return nil, err
			}
			chosen[name] = true
		}
	case len(operations) > 0:
		for _, list := range operations {
			for _, name := range strings.Split(list, ",") {
				name = strings.TrimSpace(name)
				switch {
				case name == "defaults":
					for _, op := range Defaults(all) {
						chosen[op.Name()] = true
					}
				case name == "all":
					for _, op := range all {
						chosen[op.Name()] = true
					}
				case strings.HasPrefix(name, "-"):
					if err := lookup("--operations", name[1:]); err != nil {
						return nil, err
					}
					delete(chosen, name[1:])
				default:
					if err := lookup("--operations", name); err != nil {
						return nil, err
					}
					chosen[name] = true
				}
			}
		}
	default:
		return Defaults(all), nil
	}
	var out []ops.Operation
	for _, op := range all {
		if chosen[op.Name()] {
			out = append(out, op)
		}
	}
	return out, nil
}
