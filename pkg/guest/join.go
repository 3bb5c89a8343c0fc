package guest

import (
	"errors"

	"github.com/imgprep/imgprep/pkg/partition"
)

// ErrJoin: the layouts given to Join cannot form one machine.
var ErrJoin = errors.New("guest: cannot join the disks")

// Join makes one layout of the disks of one virtual machine, in the order
// the machine sees them (the first is sda or vda, the second sdb or vdb,
// ...), as virt-sysprep does with several -a options: a guest's fstab then
// resolves across every disk, by UUID=, LABEL=, PARTUUID=, PARTLABEL= and
// by the kernel's names (/dev/vdb2, /dev/nvme1n1p2). names name the disks
// in Desc ("ext4 on partition 1 of disk2.qcow2"), one per layout.
//
// The layouts must come from Scan and be used only through the joined
// layout afterwards: their filesystems (and engines) are shared with it.
// Each layout's filesystems are copied, so the originals keep their Desc.
func Join(names []string, disks ...*Layout) (*Layout, error) {
	if len(disks) == 0 || len(names) != len(disks) {
		return nil, ErrJoin
	}
	if len(disks) == 1 {
		return disks[0], nil
	}
	j := &Layout{Table: disks[0].Table, opts: disks[0].opts}
	for i, d := range disks {
		if d == nil || len(d.disks) != 1 || names[i] == "" {
			return nil, ErrJoin
		}
		j.disks = append(j.disks, d.disks[0])
		for _, f := range d.Filesystems {
			c := *f
			c.Disk, c.DiskName = i, names[i]
			j.Filesystems = append(j.Filesystems, &c)
		}
	}
	j.joinLVM(disks, j.opts)
	return j, nil
}

// Disks returns the number of disks of the layout.
func (l *Layout) Disks() int { return len(l.disks) }

// DiskTable returns the partition table of disk i.
func (l *Layout) DiskTable(i int) *partition.Table {
	if i < 0 || i >= len(l.disks) {
		return nil
	}
	return l.disks[i]
}
