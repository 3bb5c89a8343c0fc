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

// Kernel names of the first disk's partitions. On a one-disk image only
// the first disk (sda, vda, xvda, hda, nvme0n1, mmcblk0) is unambiguous.
var (
	devLetterRe = regexp.MustCompile(`^/dev/(?:sd|vd|xvd|hd)a([0-9]*)$`)
	devPRe      = regexp.MustCompile(`^/dev/(?:nvme0n1|mmcblk0)(?:p([0-9]+))?$`)
)

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
	num := ""
	if m := devLetterRe.FindStringSubmatch(spec); m != nil {
		num = m[1]
	} else if m := devPRe.FindStringSubmatch(spec); m != nil {
		num = m[1]
	} else {
		return nil, "imgprep cannot resolve " + strconv.Quote(spec) + " on a single disk image"
	}
	n := 0
	if num != "" {
		var err error
		if n, err = strconv.Atoi(num); err != nil || n <= 0 {
			return nil, "bad partition number in " + strconv.Quote(spec)
		}
	}
	if n == 0 && l.Table != nil && l.Table.Kind != "none" {
		return nil, spec + " is the whole disk, which has a partition table"
	}
	return l.match(spec, func(f *Filesystem) bool { return f.Partition == n })
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
		return nil, "no filesystem on this disk matches " + what
	case 1:
		return found[0], ""
	}
	return nil, fmt.Sprintf("%d filesystems on this disk match %s", len(found), what)
}
