package randomseed

import "github.com/imgprep/imgprep/pkg/ops/internal/pathop"

// Paths are the files the operation removes.
var Paths = []string{
	"/var/lib/systemd/random-seed",
	"/var/lib/systemd/credential.secret",
	"/boot/efi/loader/random-seed",
	"/efi/loader/random-seed",
	"/boot/loader/random-seed",
}

// New returns the random-seed operation.
func New() *pathop.Op {
	return pathop.New(pathop.Spec{
		Name:        "random-seed",
		Description: "Remove systemd's random seeds (also the ESP's) and credential.secret",
		Default:     true,
		Rules:       pathop.Globs(pathop.RemoveNonDir, Paths...),
	})
}
