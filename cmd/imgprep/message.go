package main

import "strings"

// internalPackages are the names of imgprep's packages, with which their
// sentinel errors begin ("storage: ...", "catalog: ..."): right for a
// program that tests them with errors.Is, noise for a user, who gets the
// message without them (userMessage). TestInternalPackagesAreListed keeps
// the list whole.
var internalPackages = []string{
	"accounts", "audit", "backupfiles", "batch", "btrfs", "catalog", "clone", "cloudinit", "conformance",
	"cronspool", "customize", "ext4", "flagreconf", "fs", "fsuuids", "guest", "image", "jbd2",
	"libvirt", "lvm", "lvmuuids", "machineid", "memfile", "memfs", "netdata", "network", "ops",
	"pacct", "partition", "pathop", "pathops", "proxmox", "qcow2", "shacrypt", "shard", "storage",
	"sysprep", "txn", "vfat", "xfs",
}

// userMessage drops the internal package prefixes from an error's text:
// "PKG: " at its start or after ": ", "(", "; " or a line break.
func userMessage(msg string) string {
	var b strings.Builder
	atStart := true
	for i := 0; i < len(msg); {
		if atStart {
			if n := packagePrefix(msg[i:]); n > 0 {
				i += n
				continue
			}
		}
		c := msg[i]
		b.WriteByte(c)
		i++
		// the indent of a line keeps its start
		indent := atStart && c == ' ' && i >= 2 && (msg[i-2] == '\n' || msg[i-2] == ' ')
		atStart = indent || c == '(' || c == '\n' || (c == ' ' && i >= 2 && (msg[i-2] == ':' || msg[i-2] == ';'))
	}
	return b.String()
}

// packagePrefix is the length of "PKG: " at the start of s, or 0.
func packagePrefix(s string) int {
	name, _, ok := strings.Cut(s, ": ")
	if !ok {
		return 0
	}
	for _, p := range internalPackages {
		if name == p {
			return len(name) + 2
		}
	}
	return 0
}
