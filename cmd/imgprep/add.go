package main

import (
	"github.com/urfave/cli/v3"
)

// addFlag is virt-sysprep's -a/--add: the disks of one VM, given in the
// order the VM sees them, which form one guest (its fstab resolves
// across them: /var on the second disk).
func addFlag() cli.Flag {
	return &cli.StringSliceFlag{Name: "add", Aliases: []string{"a"},
		Usage: "a disk `IMAGE` of one VM, as virt-sysprep -a (repeatable; several -a disks form one guest, in the VM's disk order)"}
}

// addedImages returns the -a disks as one image set: the first disk, and
// the others joined to it. ok is false without -a.
func addedImages(c *cli.Command) (set imageSet, ok bool, err error) {
	disks := c.StringSlice("add")
	if len(disks) == 0 {
		return imageSet{}, false, nil
	}
	switch {
	case c.NArg() > 0:
		return imageSet{}, false, usagef("-a disks form one VM: give its disks with -a only, not as operands too")
	case c.String("from") != "" || c.String("shard") != "":
		return imageSet{}, false, usagef("-a disks form one VM: --from and --shard are for lists of images")
	case c.String("domain") != "" || c.String("proxmox") != "":
		return imageSet{}, false, usagef("-a and -d/--proxmox: give one VM")
	}
	seen := map[string]bool{}
	for _, d := range disks {
		if d == "" || seen[d] {
			return imageSet{}, false, usagef("-a %q: each disk once, and not empty", d)
		}
		seen[d] = true
	}
	return imageSet{paths: disks[:1], disks: disks[1:]}, true, nil
}
