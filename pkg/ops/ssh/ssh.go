package ssh

import "github.com/imgprep/imgprep/pkg/ops/internal/pathop"

// HostKeyGlob matches the SSH host keys; sshd regenerates them (differently)
// on the clone's first boot.
const HostKeyGlob = "/etc/ssh/*_host_*"

// HostKeys returns the ssh-hostkeys operation.
func HostKeys() *pathop.Op {
	return pathop.New(pathop.Spec{
		Name: "ssh-hostkeys", Description: "Remove the SSH host keys in the guest", Default: true,
		Rules: pathop.Globs(pathop.RemoveNonDir, HostKeyGlob),
	})
}

// UserDir returns the ssh-userdir operation: every user's ~/.ssh, with
// authorized_keys, known_hosts and private keys.
func UserDir() *pathop.Op {
	return pathop.New(pathop.Spec{
		Name: "ssh-userdir", Description: `Remove ".ssh" directories in the guest`, Default: true,
		Rules: pathop.Globs(pathop.RemoveAll, "/home/*/.ssh", "/root/.ssh"),
	})
}
