package guest

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// fstab source tags (fstab(5)) and their /dev/disk/by-* directories.
var tagDirs = map[string]string{
	"UUID":      "/dev/disk/by-uuid/",
	"LABEL":     "/dev/disk/by-label/",
	"PARTUUID":  "/dev/disk/by-partuuid/",
	"PARTLABEL": "/dev/disk/by-partlabel/",
}

// splitTag splits "UUID=abc" (value optionally quoted) into tag and value.
func splitTag(spec string) (tag, value string, ok bool) {
	tag, value, ok = strings.Cut(spec, "=")
	if !ok {
		return "", "", false
	}
	if _, known := tagDirs[tag]; !known {
		return "", "", false
	}
	if len(value) >= 2 && (value[0] == '"' || value[0] == '\'') && value[len(value)-1] == value[0] {
		value = value[1 : len(value)-1]
	}
	return tag, value, true
}

// Kernel names of disks' partitions: sdX/vdX/xvdX/hdX with X the disk's
// letter (a: the first disk), nvmeKn1 and mmcblkK with K its index.
var (
	devLetterRe = regexp.MustCompile(`^/dev/(?:sd|vd|xvd|hd)([a-z])([0-9]*)$`)
	devPRe      = regexp.MustCompile(`^/dev/(?:nvme([0-9]+)n1|mmcblk([0-9]+))(?:p([0-9]+))?$`)
)

// where says where a layout's filesystems are, for reasons.
func (l *Layout) where() string {
	if len(l.disks) > 1 {
		return "on these disks"
	}
	return "on this disk"
}

// resolveSpec finds the filesystem an fstab source names, or says why
// none matches.
func (l *Layout) resolveSpec(spec string) (*Filesystem, string) {
	tag, value, ok := splitTag(spec)
	if !ok {
		for t, dir := range tagDirs {
			if strings.HasPrefix(spec, dir) {
				tag, value, ok = t, unescapeUdev(strings.TrimPrefix(spec, dir)), true
				break
			}
		}
	}
	if ok {
		return l.match(tag+"="+value, func(f *Filesystem) bool {
			switch tag {
			case "UUID":
				return f.UUID != "" && strings.EqualFold(f.UUID, value)
			case "LABEL":
				return f.Label != "" && f.Label == value
			case "PARTUUID":
				return f.PartUUID != "" && strings.EqualFold(f.PartUUID, value)
			default:
				return f.PartLabel != "" && f.PartLabel == value
			}
		})
	}
	if vg, lv, ok := lvDevice(spec); ok {
		return l.match(spec, func(f *Filesystem) bool { return f.VG == vg && f.LV == lv })
	}
	if f, why, ok := l.resolveDMUUID(spec); ok {
		return f, why
	}
	disk, num := 0, ""
	if m := devLetterRe.FindStringSubmatch(spec); m != nil {
		disk, num = int(m[1][0]-'a'), m[2]
	} else if m := devPRe.FindStringSubmatch(spec); m != nil {
		k := m[1] + m[2]
		var err error
		if disk, err = strconv.Atoi(k); err != nil || len(k) > 3 {
			return nil, "bad disk number in " + strconv.Quote(spec)
		}
		num = m[3]
	} else {
		return nil, "imgprep cannot resolve " + strconv.Quote(spec) + " on a disk image"
	}
	ndisks := max(len(l.disks), 1)
	if disk >= ndisks {
		if ndisks == 1 {
			return nil, spec + " is on another disk than this one (name every disk of the VM)"
		}
		return nil, fmt.Sprintf("%s is on disk %d, and only %d disks were given", spec, disk+1, ndisks)
	}
	n := 0
	if num != "" {
		var err error
		if n, err = strconv.Atoi(num); err != nil || n <= 0 {
			return nil, "bad partition number in " + strconv.Quote(spec)
		}
	}
	table := l.Table
	if disk < len(l.disks) {
		table = l.disks[disk]
	}
	if n == 0 && table != nil && table.Kind != "none" {
		return nil, spec + " is the whole disk, which has a partition table"
	}
	return l.match(spec, func(f *Filesystem) bool { return f.LV == "" && f.Disk == disk && f.Partition == n })
}

// match returns the one filesystem with ok(f), or why there is not one.
func (l *Layout) match(what string, ok func(*Filesystem) bool) (*Filesystem, string) {
	var found []*Filesystem
	for _, f := range l.Filesystems {
		if ok(f) {
			found = append(found, f)
		}
	}
	switch len(found) {
	case 0:
		return nil, "no filesystem " + l.where() + " matches " + what
	case 1:
		return found[0], ""
	}
	return nil, fmt.Sprintf("%d filesystems %s match %s", len(found), l.where(), what)
}
