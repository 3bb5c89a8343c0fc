package catalog

import (
	"errors"
	"fmt"
	"strings"

	"github.com/imgprep/imgprep/pkg/ops"
	"github.com/imgprep/imgprep/pkg/ops/accounts"
	"github.com/imgprep/imgprep/pkg/ops/cloudinit"
	"github.com/imgprep/imgprep/pkg/ops/fsuuids"
	"github.com/imgprep/imgprep/pkg/ops/logs"
	"github.com/imgprep/imgprep/pkg/ops/lvmuuids"
	"github.com/imgprep/imgprep/pkg/ops/machineid"
	"github.com/imgprep/imgprep/pkg/ops/misc"
	"github.com/imgprep/imgprep/pkg/ops/netdata"
	"github.com/imgprep/imgprep/pkg/ops/network"
	"github.com/imgprep/imgprep/pkg/ops/packages"
	"github.com/imgprep/imgprep/pkg/ops/randomseed"
	"github.com/imgprep/imgprep/pkg/ops/ssh"
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

// All returns every operation, sorted by name.
func All(cfg Config) []ops.Operation {
	return []ops.Operation{
		logs.AbrtData(),
		misc.BackupFiles{},
		logs.BashHistory(),
		misc.BlkidTab(),
		misc.CACertificates(),
		cloudinit.New(cfg.CloudInit),
		logs.CrashData(),
		misc.CronSpool{},
		network.DHCPClientState(),
		network.DHCPServerState(),
		misc.DovecotData(),
		network.FirewallRules(),
		misc.FlagReconfiguration{},
		fsuuids.New(nil),
		misc.IPAClient(),
		misc.KerberosData(),
		misc.KerberosHostKeytab(),
		logs.Logfiles(),
		misc.LVMSystemDevices(),
		lvmuuids.New(nil),
		machineid.New(cfg.MachineID),
		misc.MailSpool(),
		network.Hostname(),
		network.HWAddr(),
		network.NMConn(),
		netdata.New(cfg.Netdata),
		logs.Pacct{},
		packages.ManagerCache(),
		accounts.PAMData(),
		accounts.PasswdBackups(),
		logs.PuppetDataLog(),
		randomseed.New(),
		packages.RHSubscriptionManager(),
		packages.RHNSystemID(),
		packages.RPMDB(),
		logs.SambaDBLog(),
		packages.SmoltUUID(),
		ssh.HostKeys(),
		ssh.UserDir(),
		logs.SSSDDBLog(),
		misc.TmpFiles(),
		network.UdevPersistentNet(),
		accounts.NewUserAccount(cfg.UserAccount),
		logs.Utmp(),
		packages.YumUUID(),
		logs.ZshHistory(),
	}
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
