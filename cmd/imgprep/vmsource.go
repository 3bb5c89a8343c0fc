package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/urfave/cli/v3"

	"github.com/imgprep/imgprep/pkg/libvirt"
	"github.com/imgprep/imgprep/pkg/proxmox"
)

// vmFlags name a VM whose disks are the images: a libvirt domain or a
// Proxmox VM.
func vmFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "domain", Aliases: []string{"d"}, Usage: "the disks of libvirt domain `DOMAIN` (shut off), as virt-sysprep -d"},
		&cli.StringFlag{Name: "connect", Aliases: []string{"c"}, Usage: "libvirt connection `URI` for -d (virsh -c; default: libvirt's)"},
		&cli.StringFlag{Name: "proxmox", Usage: "the disks of Proxmox VE VM `VMID` (stopped), from /etc/pve"},
		&cli.StringFlag{Name: "proxmox-root", Usage: "the directory holding etc/pve and the volumes' /dev paths (default: IMGPREP_PROXMOX_ROOT, else /)"},
	}
}

// vmImages returns the disks of the VM -d or --proxmox names, or ok false
// when neither is given.
func vmImages(ctx context.Context, c *cli.Command, e env) (set imageSet, ok bool, err error) {
	dom, vmid := c.String("domain"), c.String("proxmox")
	if dom == "" && vmid == "" {
		if c.String("connect") != "" {
			return imageSet{}, false, usagef("-c/--connect is for -d DOMAIN")
		}
		if c.String("proxmox-root") != "" {
			return imageSet{}, false, usagef("--proxmox-root is for --proxmox VMID")
		}
		return imageSet{}, false, nil
	}
	switch {
	case dom != "" && vmid != "":
		return imageSet{}, false, usagef("-d and --proxmox: give one VM")
	case c.NArg() > 0 || c.String("from") != "":
		return imageSet{}, false, usagef("-d/--proxmox take the VM's disks: give no IMAGE nor --from")
	case c.String("shard") != "":
		return imageSet{}, false, usagef("--shard splits a list of images, not one VM's disks")
	}
	set = imageSet{formats: map[string]string{}}
	if dom != "" {
		d, err := libvirt.Open(ctx, dom, libvirt.Options{URI: c.String("connect")})
		if err != nil {
			return imageSet{}, false, runError{err}
		}
		for _, disk := range d.Disks {
			if disk.ReadOnly {
				fmt.Fprintf(e.stderr, "imgprep: libvirt domain %s: disk %s (%s) is read-only in the domain: left alone\n", dom, disk.Target, disk.Path)
				continue
			}
			set.paths = append(set.paths, disk.Path)
			set.formats[disk.Path] = disk.Format
			for _, b := range disk.Backing {
				set.backing = append(set.backing, filepath.Dir(b))
			}
		}
		if len(set.paths) == 0 {
			return imageSet{}, false, runError{fmt.Errorf("libvirt domain %s has no writable disk", dom)}
		}
		return set, true, nil
	}
	root := c.String("proxmox-root")
	if root == "" {
		root, _ = e.lookup("IMGPREP_PROXMOX_ROOT")
	}
	vm, err := proxmox.Open(vmid, proxmox.Options{Root: root})
	if err != nil {
		return imageSet{}, false, runError{err}
	}
	for _, disk := range vm.Disks {
		set.paths = append(set.paths, disk.Path)
		set.formats[disk.Path] = disk.Format
	}
	return set, true, nil
}
